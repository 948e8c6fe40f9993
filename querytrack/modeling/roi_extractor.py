"""Multi-level RoIAlign with QueryInst's level mapping.

QueryInst (mmdet ``SingleLevelRoIExtractor``, ``finest_scale=56``) assigns a box of scale ``s = sqrt(w h)`` to
level ``floor(log2(s / 56 + 1e-6))`` clamped to ``[0, L-1]`` of P2..P5: ``<112 → P2, 112-224 → P3, 224-448 → P4,
≥448 → P5``. torchvision's ``LevelMapper`` (canonical scale 224 at level 4, ``k_min = 2``) gives the same levels
(``floor(4 + log2(s / 224)) - 2 = floor(log2(s / 56))``, up to where the 1e-6 goes), but
``torchvision.ops.MultiScaleRoIAlign`` calls ``roi_align`` with ``aligned=False`` and infers the strides from the
feature / image shapes, whereas mmcv's RoIAlign uses ``aligned=True``. Hence this small module: QueryInst's level
formula and ``torchvision.ops.roi_align(..., aligned=True, sampling_ratio=2)`` per level.

torchvision's CPU ``roi_align`` runs on one thread and reads one float per channel per sample. On the CPU in eval
mode (inference, validation) the rois are instead pooled by ``roi_gather.roi_align_gather_levels``: the same
samples and weights, computed for all levels in one pass and summed by one ``embedding_bag`` per level over
channels-last features, so values agree up to float rounding (R50 at 360p: RoIAlign 90 → ~20 ms a frame; laying
the pyramid out once with :meth:`MultiLevelRoIAlign.pooling_layout` costs 7 ms, or nothing when the backbone
already runs channels-last, ``QueryInstDetector.cpu_channels_last``). Training keeps torchvision's kernel by
default (``kernel="auto"``): with
the gather, the CPU training step is 14-30 % faster, but ``make run`` trained that way ended at track AP 51.6 /
46.7 / 49.9 on seeds 0 / 1 / 2 against 55.9 / 52.5 / 49.8 (the rounding changes the trajectory; within the seed
range, lower on average: ``experiments/synthetic_recipe/README.md``), so the reference kernel stays until more
seeds say otherwise. ``kernel="gather"`` gathers in training too, ``"torchvision"`` never; on other
devices ``"auto"`` is torchvision's. Pooling chunks of rois on Python threads (tried) made the rest of the frame
slower (each pool thread's OpenMP team spins after every parallel region).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from querytrack.modeling.roi_gather import channels_last, roi_align_gather_levels

#: ``MultiLevelRoIAlign`` kernels: ``auto`` = ``gather`` on the CPU in eval mode, ``torchvision`` otherwise.
ROI_KERNELS = ("auto", "gather", "torchvision")


def is_exporting() -> bool:
    """Whether the model is being traced for export (``torch.export``, ONNX, ``torch.jit.trace``): data-dependent
    paths, memory layout changes and the CPU inference caches are left out of the graph then."""
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
        kernel: ``"auto"`` (default: the gather kernel on the CPU in eval mode, torchvision's otherwise),
            ``"gather"`` or ``"torchvision"`` (module docstring). Outputs agree up to float rounding.
    """

    def __init__(
        self,
        output_size: int,
        strides: tuple[int, ...] = (4, 8, 16, 32),
        sampling_ratio: int = 2,
        finest_scale: float = 56.0,
        aligned: bool = True,
        kernel: str = "auto",
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
        levels = map_roi_levels(rois[:, 1:], len(feats), self.finest_scale)
        if is_exporting():
            return self._all_levels(feats, rois, levels).to(feats[0].dtype)
        if self.gathers(feats[0].device):
            mapped = (levels >= 0) & (levels < len(feats))  # a NaN box has no level: its patch stays 0
            if bool(mapped.all()):
                out = self._gather(feats, rois, levels)
            else:
                idx = torch.nonzero(mapped, as_tuple=True)[0]
                out = feats[0].new_zeros(shape)
                if idx.numel():
                    out = out.index_put((idx,), self._gather(feats, rois[idx], levels[idx]))
            if torch.is_grad_enabled():
                counts = torch.bincount(levels[mapped], minlength=len(feats)).tolist()
                for feat, n in zip(feats, counts, strict=True):
                    if n == 0 and feat.requires_grad:
                        out = out + 0.0 * feat.sum()  # the level still gets a (zero) gradient, see below
            return out
        # without gradients, patches are written in place (no copy of ``out`` per level), into an uninitialised
        # tensor when every roi has a level; with them, out-of-place writes keep autograd's view of ``out``
        in_place = not (torch.is_grad_enabled() and any(f.requires_grad for f in feats))
        groups = [torch.nonzero(levels == lvl, as_tuple=True)[0] for lvl in range(len(feats))]
        covered = sum(idx.numel() for idx in groups) == m
        out = feats[0].new_empty(shape) if in_place and covered else feats[0].new_zeros(shape)
        for lvl, (feat, idx) in enumerate(zip(feats, groups, strict=True)):
            if idx.numel() == 0:
                if feat.requires_grad and not in_place:
                    # zero-weighted term: the level (and its FPN output conv) still gets a gradient (DDP)
                    out = out + 0.0 * feat.sum()
                continue
            patch = self._pool_level(feats, lvl, rois[idx]).to(out.dtype)
            out = out.index_put_((idx,), patch) if in_place else out.index_put((idx,), patch)
        return out

    def gathers(self, device: torch.device) -> bool:
        """Whether ``forward`` pools with the gather kernel on ``device`` (in the module's current mode)."""
        if self.kernel == "gather":
            return True
        return (
            self.kernel == "auto" and device.type == "cpu" and not self.training and self.sampling_ratio > 0
        )

    def pooling_layout(self, feats: list[Tensor]) -> list[Tensor]:
        """The pyramid in the memory layout ``forward`` reads: channels-last where it gathers, the default layout
        otherwise (unchanged while exporting). At most one copy per level, shared by every pooling from it."""
        if is_exporting():
            return feats
        if self.gathers(feats[0].device):
            return channels_last(feats)
        return [f.contiguous() for f in feats]  # torchvision's kernel reads (and would copy to) this layout

    def _gather(self, feats: list[Tensor], rois: Tensor, levels: Tensor) -> Tensor:
        """``Tensor[m, 5]`` fp32 rois with their levels → ``Tensor[m, C, S, S]`` patches by the gather kernel."""
        return roi_align_gather_levels(
            [f.float() for f in feats],
            rois,
            levels,
            self.output_size,
            [1.0 / stride for stride in self.strides],
            self.sampling_ratio,
            self.aligned,
        ).to(feats[0].dtype)

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
