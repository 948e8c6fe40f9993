"""RoIAlign as one weighted gather over channels-last features (the CPU kernel of ``MultiLevelRoIAlign``).

torchvision's CPU ``roi_align`` walks channel by channel on one thread: each of its bilinear samples reads one
float per channel, ``H·W`` floats apart. Here the same sum is one ``embedding_bag`` call: the feature map is read
as a table of ``B·H·W`` rows of ``C`` channels (a view when the map is channels-last), every output bin is one
bag of ``sr² · 4`` rows (its bilinear samples' four corners) with their weights, and PyTorch sums each bag with
vector loads over the channels, on every intra-op thread. R50 at 360p, 100 box rois on P2: 24 → 1.6 ms.

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


def _axis_samples(start: Tensor, length: Tensor, bins: int, sr: int, size: int) -> tuple[Tensor, Tensor]:
    """Bilinear taps of every sample along one axis.

    Args:
        start: ``Tensor[m]`` roi start in feature pixels (after the half-pixel offset).
        length: ``Tensor[m]`` roi extent in feature pixels.
        bins: output bins S.
        sr: samples per bin.
        size: feature extent along this axis.

    Returns:
        ``index [m, S, sr, 2]`` int64 (low, high tap) and ``weight [m, S, sr, 2]`` fp32 (0 for samples outside
        ``[-1, size]``).
    """
    dev = start.device
    p = torch.arange(bins, device=dev, dtype=torch.float32)[:, None]
    k = torch.arange(sr, device=dev, dtype=torch.float32)[None, :]
    step = (length / bins)[:, None, None]
    c = start[:, None, None] + p * step + (k + 0.5) * step / sr  # [m, S, sr], torchvision's order
    inside = ((c >= -1.0) & (c <= size)).float()
    c = c.clamp(min=0.0)
    low = c.floor().long()
    at_end = low >= size - 1
    low = low.clamp(max=size - 1)
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
    if sampling_ratio <= 0:
        raise ValueError("roi_align_gather needs a fixed sampling_ratio > 0")
    b, c, h, w = feat.shape
    m, s, sr = rois.shape[0], output_size, sampling_ratio
    table = feat.permute(0, 2, 3, 1).reshape(b * h * w, c)  # a view for channels-last maps
    offset = 0.5 if aligned else 0.0
    x0 = rois[:, 1] * spatial_scale - offset
    y0 = rois[:, 2] * spatial_scale - offset
    rw = rois[:, 3] * spatial_scale - offset - x0
    rh = rois[:, 4] * spatial_scale - offset - y0
    if not aligned:  # torchvision forces a minimum extent of one pixel without the offset
        rw, rh = rw.clamp(min=1.0), rh.clamp(min=1.0)
    xi, xw = _axis_samples(x0, rw, s, sr, w)
    yi, yw = _axis_samples(y0, rh, s, sr, h)
    rows = yi * w + (rois[:, 0].long() * (h * w))[:, None, None, None]  # [m, S, sr, 2]
    # bag (roi, bin y, bin x) gathers (sample y, tap y, sample x, tap x): dims m, Sy, Sx, sry, 2, srx, 2
    index = rows[:, :, None, :, :, None, None] + xi[:, None, :, None, None, :, :]
    weight = yw[:, :, None, :, :, None, None] * xw[:, None, :, None, None, :, :] / (sr * sr)
    out = F.embedding_bag(
        index.reshape(m * s * s, -1), table, per_sample_weights=weight.reshape(m * s * s, -1), mode="sum"
    )
    return out.view(m, s, s, c).permute(0, 3, 1, 2)


def channels_last(feats: list[Tensor]) -> list[Tensor]:
    """Feature maps in channels-last memory (no copy for maps already in it)."""
    return [f.contiguous(memory_format=torch.channels_last) for f in feats]
