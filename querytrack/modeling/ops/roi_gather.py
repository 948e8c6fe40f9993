"""RoIAlign as one weighted gather over channels-last features (``MultiLevelRoIAlign(kernel="gather")``, opt-in).

torchvision's CPU ``roi_align`` walks channel by channel on one thread: each of its bilinear samples reads one
float per channel, ``H·W`` floats apart. Here the same sum is one ``embedding_bag`` call: the feature map is read
as a table of ``B·H·W`` rows of ``C`` channels (a view when the map is channels-last), every output bin is one
bag of ``sr² · 4`` rows (its bilinear samples' four corners) with their weights, and PyTorch sums each bag with
vector loads over the channels, on every intra-op thread (timings: ``docs/benchmarks.md``).

The samples, their clamping and their weights are torchvision's (``roi_align_kernel.cpp``,
``bilinear_interpolate``): per axis, sample ``k`` of bin ``p`` lies at ``start + p·bin + (k + ½)·bin / sr``
(``start = x1 · scale - ½`` when ``aligned``); a sample beyond ``[-1, size]`` adds 0 (still counted in the
mean), one in ``[-1, 0]`` is read at 0, one at or past ``size - 1`` at ``size - 1``. The mean's ``1 / sr²`` goes
into the weights instead of one division after the sum, so values differ from torchvision's by float rounding
only (≤ 3e-7 relative in the tests). Autograd flows to the features through ``embedding_bag``'s backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _axis_samples(start: Tensor, length: Tensor, bins: int, sr: int, size: Tensor) -> tuple[Tensor, Tensor]:
    """Bilinear taps of every sample along one axis.

    Args:
        start: ``Tensor[m]`` roi start in feature pixels (after the half-pixel offset).
        length: ``Tensor[m]`` roi extent in feature pixels.
        bins: output bins S.
        sr: samples per bin.
        size: ``Tensor[m]`` int64 feature extent along this axis (each roi's level).

    Returns:
        ``index [m, S, sr, 2]`` int64 (low, high tap) and ``weight [m, S, sr, 2]`` fp32 (0 for samples outside
        ``[-1, size]``).
    """
    dev = start.device
    size = size[:, None, None]
    p = torch.arange(bins, device=dev, dtype=torch.float32)[:, None]
    k = torch.arange(sr, device=dev, dtype=torch.float32)[None, :]
    step = (length / bins)[:, None, None]
    c = start[:, None, None] + p * step + (k + 0.5) * step / sr  # [m, S, sr], torchvision's order
    inside = ((c >= -1.0) & (c <= size)).float()
    c = c.clamp(min=0.0)
    low = c.floor().long()
    at_end = low >= size - 1
    low = torch.minimum(low, size - 1)
    high = torch.where(at_end, low, low + 1)
    frac = torch.where(at_end, torch.zeros_like(c), c - low.float())
    index = torch.stack([low, high], dim=-1)
    weight = torch.stack([(1.0 - frac) * inside, frac * inside], dim=-1)
    return index, weight


def roi_align_gather(
    feat: Tensor,
    rois: Tensor,
    output_size: int,
    spatial_scale: float,
    sampling_ratio: int,
    aligned: bool = True,
) -> Tensor:
    """``torchvision.ops.roi_align`` (fixed ``sampling_ratio > 0``) by one weighted gather.

    Args:
        feat: ``Tensor[B, C, H, W]`` fp32 (channels-last memory avoids a copy of the map).
        rois: ``Tensor[m, 5]`` ``(batch_index, x1, y1, x2, y2)`` in image coordinates, m > 0.
        output_size: S.
        spatial_scale: feature pixels per image pixel (1 / stride).
        sampling_ratio: samples per bin side (> 0).
        aligned: half-pixel offset (mmcv / detectron2 ``aligned=True``).

    Returns:
        ``Tensor[m, C, S, S]`` in channels-last memory (``permute(0, 2, 3, 1)`` is contiguous).
    """
    levels = torch.zeros(rois.shape[0], dtype=torch.int64, device=rois.device)
    return roi_align_gather_levels(
        [feat], rois, levels, output_size, [spatial_scale], sampling_ratio, aligned
    )


def roi_align_gather_levels(
    feats: list[Tensor],
    rois: Tensor,
    levels: Tensor,
    output_size: int,
    spatial_scales: list[float],
    sampling_ratio: int,
    aligned: bool = True,
) -> Tensor:
    """RoIAlign of each roi from its own pyramid level: the samples of all rois in one pass, one gather per level.

    The taps and weights are computed once for all rois (each with its level's scale and size), in level order,
    so each level's bags are one contiguous slice for its ``embedding_bag``; the patches are then put back in roi
    order. The values are those of :func:`roi_align_gather` on each level's rois (the same bags, summed in the
    same order), with a handful of tensor ops per call instead of a handful per level. One host sync: the number
    of rois per level.

    Args:
        feats: ``Tensor[B, C, H_l, W_l]`` fp32 per level (channels-last memory avoids a copy of each map).
        rois: ``Tensor[m, 5]`` ``(batch_index, x1, y1, x2, y2)`` in image coordinates, m > 0.
        levels: ``Tensor[m]`` int64 level of each roi.
        output_size: S.
        spatial_scales: feature pixels per image pixel of each level (1 / stride).
        sampling_ratio: samples per bin side (> 0).
        aligned: half-pixel offset (mmcv / detectron2 ``aligned=True``).

    Returns:
        ``Tensor[m, C, S, S]`` in channels-last memory (``permute(0, 2, 3, 1)`` is contiguous).
    """
    if sampling_ratio <= 0:
        raise ValueError("roi_align_gather needs a fixed sampling_ratio > 0")
    m, s, sr, c = rois.shape[0], output_size, sampling_ratio, feats[0].shape[1]
    order = torch.argsort(levels, stable=True)
    counts = torch.bincount(levels, minlength=len(feats)).tolist()
    lv, r = levels[order], rois[order]
    dev = rois.device
    scale = torch.tensor(spatial_scales, dtype=torch.float32, device=dev)[lv]
    hw = torch.tensor([f.shape[-2:] for f in feats], dtype=torch.int64, device=dev)[lv]  # [m, 2]
    offset = 0.5 if aligned else 0.0
    x0 = r[:, 1] * scale - offset
    y0 = r[:, 2] * scale - offset
    rw = r[:, 3] * scale - offset - x0
    rh = r[:, 4] * scale - offset - y0
    if not aligned:  # torchvision forces a minimum extent of one pixel without the offset
        rw, rh = rw.clamp(min=1.0), rh.clamp(min=1.0)
    h, w = hw[:, 0], hw[:, 1]
    xi, xw = _axis_samples(x0, rw, s, sr, w)
    yi, yw = _axis_samples(y0, rh, s, sr, h)
    rows = yi * w[:, None, None, None] + (r[:, 0].long() * h * w)[:, None, None, None]  # [m, S, sr, 2]
    # bag (roi, bin y, bin x) gathers (sample y, tap y, sample x, tap x): dims m, Sy, Sx, sry, 2, srx, 2
    index = (rows[:, :, None, :, :, None, None] + xi[:, None, :, None, None, :, :]).reshape(m * s * s, -1)
    weight = (yw[:, :, None, :, :, None, None] * xw[:, None, :, None, None, :, :] / (sr * sr)).reshape(
        m * s * s, -1
    )
    parts, start = [], 0
    for feat, n in zip(feats, counts, strict=True):
        if n == 0:
            continue
        table = feat.permute(0, 2, 3, 1).reshape(-1, c)  # a view for channels-last maps
        bags = slice(start * s * s, (start + n) * s * s)
        parts.append(F.embedding_bag(index[bags], table, per_sample_weights=weight[bags], mode="sum"))
        start += n
    pooled = (parts[0] if len(parts) == 1 else torch.cat(parts)).view(m, s * s * c)
    pooled = pooled.index_select(0, torch.argsort(order))  # back to roi order
    return pooled.view(m, s, s, c).permute(0, 3, 1, 2)


def channels_last(feats: list[Tensor]) -> list[Tensor]:
    """Feature maps in channels-last memory (no copy for maps already in it)."""
    return [f.contiguous(memory_format=torch.channels_last) for f in feats]
