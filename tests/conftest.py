"""Shared fixtures: a tiny synthetic YouTube-VIS set generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

import querytrack.resolvers  # noqa: F401  (the configs' ${querytrack.*:} resolvers, for tests that compose)
from querytrack.data.synthetic import generate
from querytrack.data.synthetic_scene import SyntheticConfig

TINY = SyntheticConfig(
    num_train_videos=4,
    num_valid_videos=2,
    min_frames=5,
    max_frames=7,
    height=64,
    width=96,
    min_objects=2,
    max_objects=4,
    seed=1,
)


@pytest.fixture(scope="session")
def tiny_config() -> SyntheticConfig:
    return TINY


@pytest.fixture(scope="session")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny synthetic set: ``train.json``, ``valid.json``, ``train/JPEGImages``, ..."""
    out = tmp_path_factory.mktemp("synthetic")
    generate(out, TINY)
    return out
