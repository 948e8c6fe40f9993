"""Import of mmdetection QueryInst checkpoints (2.x as released by hustvl/QueryInst / mmdet v2.0 files, and 3.x).

Both generations use the same parameter names (docs/method.md §6.1: the 3.x metafile still points to the v2.0
files), so one rename table serves both. Our detector keeps mmdet's names inside the heads, hence the mapping is
prefix renames:

=====================================  ==========================================
mmdet                                  querytrack ``QueryInstDetector``
=====================================  ==========================================
``backbone.*`` (ResNet/ResNeXt)        ``backbone.body.*`` (timm ResNet, same names)
``backbone.*`` (Swin)                  ``backbone.body.layers_*`` / ``backbone.out_norms.*`` (``checkpoints.swin``)
``neck.lateral_convs.{i}.conv.*``      ``neck.fpn.inner_blocks.{i}.0.*``
``neck.fpn_convs.{i}.conv.*``          ``neck.fpn.layer_blocks.{i}.0.*``
``rpn_head.*``                         ``proposals.*``
``roi_head.bbox_head.{t}.*``           ``stages.{t}.bbox_head.*``
``roi_head.mask_head.{t}.*``           ``stages.{t}.mask_head.*``
=====================================  ==========================================

Track heads (``stages.{t}.track_head.*``) have no counterpart and stay freshly initialised; they are listed as
missing in the report. Swin backbones (mmdetection's naming or the original one QueryInst ships) are renamed, and
mmdetection's patch-merging weights reordered, by :mod:`querytrack.checkpoints.swin`.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

from querytrack.checkpoints.report import LoadReport, load_mapped
from querytrack.checkpoints.swin import is_skipped_swin_buffer, swin_key_to_ours
from querytrack.core.errors import UserError

_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^backbone\.(.*)$"), r"backbone.body.\1"),
    (re.compile(r"^neck\.lateral_convs\.(\d+)\.conv\.(.*)$"), r"neck.fpn.inner_blocks.\1.0.\2"),
    (re.compile(r"^neck\.fpn_convs\.(\d+)\.conv\.(.*)$"), r"neck.fpn.layer_blocks.\1.0.\2"),
    (re.compile(r"^rpn_head\.(.*)$"), r"proposals.\1"),
    (re.compile(r"^roi_head\.bbox_head\.(\d+)\.(.*)$"), r"stages.\1.bbox_head.\2"),
    (re.compile(r"^roi_head\.mask_head\.(\d+)\.(.*)$"), r"stages.\1.mask_head.\2"),
]

# Wrappers that may prefix every key (DDP ``module.``; mmengine EMA ``ema_model.module.`` is not handled).
_WRAPPER_PREFIXES = ("module.",)
# Keys that carry no weights of ours (3.x data preprocessor buffers if ever persisted).
_IGNORED = re.compile(r"^(data_preprocessor\.)")


class CheckpointReadError(UserError, ValueError):
    """An init checkpoint file that ``torch.load`` cannot read (truncated, not a checkpoint, needs pickle)."""


def mmdet_key_to_ours(key: str) -> str | None:
    """Our detector key for an mmdet QueryInst key, or ``None`` if it has no counterpart."""
    if (swin := swin_key_to_ours(key)) is not None:
        return swin[0]
    for pat, repl in _RULES:
        if pat.match(key):
            return pat.sub(repl, key)
    return None


def convert_mmdet_state_dict(
    state_dict: Mapping[str, Tensor],
) -> tuple[dict[str, Tensor], dict[str, str], list[str]]:
    """Rename an mmdet QueryInst state dict to our detector's names.

    Args:
        state_dict: mmdet ``state_dict`` (the ``"state_dict"`` entry of the checkpoint file).

    Returns:
        converted: ``{our_key: tensor}``.
        sources: ``{our_key: mmdet_key}``.
        unexpected: mmdet keys with no counterpart (ignored data-preprocessor keys and the Swin buffers timm
            recomputes excluded).
    """
    converted: dict[str, Tensor] = {}
    sources: dict[str, str] = {}
    unexpected: list[str] = []
    for key, value in state_dict.items():
        k = key
        for p in _WRAPPER_PREFIXES:
            if k.startswith(p):
                k = k[len(p) :]
        if _IGNORED.match(k) or is_skipped_swin_buffer(k):
            continue
        ours: str | None
        swin = swin_key_to_ours(k)
        if swin is not None:  # Swin backbone: renamed, patch-merging weights possibly reordered
            ours, transform = swin
            value = transform(value) if transform is not None else value
        else:
            ours = mmdet_key_to_ours(k)
        if ours is None:
            unexpected.append(key)
            continue
        converted[ours] = value
        sources[ours] = key
    return converted, sources, unexpected


def _read_state_dict(source: str | Path | Mapping[str, object], weights_only: bool) -> Mapping[str, Tensor]:
    if isinstance(source, str | Path):
        try:
            ckpt = torch.load(source, map_location="cpu", weights_only=weights_only)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointReadError(source, f"not a readable PyTorch checkpoint ({first})") from e
    else:
        ckpt = source
    sd = ckpt.get("state_dict", ckpt) if isinstance(ckpt, Mapping) else ckpt
    if not isinstance(sd, Mapping):
        raise TypeError(f"expected a state dict mapping, got {type(sd).__name__}")
    return sd  # type: ignore[return-value]


def _detector_of(model: nn.Module) -> nn.Module:
    """The ``QueryInstDetector`` inside ``model`` (a ``QueryTrack`` wrapper or the detector itself)."""
    return getattr(model, "detector", model)


_CLASS_KEYS = re.compile(r"^stages\.\d+\.(bbox_head\.fc_cls|mask_head\.conv_logits)\.(weight|bias)$")


def select_class_rows(
    converted: dict[str, Tensor], own: Mapping[str, Tensor], class_map: list[int | None]
) -> dict[str, Tensor]:
    """Re-index the class-specific rows (``fc_cls``, ``conv_logits``) of a converted state dict.

    Args:
        converted: renamed mmdet weights (``convert_mmdet_state_dict``).
        own: the target model's state dict (its rows are kept where ``class_map`` is None).
        class_map: for each of our classes, the source (e.g. COCO) class index, or None to keep our init.

    Returns:
        ``converted`` with the class-specific tensors replaced by ``len(class_map)``-row tensors.
    """
    out = dict(converted)
    for key, value in converted.items():
        if not _CLASS_KEYS.match(key) or key not in own:
            continue
        rows = own[key].clone()
        for ours, src in enumerate(class_map):
            if src is not None:
                rows[ours] = value[src]
        out[key] = rows
    return out


def load_mmdet_checkpoint(
    model: nn.Module,
    source: str | Path | Mapping[str, object],
    weights_only: bool = True,
    verbose: bool = True,
    class_map: list[int | None] | None = None,
) -> LoadReport:
    """Load an mmdetection QueryInst checkpoint into our detector (non-strict, shape-checked).

    Args:
        model: a ``QueryInstDetector`` or a module with a ``detector`` attribute (``QueryTrack``).
        source: checkpoint path, a loaded checkpoint dict, or a bare state dict.
        weights_only: passed to ``torch.load``; set False only for trusted files whose metadata needs pickle.
        verbose: print the report summary.
        class_map: optional, for each of our classes the index of the checkpoint's (COCO) class whose
            ``fc_cls`` / ``conv_logits`` rows initialise it (None: keep our init). Without it, a class-count
            mismatch leaves those layers freshly initialised.

    Returns:
        ``LoadReport`` with mapped, missing (e.g. the fresh track heads), unexpected and shape-mismatched keys
        (e.g. ``fc_cls`` / ``conv_logits`` when loading 80 COCO classes into a 40-class model; those keep
        their initialisation).
    """
    sd = _read_state_dict(source, weights_only)
    converted, sources, unexpected = convert_mmdet_state_dict(sd)
    detector = _detector_of(model)
    if class_map is not None:
        converted = select_class_rows(converted, detector.state_dict(), class_map)
    report = load_mapped(detector, converted, sources, unexpected)
    if verbose:
        print(report.summary())
    return report
