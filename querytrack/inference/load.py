"""Rebuild a trained QueryTrack for inference from one of our checkpoints (no training config needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from hydra.utils import instantiate
from torch import nn
from torchvision.transforms import v2

from querytrack.checkpoints.lightning import load_lightning_checkpoint
from querytrack.inference.tracker import Tracker


@dataclass
class InferenceBundle:
    """A model ready for ``track_video`` plus what interprets its outputs.

    Attributes:
        model: the ``QueryTrack`` in eval mode.
        class_names: name per contiguous label.
        category_ids: dataset category id per contiguous label.
        tracker: a fresh tracker with the checkpoint's arguments.
        resize: the test-time resize.
        top_k: candidates per frame.
    """

    model: nn.Module
    class_names: list[str]
    category_ids: list[int]
    tracker: Tracker
    resize: v2.Transform
    top_k: int


def load_for_inference(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> InferenceBundle:
    """Load ``path`` (a checkpoint written by ``python -m querytrack.run``).

    Raises:
        ValueError: the file is not one of our training checkpoints (no ``"querytrack"`` entry).
    """
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    spec: dict[str, Any] | None = ckpt.get("querytrack") if isinstance(ckpt, dict) else None
    if spec is None:
        raise ValueError(
            f"{path}: not a querytrack training checkpoint (no 'querytrack' entry with the model arguments); "
            "use querytrack.checkpoints.load_lightning_checkpoint with a model you build yourself"
        )
    model = instantiate(spec["model"])
    load_lightning_checkpoint(model, ckpt, verbose=False)
    model.to(device).eval()
    tracker_kwargs = {k: v for k, v in spec.get("tracker", {}).items() if k != "_target_"}
    return InferenceBundle(
        model=model,
        class_names=list(spec["class_names"]),
        category_ids=list(spec["category_ids"]),
        tracker=Tracker(**tracker_kwargs),
        resize=v2.Resize(size=spec["test_short_size"], max_size=spec["test_max_size"], antialias=True),
        top_k=int(spec.get("top_k", 10)),
    )
