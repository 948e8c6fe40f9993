"""Compose the real Hydra configs (``conf/train.yaml``) for tests, shrunk with ``debug=tiny``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

CONF = Path(__file__).resolve().parents[2] / "conf"


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
