"""The model sizes the benchmarks measure, read from the project's own configs (so they cannot drift apart)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

SMALL_YAML = Path(__file__).resolve().parents[1] / "conf" / "model" / "small.yaml"


def small_model() -> dict[str, Any]:
    """``make run``'s model (``conf/model/small.yaml`` + ``backbone=r18``) as ``build_querytrack`` arguments."""
    small = OmegaConf.load(SMALL_YAML)
    keys = ("num_queries", "num_stages", "hidden_dim", "ffn_dim", "dynamic_dim", "embed_dim", "mask_channels")
    return {"backbone": "r18", **{k: small[k] for k in keys}}
