"""Loading our own (Lightning) checkpoints: a ``state_dict`` whose keys carry a wrapper prefix such as ``model.``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from querytrack.checkpoints.report import LoadReport, load_mapped


def strip_prefix(
    state_dict: Mapping[str, Tensor], model_keys: set[str], prefix: str | None = None
) -> dict[str, Tensor]:
    """Remove a key prefix so that ``state_dict`` matches ``model_keys``.

    Args:
        state_dict: source weights.
        model_keys: keys of the target model's ``state_dict``.
        prefix: the prefix to drop (keys without it are kept unchanged); ``None`` picks, among the prefixes
            ending at a ``.`` of the source keys, the one that makes the most keys match.

    Returns:
        The renamed state dict (keys that did not start with the prefix are dropped when auto-detecting).
    """
    if prefix is not None:
        return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in state_dict.items()}
    candidates = {""}
    for k in state_dict:
        parts = k.split(".")
        for i in range(1, min(len(parts), 4)):
            candidates.add(".".join(parts[:i]) + ".")
    best, best_hits = "", -1
    for c in sorted(candidates, key=len):
        hits = sum(1 for k in state_dict if k.startswith(c) and k[len(c) :] in model_keys)
        if hits > best_hits:
            best, best_hits = c, hits
    return {k[len(best) :]: v for k, v in state_dict.items() if k.startswith(best)}


def load_lightning_checkpoint(
    model: nn.Module,
    source: str | Path | Mapping[str, object],
    prefix: str | None = None,
    weights_only: bool = True,
    verbose: bool = True,
) -> LoadReport:
    """Load a Lightning checkpoint (or any state dict of ours) into ``model``, non-strict and shape-checked.

    Args:
        model: the target (``QueryTrack``, ``QueryInstDetector``, ...).
        source: ``.ckpt`` path, loaded checkpoint dict (``{"state_dict": ...}``) or a bare state dict.
        prefix: wrapper prefix to strip (e.g. ``"model."``); ``None`` detects it.
        weights_only: passed to ``torch.load``.
        verbose: print the report summary.

    Returns:
        ``LoadReport``.
    """
    ckpt = (
        torch.load(source, map_location="cpu", weights_only=weights_only)
        if isinstance(source, str | Path)
        else source
    )
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, Mapping) else ckpt
    if not isinstance(sd, Mapping):
        raise TypeError(f"expected a state dict mapping, got {type(sd).__name__}")
    renamed = strip_prefix(sd, set(model.state_dict()), prefix)
    report = load_mapped(model, renamed)
    if verbose:
        print(report.summary())
    return report
