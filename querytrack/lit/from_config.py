"""The Trainer's loggers and callbacks from a composed config (``logger`` / ``callbacks`` groups), for the
training run and the checkpoint evaluation alike."""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, LearningRateMonitor
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig


def loggers_and_callbacks(cfg: DictConfig) -> tuple[list[Logger], list[Callback]]:
    """Instantiate every non-null entry of ``cfg.logger`` and ``cfg.callbacks`` (either may be absent or empty).

    Without a logger the ``LearningRateMonitor`` is dropped: it has nothing to write into (Lightning refuses it).
    Pass ``logger=loggers or False`` to the Trainer.
    """
    loggers: list[Any] = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    callbacks: list[Any] = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    if not loggers:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    return loggers, callbacks
