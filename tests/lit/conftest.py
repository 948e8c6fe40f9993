"""Compose the real Hydra configs (``conf/train.yaml``) for tests, shrunk with ``debug=tiny``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.hydra_config import compose_config


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """``make_cfg(*overrides)`` → the composed train config, outputs and cache under ``tmp_path``."""

    def make(*overrides: str) -> DictConfig:
        return compose_config(
            "debug=tiny", f"data.root={tmp_path / 'cache'}", f"output_dir={tmp_path / 'run'}", *overrides
        )

    yield make


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
