"""Masks that follow the augmentation as a nearest-neighbour *sampling grid* instead of as pixels.

The training geometry (flip, resize, crop) moves every mask pixel by an index map that is separable: output
pixel ``(i, j)`` of a mask is source pixel ``(rows[i], cols[j])``. v2 resizes masks with ``mode="nearest"``,
a flip reverses an axis and a crop slices it, so any chain of them is again one such pair of index maps.
:class:`SamplingGrid` is a ``tv_tensors`` type that carries ``rows`` / ``cols`` through a v2 transform (kernels
registered here for ``resize``, ``crop``, ``horizontal_flip`` and ``vertical_flip``); the masks are then
rendered once, at the output size, from the source masks (:func:`sample_masks`), instead of being decoded,
resized, cropped and flipped at source resolution one step after another.

The nearest index of a resize is computed by torch's own ``interpolate`` on an index ramp (the very kernel
v2 runs on ``Mask``), so rendered masks are bit-identical to masks transformed by v2.

Rendering (:func:`sample_masks`) reads the source masks as bit planes stored by column (eight masks per byte,
``querytrack.core.rle.decode_column_bits``, decoded only in the column window the grid reads): one gather
moves eight masks, which are unpacked at the output size.

Only transforms whose effect on masks is such an index map may be used (:func:`supports_sampling_grid`);
for others v2 would silently pass the grid through unchanged.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from querytrack.data.transforms import RandomSizeCrop

__all__ = ["SamplingGrid", "sample_masks", "source_columns", "supports_sampling_grid", "unpack_bits"]


class SamplingGrid(tv_tensors.TVTensor):
    """Nearest-neighbour index maps from an output canvas to a source canvas.

    The tensor itself is an empty uint8 ``[0, h, w]`` (so its shape is the output canvas and it costs no
    memory); ``rows`` (int64 ``[h]``) and ``cols`` (int64 ``[w]``) are the source row / column of each output
    row / column. Build one with :meth:`identity` or :meth:`from_maps`.
    """

    rows: torch.Tensor
    cols: torch.Tensor

    @classmethod
    def from_maps(cls, rows: torch.Tensor, cols: torch.Tensor) -> SamplingGrid:
        """A grid with source rows ``rows`` ``[h]`` and source columns ``cols`` ``[w]`` (int64)."""
        grid = torch.empty((0, len(rows), len(cols)), dtype=torch.uint8).as_subclass(cls)
        grid.rows = rows
        grid.cols = cols
        return grid

    @classmethod
    def identity(cls, height: int, width: int) -> SamplingGrid:
        """The grid of an untransformed ``height x width`` canvas."""
        return cls.from_maps(torch.arange(height), torch.arange(width))

    def __repr__(self, *, tensor_contents: Any = None) -> str:
        return f"SamplingGrid(height={len(self.rows)}, width={len(self.cols)})"


# torchvision >= 0.28 lets a mask resize take ``nearest-exact``; before, masks were always resized ``nearest`` (and
# resize_mask had no interpolation argument). pyproject.toml allows torchvision from 0.24.1.
_MASK_RESIZE_TAKES_INTERPOLATION = "interpolation" in inspect.signature(F.resize_mask).parameters


@functools.lru_cache(maxsize=4096)
def _nearest_index(old: int, new: int, interpolation: Any) -> torch.Tensor:
    """Source index ``[new]`` of each output position of a nearest resize of an axis from ``old`` to ``new``.

    Runs v2's mask resize on a ramp ``0..old-1`` (float32 holds these exactly), so the rounding convention is
    torch's (``floor(i * old / new)``, or ``nearest-exact`` when asked and the installed torchvision honours it)
    by construction. Cached (a training set has few distinct sizes); callers only index with the result, never
    write to it.
    """
    ramp = torch.arange(old, dtype=torch.float32).view(1, old, 1)
    if not _MASK_RESIZE_TAKES_INTERPOLATION:
        return F.resize_mask(ramp, [new, 1]).view(new).long()
    return F.resize_mask(ramp, [new, 1], interpolation=interpolation).view(new).long()


@F.register_kernel(F.resize, SamplingGrid)
def _resize_grid(
    grid: SamplingGrid,
    size: list[int] | None,
    interpolation: Any = v2.InterpolationMode.NEAREST,
    max_size: int | None = None,
    antialias: bool | None = True,
) -> SamplingGrid:
    h, w = len(grid.rows), len(grid.cols)
    # The output size as v2 computes it for a mask (int size = short side, max_size cap), on the empty payload.
    new_h, new_w = F.resize_mask(grid.as_subclass(torch.Tensor), size, max_size=max_size).shape[-2:]
    rows = grid.rows if new_h == h else grid.rows[_nearest_index(h, new_h, interpolation)]
    cols = grid.cols if new_w == w else grid.cols[_nearest_index(w, new_w, interpolation)]
    return SamplingGrid.from_maps(rows, cols)


@F.register_kernel(F.crop, SamplingGrid)
def _crop_grid(grid: SamplingGrid, top: int, left: int, height: int, width: int) -> SamplingGrid:
    h, w = len(grid.rows), len(grid.cols)
    if top < 0 or left < 0 or top + height > h or left + width > w:
        raise ValueError(f"crop window {top, left, height, width} leaves the {h}x{w} canvas (padding crop)")
    return SamplingGrid.from_maps(grid.rows[top : top + height], grid.cols[left : left + width])


@F.register_kernel(F.horizontal_flip, SamplingGrid)
def _hflip_grid(grid: SamplingGrid) -> SamplingGrid:
    return SamplingGrid.from_maps(grid.rows, grid.cols.flip(0))


@F.register_kernel(F.vertical_flip, SamplingGrid)
def _vflip_grid(grid: SamplingGrid) -> SamplingGrid:
    return SamplingGrid.from_maps(grid.rows.flip(0), grid.cols)


#: Transforms whose effect on a mask is a separable index map handled by the kernels above, or nothing.
_GEOMETRY = (
    v2.Identity,
    v2.RandomHorizontalFlip,
    v2.RandomVerticalFlip,
    v2.Resize,
    v2.RandomShortestSize,
    RandomSizeCrop,
)
_CONTAINERS = (v2.Compose, v2.RandomChoice, v2.RandomApply)


def supports_sampling_grid(transform: Any) -> bool:
    """Whether ``transform`` (or ``None``) moves masks only by flips, nearest resizes and in-canvas crops.

    Containers (``Compose``, ``RandomChoice``, ``RandomApply``) are looked into; any other transform (colour,
    affine, padding crops...) answers ``False``, and its samples should carry pixel masks.
    """
    if transform is None or type(transform) in _GEOMETRY:  # exact types: a subclass may move masks otherwise
        return True
    if type(transform) in _CONTAINERS:
        return all(supports_sampling_grid(t) for t in transform.transforms)
    return False


def unpack_bits(planes: torch.Tensor, count: int) -> torch.Tensor:
    """Split bit planes ``[ceil(count / 8), ...]`` uint8 (mask ``k`` = bit ``k % 8`` of plane ``k // 8``) into
    ``[count, ...]`` uint8 0/1 masks."""
    out = planes.new_empty((count, *planes.shape[1:]))
    shifts = torch.arange(8, dtype=torch.uint8).view(8, *([1] * (planes.dim() - 1)))
    for g in range(len(planes)):
        n = min(8, count - 8 * g)
        chunk = out[8 * g : 8 * g + n]
        torch.bitwise_right_shift(planes[g].expand(n, *planes.shape[1:]), shifts[:n], out=chunk)
        chunk.bitwise_and_(1)
    return out


def source_columns(grid: SamplingGrid) -> tuple[int, int]:
    """The source column window ``(start, stop)`` the grid reads (``(0, 0)`` for an empty canvas)."""
    if grid.cols.numel() == 0 or grid.rows.numel() == 0:
        return (0, 0)
    return (int(grid.cols.min()), int(grid.cols.max()) + 1)


def sample_masks(bits: np.ndarray, count: int, grid: SamplingGrid, start: int = 0) -> torch.Tensor:
    """Render masks at the grid's output size by nearest-neighbour index sampling.

    Args:
        bits: ``[ceil(count / 8), Wc, H]`` uint8 source bit planes stored by column (mask ``k`` is bit ``k % 8``
            of plane ``k // 8``; ``querytrack.core.rle.decode_column_bits``), holding source columns
            ``start..start+Wc-1`` (:func:`source_columns` gives the window the grid needs).
        count: the number of masks ``K``.
        grid: maps from the output canvas ``h x w`` into the source ``H x W``.
        start: the source column of ``bits[:, 0]``.

    Returns:
        ``[K, h, w]`` uint8 (0/1), C-contiguous.
    """
    by_column = torch.from_numpy(np.ascontiguousarray(bits))
    if grid.rows.numel():
        top, bottom = int(grid.rows.min()), int(grid.rows.max()) + 1
        by_column, rows = by_column[:, :, top:bottom], grid.rows - top  # copy only the rows the grid reads
    else:
        rows = grid.rows
    # Pick whole source columns (contiguous runs), then gather rows across them: eight masks per byte.
    picked = by_column.index_select(1, grid.cols - start)  # [G, w, rows window]
    return unpack_bits(picked.transpose(1, 2).index_select(1, rows), count)  # [K, h, w]
