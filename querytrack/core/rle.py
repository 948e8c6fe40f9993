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

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from querytrack.core.rle_check import parse_compressed

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


#: Bytes of value ``1 << b`` to copy runs from (memoryview slice assignment is a memcpy with ~0.2 us of Python
#: overhead, a few times less than a NumPy slice operation); longer runs take the NumPy path.
_FILL_LENGTH = 1 << 16
_FILLS = tuple(np.full(_FILL_LENGTH, 1 << b, dtype=np.uint8).data for b in range(8))


def _foreground_runs(counts: list[int], start: int, stop: int) -> tuple[list[int], list[int]]:
    """Foreground runs of uncompressed ``counts`` clipped to flat indices ``start..stop-1``, as offsets from
    ``start``: ``(begins, ends)``. ``counts`` are column-major runs starting with zeros."""
    bounds = np.cumsum(np.asarray(counts, dtype=np.int64))  # run m covers [bounds[m-1], bounds[m])
    ends = bounds[1::2]  # odd runs are foreground
    begins = bounds[0::2][: len(ends)]
    keep = (ends > start) & (begins < stop) & (ends > begins)
    return (
        (np.maximum(begins[keep], start) - start).tolist(),
        (np.minimum(ends[keep], stop) - start).tolist(),
    )


def _paint_plane(flat: np.ndarray, masks: list[tuple[int, list[int], list[int]]]) -> None:
    """Paint bit ``b`` over each run ``[begin, end)`` of every ``(b, begins, ends)`` of ``masks`` into ``flat``.

    When no two runs overlap (instance masks rarely do) every byte is written by one mask only and runs are
    copied from :data:`_FILLS`; otherwise bits are OR-ed in.
    """
    begins = np.array([x for _, b, _ in masks for x in b], dtype=np.int64)
    ends = np.array([x for _, _, e in masks for x in e], dtype=np.int64)
    order = np.argsort(begins, kind="stable")
    overlap = len(order) > 1 and bool((np.maximum.accumulate(ends[order])[:-1] > begins[order][1:]).any())
    view = flat.data
    for bit, b, e in masks:
        fill, value = _FILLS[bit], 1 << bit
        for x, y in zip(b, e, strict=True):
            if overlap:
                flat[x:y] |= value
            elif y - x <= _FILL_LENGTH:
                view[x:y] = fill[: y - x]
            else:
                flat[x:y] = value


def decode_column_bits(segms: list[Any], height: int, width: int, start: int, stop: int) -> np.ndarray:
    """Decode columns ``start..stop-1`` of several segmentations of one ``height x width`` frame as bit planes.

    Mask ``k`` is bit ``k % 8`` of plane ``k // 8``: up to eight masks share each byte, so whatever moves
    pixels afterwards (a resampling gather) moves eight masks at the cost of one. Uncompressed RLE (the
    YouTube-VIS train json) is painted run by run, only inside the column window (an order of magnitude faster
    than ``pycocotools.mask.decode``'s per-pixel loop); other encodings go through pycocotools.

    Returns:
        ``[ceil(K / 8), stop - start, H]`` uint8, C-contiguous: bit ``k % 8`` of ``[k // 8, c, r]`` is mask
        ``k`` at column ``start + c``, row ``r`` (the transposed, column-major layout RLE runs in).
    """
    planes = np.zeros((-(-len(segms) // 8), stop - start, height), dtype=np.uint8)
    flat = planes.reshape(len(planes), (stop - start) * height)
    runs: list[list[tuple[int, list[int], list[int]]]] = [[] for _ in planes]
    others = []
    for k, segm in enumerate(segms):
        counts = segm.get("counts") if isinstance(segm, dict) else None
        if isinstance(counts, list):
            runs[k // 8].append((k % 8, *_foreground_runs(counts, start * height, stop * height)))
        else:
            others.append(k)
    for plane, plane_runs in zip(flat, runs, strict=True):
        if plane_runs:
            _paint_plane(plane, plane_runs)
    if others:
        decoded = decode_fortran(compress_many([segms[k] for k in others], height, width), height, width)
        for i, k in enumerate(others):
            planes[k // 8] |= decoded[:, start:stop, i].T << (k % 8)
    return planes


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
    return encode_uncompressed(mask_utils.decode(rle))


def to_uncompressed_many(rles: list[RLE]) -> list[RLE]:
    """:func:`to_uncompressed` of many RLEs, the compressed strings parsed in one batch (no mask is decoded).

    The counts are the runs of the string as written (a valid but unusual string with empty runs keeps them;
    the mask is the same).

    Raises:
        ValueError: a malformed compressed string.
    """
    strings = [r for r in rles if not isinstance(r["counts"], list)]
    parsed = parse_compressed(strings, runs=True)
    if not parsed.valid.all():
        raise ValueError(f"{int((~parsed.valid).sum())} malformed compressed RLE string(s)")
    all_runs = parsed.counts
    assert all_runs is not None  # asked for
    runs = iter(
        all_runs[a : a + n].tolist() for a, n in zip(parsed.first.tolist(), parsed.nums.tolist(), strict=True)
    )
    out = []
    for r in rles:
        h, w = r["size"]
        counts = list(r["counts"]) if isinstance(r["counts"], list) else next(runs)
        out.append({"size": [int(h), int(w)], "counts": counts})
    return out


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
