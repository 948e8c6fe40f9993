"""Masks <-> COCO RLE around ``pycocotools.mask`` (the only RLE implementation we use): the floor that data,
inference and evaluation share.

All masks are COCO RLE dicts ``{"size": [h, w], "counts": ...}`` (column-major runs, pycocotools convention).
YouTube-VIS files carry segmentations in three encodings, all handled here:

* uncompressed RLE: ``{"size": [h, w], "counts": [int, ...]}`` (the official train json),
* compressed RLE: ``{"size": [h, w], "counts": "string"}`` (results files),
* polygons: ``[[x0, y0, x1, y1, ...], ...]`` (some converted sets).

Validation of compressed strings is :mod:`querytrack.core.rle_check`.
"""

from __future__ import annotations

import bisect
import itertools
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

RLE = dict[str, Any]


def encode_uncompressed(mask: np.ndarray) -> dict[str, Any]:
    """Encode a binary mask as an *uncompressed* RLE (counts list), as the official train json does.

    Args:
        mask: ``[H, W]`` bool/uint8 array.

    Returns:
        ``{"size": [H, W], "counts": [n0, n1, ...]}``, runs in column-major order starting with zeros.
    """
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return {"size": [h, w], "counts": [0]}
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0, *runs]
    return {"size": [h, w], "counts": [int(r) for r in runs]}


def encode_compressed(mask: np.ndarray) -> dict[str, Any]:
    """Encode a binary mask ``[H, W]`` as a compressed RLE with ``counts`` as ``str`` (results format)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _compressed(segm: Any, height: int, width: int) -> dict[str, Any]:
    """Convert a present YouTube-VIS segmentation (polygon / RLE, compressed or not) to a compressed RLE.

    The returned ``counts`` may be ``bytes`` (pycocotools' own form); ``decode``/``area`` accept it.
    """
    if isinstance(segm, list):
        rles = mask_utils.frPyObjects(segm, height, width)
        return mask_utils.merge(rles)
    if isinstance(segm.get("counts"), list):
        return mask_utils.frPyObjects(segm, height, width)
    return segm


def decode(segm: Any, height: int, width: int) -> np.ndarray:
    """Decode any segmentation to a ``[H, W]`` bool array."""
    return mask_utils.decode(_compressed(segm, height, width)).astype(bool)


def compress_many(segms: list[Any], height: int, width: int) -> list[RLE]:
    """Convert present segmentations (any encoding) of one ``height x width`` frame to compressed RLEs."""
    return [_compressed(s, height, width) for s in segms]


def decode_fortran(rles: list[RLE], height: int, width: int) -> np.ndarray:
    """Decode compressed RLEs of one frame in one pycocotools call, in pycocotools' own layout.

    Returns:
        ``[H, W, K]`` uint8 (0/1) in Fortran order (``.transpose(2, 1, 0)`` is a C-contiguous ``[K, W, H]``).
    """
    if not rles:
        return np.zeros((height, width, 0), dtype=np.uint8, order="F")
    return mask_utils.decode(rles)


def _paint_runs(flat: np.ndarray, counts: list[int], start: int) -> None:
    """Set to 1 the foreground of uncompressed ``counts`` that falls in ``flat`` (flat indices ``start..``).

    ``counts`` are column-major runs starting with zeros; ``flat`` is a zeroed window of the column-major
    mask. Costs one slice assignment per foreground run in the window, not one write per pixel.
    """
    stop = start + flat.size
    ends = list(itertools.accumulate(counts))  # run m covers [ends[m-1], ends[m]); odd m are foreground
    first = bisect.bisect_right(ends, start)  # the first run ending after the window's start...
    first -= first % 2  # ...or the foreground run before it: index of a foreground run's start
    last = bisect.bisect_left(ends, stop)  # runs after this one start at or after the window's end
    for s, e in zip(ends[first : last + 1 : 2], ends[first + 1 : last + 2 : 2], strict=False):
        flat[max(s, start) - start : min(e, stop) - start] = 1


def decode_columns(segms: list[Any], height: int, width: int, start: int, stop: int) -> np.ndarray:
    """Decode columns ``start..stop-1`` of several segmentations of one ``height x width`` frame.

    Uncompressed RLE (the YouTube-VIS train json) is painted run by run into a zeroed buffer, an order of
    magnitude faster than ``pycocotools.mask.decode``'s per-pixel loop, and only inside the column window;
    other encodings go through pycocotools.

    Returns:
        ``[K, stop - start, H]`` uint8 (0/1), C-contiguous: mask ``k``, column ``start + c``, row ``r`` at
        ``[k, c, r]`` (the transposed, column-major layout RLE runs in).
    """
    out = np.zeros((len(segms), stop - start, height), dtype=np.uint8)
    flat = out.reshape(len(segms), (stop - start) * height)
    others = []
    for k, segm in enumerate(segms):
        counts = segm.get("counts") if isinstance(segm, dict) else None
        if isinstance(counts, list):
            _paint_runs(flat[k], counts, start * height)
        else:
            others.append(k)
    if others:
        decoded = mask_utils.decode([_compressed(segms[k], height, width) for k in others])  # [H, W, n]
        out[others] = decoded.transpose(2, 1, 0)[:, start:stop]
    return out


def decode_many(segms: list[Any], height: int, width: int) -> np.ndarray:
    """Decode several segmentations of one frame in one pycocotools call.

    Returns:
        ``[K, H, W]`` uint8 (0/1), C-contiguous.
    """
    decoded = decode_fortran(compress_many(segms, height, width), height, width)  # [H, W, K], Fortran order
    return np.ascontiguousarray(decoded.transpose(2, 0, 1))


def pixel_boxes(rles: list[RLE]) -> np.ndarray:
    """Tight boxes of RLE masks in the YouTube-VIS convention (pixel edges: ``x2 = last column + 1``).

    Computed on the runs (``pycocotools.mask.toBbox``), without decoding.

    Returns:
        ``[K, 4]`` float32 absolute xyxy; an empty mask gives ``[0, 0, 0, 0]``.
    """
    if not rles:
        return np.zeros((0, 4), dtype=np.float32)
    xywh = np.asarray(mask_utils.toBbox(rles), dtype=np.float32).reshape(-1, 4)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def encode_masks(masks: np.ndarray) -> list[RLE]:
    """Encode binary masks as compressed RLE with ``str`` counts (JSON-ready).

    Args:
        masks: ``[M, H, W]`` bool or uint8 (fastest when each mask is stored column-major, e.g. the
            transposed view ``paste_masks`` returns).

    Returns:
        ``M`` RLE dicts, ``counts`` decoded to ``str``.
    """
    if masks.shape[0] == 0:
        return []
    arr = masks.view(np.uint8) if masks.dtype == bool else masks.astype(np.uint8)
    # [M, H, W] -> [H, W, M] Fortran order; free when each mask is already stored column-major
    arr = np.asfortranarray(np.moveaxis(arr, 0, -1))
    rles = mask_utils.encode(arr)
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def to_compressed(seg: Any, height: int, width: int) -> RLE | None:
    """Normalise one YouTube-VIS segmentation (polygon list, uncompressed or compressed RLE) to compressed RLE.

    Mirrors how the official evaluator reads ground truth (youtubevos/cocoapi
    ``PythonAPI/pycocotools/ytvos.py``, ``annToRLE``): polygons are merged into one RLE, uncompressed RLE is
    converted with ``frPyObjects``, compressed RLE is kept. Falsy segmentations (``None``, ``[]``) mean absent.

    Args:
        seg: the segmentation of one frame.
        height: video height (used for polygons).
        width: video width (used for polygons).

    Returns:
        A compressed RLE dict, or ``None`` when the object is absent in the frame.
    """
    if not seg:
        return None
    return _compressed(seg, height, width)


def to_uncompressed(rle: RLE) -> RLE:
    """Convert a compressed RLE to uncompressed (list counts), the form trackeval's GT loader accepts.

    Args:
        rle: compressed or uncompressed RLE.

    Returns:
        ``{"size": [h, w], "counts": [int, ...]}``; counts start with the number of leading zeros.
    """
    if isinstance(rle["counts"], list):
        return {"size": list(rle["size"]), "counts": list(rle["counts"])}
    h, w = rle["size"]
    flat = mask_utils.decode(rle).ravel(order="F").astype(np.int8)
    n = flat.size
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], change, [n]))
    counts = np.diff(bounds).tolist()
    if n and flat[0] == 1:
        counts = [0, *counts]
    return {"size": [int(h), int(w)], "counts": [int(c) for c in counts]}


def rle_areas(rles: list[RLE]) -> np.ndarray:
    """Areas of many RLEs.

    ``pycocotools.mask.area`` (2.0.11 with NumPy 2) raises ``OverflowError`` for lists longer than 255 (it
    builds a ``uint8`` array from the list length), so the list is processed in chunks of 255.

    Returns:
        ``[len(rles)]`` uint32.
    """
    if not rles:
        return np.zeros(0, dtype=np.uint32)
    return np.concatenate([mask_utils.area(rles[i : i + 255]) for i in range(0, len(rles), 255)])


def rle_area(rle: RLE | None) -> int:
    """Foreground pixel count of one RLE (0 for ``None``)."""
    if rle is None:
        return 0
    return int(mask_utils.area(rle))
