"""Multi-level RoIAlign with QueryInst's level mapping.

QueryInst (mmdet ``SingleLevelRoIExtractor``, ``finest_scale=56``) assigns a box of scale ``s = sqrt(w h)`` to
level ``floor(log2(s / 56 + 1e-6))`` clamped to ``[0, L-1]`` of P2..P5: ``<112 → P2, 112-224 → P3, 224-448 → P4,
≥448 → P5``. torchvision's ``LevelMapper`` (canonical scale 224 at level 4, ``k_min = 2``) gives the same levels
(``floor(4 + log2(s / 224)) - 2 = floor(log2(s / 56))``, up to where the 1e-6 goes), but
``torchvision.ops.MultiScaleRoIAlign`` calls ``roi_align`` with ``aligned=False`` and infers the strides from the
feature / image shapes, whereas mmcv's RoIAlign uses ``aligned=True``. Hence this small module: QueryInst's level
formula and ``torchvision.ops.roi_align(..., aligned=True, sampling_ratio=2)`` per level.

torchvision's CPU ``roi_align`` runs on one thread. Without gradients, on CPU, this module splits the rois into
``torch.get_num_threads()`` groups pooled by concurrent calls on a small thread pool (the op releases the GIL).
Each roi's patch depends on that roi only, so the result is bit-identical to one call per level.
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align


def map_roi_levels(boxes: Tensor, num_levels: int, finest_scale: float = 56.0) -> Tensor:
    """Level index of each box (0 = finest), QueryInst/mmdet rule.

    Args:
        boxes: ``Tensor[M, 4]`` absolute xyxy.
        num_levels: number of pyramid levels.
        finest_scale: scale mapped to the boundary between level 0 and 1 divided by 2 (56).

    Returns:
        ``Tensor[M]`` int64 in ``[0, num_levels - 1]``.
    """
    scale = torch.sqrt((boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0))
    lvl = torch.floor(torch.log2(scale / finest_scale + 1e-6))
    return lvl.clamp(min=0, max=num_levels - 1).long()


#: Fewest rois per thread of the threaded CPU path (with fewer, thread hand-off costs about what it saves).
MIN_ROIS_PER_THREAD = 4

_pool: tuple[int, ThreadPoolExecutor] | None = None  # (workers, pool)
_pool_lock = threading.Lock()


def _drop_pool() -> None:
    """Forget the pool (in a forked child its threads do not exist)."""
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_drop_pool)


def _thread_pool(threads: int) -> ThreadPoolExecutor:
    """The module's pool, replaced by one of ``threads`` workers when that count changed (a replaced pool is not
    shut down: a caller may still be submitting to it; its idle threads end when it is collected)."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[0] != threads:
            _pool = (threads, ThreadPoolExecutor(threads, thread_name_prefix="roi_align"))
        return _pool[1]


def roi_align_threads(feats: list[Tensor], num_rois: int) -> int:
    """Threads the CPU path pools ``num_rois`` rois with: 1 (one call per level) on an accelerator, under
    gradient, while compiling, or for few rois; else ``torch.get_num_threads()`` (at most one per
    ``MIN_ROIS_PER_THREAD`` rois)."""
    if feats[0].device.type != "cpu" or torch.compiler.is_compiling():
        return 1
    if torch.is_grad_enabled() and any(f.requires_grad for f in feats):
        return 1
    return max(1, min(torch.get_num_threads(), num_rois // MIN_ROIS_PER_THREAD))


def boxes_to_rois(boxes: Tensor) -> Tensor:
    """``Tensor[B, N, 4]`` per-image boxes → ``Tensor[B·N, 5]`` rois ``(batch_index, x1, y1, x2, y2)``."""
    b, n, _ = boxes.shape
    idx = torch.arange(b, device=boxes.device, dtype=boxes.dtype).repeat_interleave(n)
    return torch.cat([idx[:, None], boxes.reshape(b * n, 4)], dim=1)


class MultiLevelRoIAlign(nn.Module):
    """RoIAlign from the pyramid level chosen by box size (no parameters).

    Args:
        output_size: RoI side S (7 for box/track, 14 for mask).
        strides: stride of each pyramid level, finest first (4, 8, 16, 32).
        sampling_ratio: bilinear samples per bin side (QueryInst: 2).
        finest_scale: see ``map_roi_levels`` (56).
        aligned: half-pixel offset (mmcv default, True).
    """

    def __init__(
        self,
        output_size: int,
        strides: tuple[int, ...] = (4, 8, 16, 32),
        sampling_ratio: int = 2,
        finest_scale: float = 56.0,
        aligned: bool = True,
    ) -> None:
        super().__init__()
        self.output_size = output_size
        self.strides = tuple(strides)
        self.sampling_ratio = sampling_ratio
        self.finest_scale = finest_scale
        self.aligned = aligned

    def forward(self, feats: list[Tensor], rois: Tensor) -> Tensor:
        """Pool one feature patch per roi.

        Args:
            feats: ``Tensor[B, C, H_l, W_l]`` per level, finest first (``len == len(strides)``).
            rois: ``Tensor[M, 5]`` ``(batch_index, x1, y1, x2, y2)`` absolute image coordinates.

        Returns:
            ``Tensor[M, C, S, S]`` in the dtype of ``feats`` (sampling is done in fp32).
        """
        m = rois.shape[0]
        shape = (m, feats[0].shape[1], self.output_size, self.output_size)
        if m == 0:
            return feats[0].new_zeros(shape)
        # boxes stay fp32 (bf16 would quantise a 600 px coordinate to 4 px); features are pooled in fp32
        rois = rois.float()
        levels = map_roi_levels(rois[:, 1:], len(feats), self.finest_scale)
        if torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export():
            return self._all_levels(feats, rois, levels).to(feats[0].dtype)
        if not (torch.is_grad_enabled() and any(f.requires_grad for f in feats)):
            return self._pool_without_grad(feats, rois, levels, shape)
        out = feats[0].new_zeros(shape)
        for lvl, feat in enumerate(feats):
            idx = torch.nonzero(levels == lvl, as_tuple=True)[0]
            if idx.numel() == 0:
                if feat.requires_grad:
                    # zero-weighted term: the level (and its FPN output conv) still gets a gradient (DDP)
                    out = out + 0.0 * feat.sum()
                continue
            out = out.index_put((idx,), self._pool_level(feats, lvl, rois[idx]).to(out.dtype))
        return out

    def _pool_without_grad(
        self, feats: list[Tensor], rois: Tensor, levels: Tensor, shape: tuple[int, int, int, int]
    ) -> Tensor:
        """``forward`` when nothing needs a gradient: threaded on CPU (``roi_align_threads``), written in place.

        Args:
            feats: FPN levels.
            rois: ``Tensor[M, 5]`` fp32.
            levels: ``Tensor[M]`` int64 level of each roi.
            shape: ``(M, C, S, S)``.

        Returns:
            ``Tensor[M, C, S, S]`` in the dtype of ``feats``; rows of rois without a level (NaN boxes) are 0.
        """
        groups = [(lvl, torch.nonzero(levels == lvl, as_tuple=True)[0]) for lvl in range(len(feats))]
        groups = [(lvl, idx) for lvl, idx in groups if idx.numel() > 0]
        covered = sum(idx.numel() for _, idx in groups) == shape[0]
        out = feats[0].new_empty(shape) if covered else feats[0].new_zeros(shape)
        threads = roi_align_threads(feats, shape[0])
        if threads > 1:
            pooled = self._pool_threaded(feats, rois, groups, threads)
        else:
            pooled = [(idx, self._pool_level(feats, lvl, rois[idx])) for lvl, idx in groups]
        for idx, patch in pooled:
            out.index_put_((idx,), patch.to(out.dtype))
        return out

    def _pool_level(self, feats: list[Tensor], level: int, rois: Tensor) -> Tensor:
        """``Tensor[m, 5]`` rois of pyramid level ``level`` → ``Tensor[m, C, S, S]`` fp32 patches."""
        return roi_align(
            feats[level].float(),
            rois,
            output_size=self.output_size,
            spatial_scale=1.0 / self.strides[level],
            sampling_ratio=self.sampling_ratio,
            aligned=self.aligned,
        )

    def _pool_threaded(
        self, feats: list[Tensor], rois: Tensor, groups: list[tuple[int, Tensor]], threads: int
    ) -> list[tuple[Tensor, Tensor]]:
        """Pool each level's rois in chunks of at most ``ceil(M / threads)`` on ``threads`` pool threads.

        Args:
            feats: FPN levels.
            rois: ``Tensor[M, 5]`` fp32.
            groups: ``(level, Tensor[m_l] indices into rois)`` of every level with rois.
            threads: pool size.

        Returns:
            ``(indices Tensor[c], patches Tensor[c, C, S, S])`` per chunk.
        """
        size = math.ceil(rois.shape[0] / threads)
        chunks = [(lvl, idx[i : i + size]) for lvl, idx in groups for i in range(0, idx.numel(), size)]
        pool = _thread_pool(threads)
        futures = [pool.submit(self._pool_level_no_grad, feats, lvl, rois[idx]) for lvl, idx in chunks]
        return [(idx, f.result()) for (_, idx), f in zip(chunks, futures, strict=True)]

    def _pool_level_no_grad(self, feats: list[Tensor], level: int, rois: Tensor) -> Tensor:
        """``_pool_level`` on a pool thread (grad mode is per thread; the threaded path runs without it)."""
        with torch.no_grad():
            return self._pool_level(feats, level, rois)

    def _all_levels(self, feats: list[Tensor], rois: Tensor, levels: Tensor) -> Tensor:
        """Export path (ONNX): pool every roi from every level and keep its own level's patch.

        The same values as the per-level gather of :meth:`forward` (RoIAlign treats each roi independently) with
        shapes that do not depend on the data, at ``L`` times the RoIAlign work.
        """
        out: Tensor | None = None
        for lvl, (feat, stride) in enumerate(zip(feats, self.strides, strict=True)):
            pooled = roi_align(
                feat.float(),
                rois,
                output_size=self.output_size,
                spatial_scale=1.0 / stride,
                sampling_ratio=self.sampling_ratio,
                aligned=self.aligned,
            )
            keep = (levels == lvl)[:, None, None, None]
            out = torch.where(keep, pooled, 0.0 if out is None else out)
        assert out is not None
        return out
