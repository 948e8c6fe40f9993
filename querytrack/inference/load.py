"""Rebuild a trained QueryTrack for inference from one of our checkpoints (no training config needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from torch import nn
from torchvision.transforms import v2

from querytrack.checkpoints.lightning import load_lightning_checkpoint
from querytrack.core.errors import UserError
from querytrack.inference.stream import inference_resize
from querytrack.inference.tracker import Tracker

#: Model arguments of checkpoints written before issue 26: CPU-inference switches that never changed a weight.
RETIRED_MODEL_ARGS = ("cpu_packed_linear", "cpu_channels_last")


def current_model_args(model: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's model arguments as today's builder takes them: retired switches dropped, the retired
    ``roi_kernel: auto`` read as the default kernel (torchvision's)."""
    out = {k: v for k, v in model.items() if k not in RETIRED_MODEL_ARGS}
    if out.get("roi_kernel") == "auto":
        out["roi_kernel"] = "torchvision"
    return out


class CheckpointError(UserError, ValueError):
    """A checkpoint file is missing, unreadable, or not one of our training checkpoints."""


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
        CheckpointError: the file is missing, a folder, not a torch file (garbage, truncated), or not one of our
            training checkpoints (no ``"querytrack"`` entry, or one that does not build the stored weights).
    """
    p = Path(path)
    if not p.exists():
        raise CheckpointError(p, "checkpoint not found")
    if p.is_dir():
        raise CheckpointError(p, "is a folder, expected a checkpoint file")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except (
        Exception
    ) as e:  # torch raises many types for a damaged file (RuntimeError, UnpicklingError, EOFError, ...)
        reason = " ".join(str(e).split())[:200]
        raise CheckpointError(
            p, f"cannot read the checkpoint (truncated or not a torch file?): {reason}"
        ) from None
    spec: dict[str, Any] | None = ckpt.get("querytrack") if isinstance(ckpt, dict) else None
    if spec is None:
        raise CheckpointError(
            p,
            "not a querytrack training checkpoint (no 'querytrack' entry with the model arguments); "
            "use querytrack.checkpoints.load_lightning_checkpoint with a model you build yourself",
        )
    target = spec.get("model", {}).get("_target_") if isinstance(spec.get("model"), dict) else None
    if not (isinstance(target, str) and target.startswith("querytrack.")):
        raise CheckpointError(p, f"its 'querytrack' entry names no querytrack model builder (got {target!r})")
    try:
        model = instantiate(current_model_args(spec["model"]))
        load_lightning_checkpoint(model, ckpt, verbose=False)
        tracker_kwargs = {k: v for k, v in spec.get("tracker", {}).items() if k != "_target_"}
        bundle = InferenceBundle(
            model=model,
            class_names=list(spec["class_names"]),
            category_ids=list(spec["category_ids"]),
            tracker=Tracker(**tracker_kwargs),
            resize=inference_resize(spec["test_short_size"], spec["test_max_size"]),
            top_k=int(spec.get("top_k", 10)),
        )
    except (
        Exception
    ) as e:  # a damaged or foreign 'querytrack' entry: missing keys, wrong types, other weights
        reason = " ".join(f"{type(e).__name__}: {e}".split())[:200]
        raise CheckpointError(p, f"its 'querytrack' entry does not rebuild the model ({reason})") from None
    if len(bundle.class_names) != len(bundle.category_ids):
        raise CheckpointError(p, "its 'querytrack' entry lists different numbers of class names and ids")
    bundle.model.to(device).eval()
    return bundle
