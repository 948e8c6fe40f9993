"""Compose the package's Hydra configs in a test, as the entry points would (no run)."""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from querytrack.core.config_path import config_dir


def compose_config(
    *overrides: str, config_name: str = "train", return_hydra_config: bool = False
) -> DictConfig:
    """``config_name`` (``train`` or ``eval``) composed with ``overrides``; Hydra's global state is left clear."""
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            return compose(
                config_name=config_name, overrides=list(overrides), return_hydra_config=return_hydra_config
            )
    finally:
        GlobalHydra.instance().clear()
