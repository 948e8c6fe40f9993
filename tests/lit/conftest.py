"""Compose the real Hydra configs (``conf/train.yaml``) for tests, shrunk with ``debug=tiny``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from querytrack.core.config_path import config_dir

CONF = config_dir()


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """``make_cfg(*overrides)`` → the composed train config, outputs and cache under ``tmp_path``."""

    def make(*overrides: str) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            cfg = compose(
                config_name="train",
                overrides=[
                    "debug=tiny",
                    f"data.root={tmp_path / 'cache'}",
                    f"output_dir={tmp_path / 'run'}",
                    *overrides,
                ],
            )
        return cfg

    yield make
    GlobalHydra.instance().clear()


@pytest.fixture
def make_loss_nan(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """``make_loss_nan()`` makes every later ``QueryTrack.loss`` return a NaN total (undone after the test)."""
    from querytrack.modeling.querytrack import QueryTrack

    real_loss = QueryTrack.loss

    def nan_loss(self, pair):  # type: ignore[no-untyped-def]
        losses = real_loss(self, pair)
        losses["loss"] = losses["loss"] * float("nan")
        return losses

    def apply() -> None:
        monkeypatch.setattr(QueryTrack, "loss", nan_loss)

    return apply
