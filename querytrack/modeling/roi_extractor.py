"""Multi-level RoIAlign with QueryInst's level mapping.

QueryInst (mmdet ``SingleLevelRoIExtractor``, ``finest_scale=56``) assigns a box of scale ``s = sqrt(w h)`` to
level ``floor(log2(s / 56 + 1e-6))`` clamped to ``[0, L-1]`` of P2..P5: ``<112 → P2, 112-224 → P3, 224-448 → P4,
≥448 → P5``. torchvision's ``LevelMapper`` (canonical scale 224 at level 4, ``k_min = 2``) gives the same levels
(``floor(4 + log2(s / 224)) - 2 = floor(log2(s / 56))``, up to where the 1e-6 goes), but
``torchvision.ops.MultiScaleRoIAlign`` calls ``roi_align`` with ``aligned=False`` and infers the strides from the
feature / image shapes, whereas mmcv's RoIAlign uses ``aligned=True``. Hence this small module: QueryInst's level
formula and ``torchvision.ops.roi_align(..., aligned=True, sampling_ratio=2)`` per level.

``kernel="gather"`` opts into ``modeling/ops/roi_gather.py`` instead of torchvision's kernel (the same samples and
weights summed by ``embedding_bag`` over channels-last maps: faster on the CPU, equal up to float rounding;
figures in ``docs/benchmarks.md``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from querytrack.modeling.ops.roi_gather import channels_last, roi_align_gather_levels
from querytrack.types import make_rois

#: ``MultiLevelRoIAlign`` kernels: torchvision's ``roi_align`` (default) or the opt-in gather op.
ROI_KERNELS = ("torchvision", "gather")


def is_exporting() -> bool:
    """Whether the model is being traced for export (``torch.export``, ONNX, ``torch.jit.trace``): data-dependent
    paths and memory layout changes are left out of the graph then."""
    return torch.compiler.is_exporting() or torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()


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


def image_major_rois(boxes: Tensor) -> Tensor:
    """``Tensor[B, N, 4]`` per-image boxes → ``Tensor[B·N, 5]`` rois, image-major (:func:`make_rois`)."""
    b, n, _ = boxes.shape
    return make_rois(torch.arange(b, device=boxes.device).repeat_interleave(n), boxes.reshape(b * n, 4))


class MultiLevelRoIAlign(nn.Module):
    """RoIAlign from the pyramid level chosen by box size (no parameters).

    Args:
        output_size: RoI side S (7 for box/track, 14 for mask).
        strides: stride of each pyramid level, finest first (4, 8, 16, 32).
        sampling_ratio: bilinear samples per bin side (QueryInst: 2).
        finest_scale: see ``map_roi_levels`` (56).
        aligned: half-pixel offset (mmcv default, True).
        kernel: ``"torchvision"`` (default) or ``"gather"`` (``modeling.ops.roi_gather``, opt-in). Outputs agree
            up to float rounding.
    """

    def __init__(
        self,
        output_size: int,
        strides: tuple[int, ...] = (4, 8, 16, 32),
        sampling_ratio: int = 2,
        finest_scale: float = 56.0,
        aligned: bool = True,
        kernel: str = "torchvision",
    ) -> None:
        super().__init__()
        if kernel not in ROI_KERNELS:
            raise ValueError(f"RoIAlign kernel must be one of {ROI_KERNELS}, got {kernel!r}")
        if kernel == "gather" and sampling_ratio <= 0:
            raise ValueError("the gather kernel needs a fixed sampling_ratio > 0")
        self.kernel = kernel
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
        if is_exporting():
            levels = map_roi_levels(rois[:, 1:], len(feats), self.finest_scale)
            return self._all_levels(feats, rois, levels).to(feats[0].dtype)
        # a NaN box has no level: it is pooled as an empty box at level 0 and its patch set to 0
        finite = rois[:, 1:].isfinite().all(dim=1)
        rois = torch.where(finite[:, None], rois, rois.nan_to_num(0.0, 0.0, 0.0))
        levels = map_roi_levels(rois[:, 1:], len(feats), self.finest_scale)
        if self.kernel == "gather":
            out = self._gather(feats, rois, levels)
        else:
            out = self._by_level(feats, rois, levels)
        return torch.where(finite[:, None, None, None], out, 0.0).to(feats[0].dtype)

    def _by_level(self, feats: list[Tensor], rois: Tensor, levels: Tensor) -> Tensor:
        """torchvision's ``roi_align`` on each level's rois: ``Tensor[m, 5]`` fp32 rois and ``Tensor[m]`` levels →
        ``Tensor[m, C, S, S]`` fp32 patches in roi order.

        The rois are sorted by level once; one host sync (the per-level counts) splits them. A level without rois
        still gets a zero-weighted term so that it (and its FPN output conv) receives a gradient (DDP needs every
        parameter to get one).
        """
        order = torch.argsort(levels, stable=True)
        counts = torch.bincount(levels, minlength=len(feats)).tolist()
        sorted_rois = rois[order]
        parts, start, unused = [], 0, []
        for lvl, n in enumerate(counts):
            if n == 0:
                unused.append(lvl)
                continue
            parts.append(self._pool_level(feats, lvl, sorted_rois[start : start + n]))
            start += n
        pooled = parts[0] if len(parts) == 1 else torch.cat(parts)
        out = pooled.index_select(0, torch.argsort(order))
        for lvl in unused:
            if feats[lvl].requires_grad and torch.is_grad_enabled():
                out = out + 0.0 * feats[lvl].sum()
        return out

    def pooling_layout(self, feats: list[Tensor]) -> list[Tensor]:
        """The pyramid in the memory layout ``forward`` reads: channels-last for the gather kernel, the default
        layout otherwise (unchanged while exporting). At most one copy per level, shared by every pooling from
        it."""
        if is_exporting():
            return feats
        if self.kernel == "gather":
            return channels_last(feats)
        return [f.contiguous() for f in feats]  # torchvision's kernel reads (and would copy to) this layout

    def _gather(self, feats: list[Tensor], rois: Tensor, levels: Tensor) -> Tensor:
        """``Tensor[m, 5]`` fp32 rois with their levels → ``Tensor[m, C, S, S]`` fp32 patches (gather op)."""
        out = roi_align_gather_levels(
            [f.float() for f in feats],
            rois,
            levels,
            self.output_size,
            [1.0 / stride for stride in self.strides],
            self.sampling_ratio,
            self.aligned,
        )
        for feat in feats:  # every level gets a gradient, as in ``_by_level``
            if feat.requires_grad and torch.is_grad_enabled():
                out = out + 0.0 * feat.sum()
        return out

    def _pool_level(self, feats: list[Tensor], level: int, rois: Tensor) -> Tensor:
        """``Tensor[m, 5]`` rois of pyramid level ``level`` → ``Tensor[m, C, S, S]`` fp32 patches (torchvision)."""
        return roi_align(
            feats[level].float(),
            rois,
            output_size=self.output_size,
            spatial_scale=1.0 / self.strides[level],
            sampling_ratio=self.sampling_ratio,
            aligned=self.aligned,
        )

    def _all_levels(self, feats: list[Tensor], rois: Tensor, levels: Tensor) -> Tensor:
        """Export path (ONNX): pool every roi from every level and keep its own level's patch.

        The same values as the per-level gather of :meth:`forward` (RoIAlign treats each roi independently) with
        shapes that do not depend on the data, at ``L`` times the RoIAlign work.
        """
        out: Tensor | None = None
        for lvl in range(len(feats)):
            pooled = self._pool_level(feats, lvl, rois)
            keep = (levels == lvl)[:, None, None, None]
            out = torch.where(keep, pooled, 0.0 if out is None else out)
        assert out is not None
        return out
