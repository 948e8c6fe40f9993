"""An untrained tiny training checkpoint (weights + the ``querytrack`` inference entry), for inference tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from querytrack.modeling import build_querytrack

TINY_MODEL: dict[str, Any] = {
    "_target_": "querytrack.modeling.build_querytrack",
    "backbone": "r18",
    "pretrained": False,
    "num_classes": 3,
    "num_queries": 8,
    "num_stages": 1,
    "hidden_dim": 32,
    "ffn_dim": 64,
    "dynamic_dim": 8,
    "embed_dim": 16,
    "frozen_stages": -1,
    "norm_eval": False,
}


def make_tiny_ckpt(path: Path, **model: Any) -> Path:
    """Save a seeded untrained tiny checkpoint at ``path`` (``model`` overrides ``TINY_MODEL`` entries).

    Its spec: 3 classes (category ids 4, 5, 6), every candidate tracked (thresholds 0), test size 64 / 96, top 3.
    """
    torch.manual_seed(0)
    spec_model = {**TINY_MODEL, **model}
    net = build_querytrack(**{k: v for k, v in spec_model.items() if k != "_target_"})
    spec = {
        "model": spec_model,
        "class_names": ["a", "b", "c"],
        "category_ids": [4, 5, 6],
        "tracker": {"new_track_score_threshold": 0.0, "det_score_threshold": 0.0},
        "test_short_size": 64,
        "test_max_size": 96,
        "top_k": 3,
    }
    torch.save(
        {"state_dict": {f"model.{k}": v for k, v in net.state_dict().items()}, "querytrack": spec}, path
    )
    return path
