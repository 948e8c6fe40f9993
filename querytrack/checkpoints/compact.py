"""Compact detector checkpoints: int8 weights with per-output-channel scales, small enough to ship in the repository.

The shipped synthetic init (``querytrack/assets/synthetic_pretrain.pt``) is a detector state dict written by
:func:`save_compact`: every float tensor with at least 2 dimensions and 4096 elements (convolution and linear
weights) is stored as int8 with one fp32 scale per output channel (symmetric, ``scale = max|w| / 127``, so the
error per weight is at most ``scale / 2``, ≤ 0.4 % of the row's largest weight); every other float tensor (biases,
norms, BatchNorm statistics, the learned proposals) stays fp32. The 22 M-parameter small detector takes ~22 MB
instead of 88 MB. :func:`load_compact` returns the dequantised fp32 state dict; what a fine-tuning run starts from
is exactly that, and the checkpoint's own figures (its provenance) are measured on it.

CLI::

    python -m querytrack.checkpoints.compact outputs/pretrain/<run>/checkpoints/last.ckpt --out detector.pt
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from querytrack.checkpoints.report import LoadReport, load_mapped

FORMAT = "querytrack-compact-v1"
#: ``init_checkpoint`` values of this form name a checkpoint shipped inside the package (``querytrack/assets``).
BUILTIN_PREFIX = "builtin:"
ASSETS = Path(__file__).resolve().parents[1] / "assets"
_MIN_QUANTIZED_NUMEL = 4096


def resolve_checkpoint_path(path: str | os.PathLike[str]) -> Path:
    """``builtin:NAME`` → ``querytrack/assets/NAME.pt``; any other value is returned as a ``Path``."""
    text = str(path)
    if text.startswith(BUILTIN_PREFIX):
        return ASSETS / f"{text[len(BUILTIN_PREFIX) :]}.pt"
    return Path(text)


def quantize(w: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-output-channel int8: ``w ≈ q · scale[:, None, ...]``.

    Args:
        w: float ``Tensor[C_out, ...]``.

    Returns:
        ``q`` int8 of ``w``'s shape and ``scale`` fp32 ``Tensor[C_out]`` (1 for all-zero rows).
    """
    flat = w.detach().float().reshape(w.shape[0], -1)
    scale = flat.abs().amax(dim=1) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(flat / scale[:, None]).clamp(-127, 127).to(torch.int8)
    return q.reshape(w.shape), scale


def dequantize(q: Tensor, scale: Tensor) -> Tensor:
    """Inverse of :func:`quantize` (fp32)."""
    return (q.float().reshape(q.shape[0], -1) * scale[:, None]).reshape(q.shape)


def _quantizable(t: Tensor) -> bool:
    return t.is_floating_point() and t.dim() >= 2 and t.numel() >= _MIN_QUANTIZED_NUMEL


def save_compact(
    state_dict: Mapping[str, Tensor], path: str | os.PathLike[str], meta: dict[str, Any]
) -> None:
    """Write ``state_dict`` in the compact format (atomically: a temporary file renamed into place).

    Args:
        state_dict: detector state dict (``QueryInstDetector`` keys).
        path: output file.
        meta: provenance (command, git SHA, seed, figures, model arguments); stored as is.
    """
    tensors: dict[str, Tensor] = {}
    scales: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if _quantizable(value):
            tensors[key], scales[key] = quantize(value)
        elif value.is_floating_point():
            tensors[key] = value.detach().float().clone()
        else:
            tensors[key] = value.detach().clone()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        torch.save({"format": FORMAT, "tensors": tensors, "scales": scales, "meta": meta}, tmp)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


class NotCompactError(ValueError):
    """The file is readable but is not a compact checkpoint (e.g. an mmdetection checkpoint)."""


def load_compact(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a compact checkpoint.

    Returns:
        The dequantised fp32 state dict and the stored ``meta``.

    Raises:
        NotCompactError: the file is not a compact checkpoint (other formats may need pickle, which the
            weights-only read refuses: that is reported the same way).
        OSError: the file cannot be read.
    """
    file = resolve_checkpoint_path(path)
    try:
        obj = torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise NotCompactError(f"{file}: not a {FORMAT} checkpoint ({e})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise NotCompactError(f"{file}: not a {FORMAT} checkpoint")
    scales: dict[str, Tensor] = obj["scales"]
    state = {k: dequantize(v, scales[k]) if k in scales else v for k, v in obj["tensors"].items()}
    return state, dict(obj.get("meta") or {})


def load_compact_into(model: nn.Module, path: str | os.PathLike[str], verbose: bool = True) -> LoadReport:
    """Load a compact detector checkpoint into ``model`` (a detector, or a module with ``.detector``).

    Non-strict and shape-checked: keys the checkpoint lacks (e.g. the track heads of a detection-only
    pretraining) keep their initialisation and are listed as missing in the report.
    """
    state, meta = load_compact(path)
    detector = getattr(model, "detector", model)
    report = load_mapped(detector, state)
    if verbose:
        print(f"init checkpoint {resolve_checkpoint_path(path)} ({meta.get('description', FORMAT)})")
        print(report.summary())
    return report


def detector_state_from_lightning(checkpoint: Mapping[str, Any]) -> dict[str, Tensor]:
    """The ``model.detector.*`` entries of a Lightning checkpoint, with that prefix removed."""
    prefix = "model.detector."
    state = {k[len(prefix) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(prefix)}
    if not state:
        raise ValueError(
            "no 'model.detector.*' weights in the checkpoint (not a querytrack training checkpoint)"
        )
    return state


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Write the detector of a training checkpoint as a compact checkpoint."
    )
    p.add_argument("checkpoint", help="a Lightning checkpoint written by python -m querytrack.run")
    p.add_argument("--out", required=True, help="output file (.pt)")
    p.add_argument("--description", default="", help="one line stored in the metadata")
    p.add_argument("--command", default="", help="the command that trained the checkpoint (provenance)")
    p.add_argument("--git-sha", default="", help="the commit that trained it (provenance)")
    args = p.parse_args(argv)
    src, out = Path(args.checkpoint), Path(args.out)
    if out.exists() and src.exists() and out.resolve() == src.resolve():
        print(f"querytrack-compact: {out}: the output would overwrite the input", file=sys.stderr)
        return 2
    try:
        ckpt = torch.load(src, map_location="cpu", weights_only=False)
        state = detector_state_from_lightning(ckpt)
    except (OSError, RuntimeError, ValueError, KeyError, EOFError, pickle.UnpicklingError) as e:
        print(f"querytrack-compact: {src}: {e}", file=sys.stderr)
        return 2
    spec = ckpt.get("querytrack") or {}
    meta = {
        "description": args.description,
        "command": args.command,
        "git_sha": args.git_sha,
        "source": src.name,
        "global_step": ckpt.get("global_step"),
        "epoch": ckpt.get("epoch"),
        "model": spec.get("model"),
        "class_names": spec.get("class_names"),
    }
    save_compact(state, out, meta)
    n = sum(v.numel() for v in state.values())
    print(f"{out}: {n / 1e6:.2f} M values, {out.stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
