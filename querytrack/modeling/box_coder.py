"""DeltaXYWH box decoding as configured in QueryInst.

Source of the numbers: hustvl/QueryInst ``configs/queryinst/queryinst_r50_fpn_1x_coco.py`` (``bbox_coder``: means 0,
stds 0.5, 0.5, 1, 1, ``clip_border=False``) and ``mmdet/core/bbox/coder/delta_xywh_bbox_coder.py`` (``wh_ratio_clip``
16/1000, clamping ``dw, dh`` to ``±|log(16/1000)|``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

DELTA_STDS: tuple[float, float, float, float] = (0.5, 0.5, 1.0, 1.0)
WH_CLAMP: float = abs(math.log(16.0 / 1000.0))


def decode_deltas(
    deltas: Tensor,
    boxes: Tensor,
    stds: tuple[float, float, float, float] = DELTA_STDS,
    wh_clamp: float = WH_CLAMP,
) -> Tensor:
    """Apply ``(dx, dy, dw, dh)`` deltas to reference boxes (no clipping to the image).

    Args:
        deltas: ``Tensor[..., 4]`` raw regression outputs.
        boxes: ``Tensor[..., 4]`` absolute xyxy reference boxes (same leading shape).
        stds: per-coordinate delta scale (deltas are multiplied by it; means are zero).
        wh_clamp: ``|dw|, |dh|`` are clamped to this value before ``exp``.

    Returns:
        ``Tensor[..., 4]`` absolute xyxy decoded boxes.
    """
    std = deltas.new_tensor(stds)
    d = deltas * std
    dx, dy = d[..., 0], d[..., 1]
    dw, dh = d[..., 2].clamp(-wh_clamp, wh_clamp), d[..., 3].clamp(-wh_clamp, wh_clamp)
    pw = boxes[..., 2] - boxes[..., 0]
    ph = boxes[..., 3] - boxes[..., 1]
    px = boxes[..., 0] + 0.5 * pw
    py = boxes[..., 1] + 0.5 * ph
    gx = px + pw * dx
    gy = py + ph * dy
    gw = pw * dw.exp()
    gh = ph * dh.exp()
    return torch.stack([gx - 0.5 * gw, gy - 0.5 * gh, gx + 0.5 * gw, gy + 0.5 * gh], dim=-1)
