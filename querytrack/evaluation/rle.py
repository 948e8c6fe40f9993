"""Run-length-encoding helpers shared by the evaluator, the validator and the result writer.

All masks are COCO RLE dicts ``{"size": [h, w], "counts": ...}`` (column-major runs, pycocotools convention).
*Compressed* RLE has ``counts`` as a ``str`` (or ``bytes``); *uncompressed* RLE has ``counts`` as a list of ints.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from querytrack.data import rle as data_rle

RLE = dict[str, Any]


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
    return data_rle.to_compressed(seg, height, width)


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


def compressed_rle_valid(rles: list[RLE]) -> np.ndarray:
    """Check compressed RLE strings without decoding the masks (vectorised over all strings at once).

    Parses the pycocotools string format (``rleFrString`` in ``maskApi.c``: 5-bit little-endian groups offset by
    48, bit 0x20 = more groups follow, bit 0x10 of the last group = negative, counts from the third on stored
    as the difference to the count two places before) and checks that every count is non-negative and that the
    counts add up to ``h · w``, which is what ``decode`` requires. A number longer than 7 characters (35 bits)
    cannot be a valid count of any frame below 2³¹ pixels and marks the string invalid.

    Args:
        rles: compressed RLE dicts (``counts`` str or bytes).

    Returns:
        ``[len(rles)]`` bool, True where the RLE is well formed.
    """
    n = len(rles)
    ok = np.ones(n, dtype=bool)
    if n == 0:
        return ok
    strs = [
        r["counts"].encode("ascii", "replace") if isinstance(r["counts"], str) else r["counts"] for r in rles
    ]
    lens = np.array([len(s) for s in strs], dtype=np.int64)
    hw = np.array([int(r["size"][0]) * int(r["size"][1]) for r in rles], dtype=np.int64)
    ok &= (lens > 0) | (hw == 0)
    buf = np.frombuffer(b"".join(strs), dtype=np.uint8).astype(np.int64) - 48
    if buf.size == 0:
        return ok & (hw == 0)
    owner = np.repeat(np.arange(n), lens)
    bad_char = (buf < 0) | (buf > 63)
    ok[owner[bad_char]] = False
    buf = np.clip(buf, 0, 63)
    nonempty = lens > 0
    str_end = (np.cumsum(lens) - 1)[nonempty]
    ok[np.flatnonzero(nonempty)[(buf[str_end] & 0x20) != 0]] = False  # last number not terminated
    end = (buf & 0x20) == 0
    end[str_end] = True  # numbers never run across strings (unterminated ones are flagged above)
    first = np.flatnonzero(np.concatenate(([True], end[:-1])))  # first character of each number
    num_len = np.diff(np.concatenate((first, [buf.size])))
    num_owner = owner[first]
    ok[num_owner[num_len > 7]] = False
    k = np.arange(buf.size) - np.repeat(first, num_len)
    vals = np.add.reduceat((buf & 0x1F) << (5 * np.minimum(k, 7)), first)
    last = first + num_len - 1
    neg = (buf[last] & 0x10) != 0
    vals[neg] -= np.int64(1) << (5 * np.minimum(num_len[neg], 8))
    # index of each number inside its string
    nums_per = np.bincount(num_owner, minlength=n)
    starts = np.concatenate(([0], np.cumsum(nums_per)[:-1]))
    idx = np.arange(vals.size) - starts[num_owner]
    # undo the delta coding (c[i] += c[i - 2] for i > 2): running sums along the odd chain (i = 1, 3, ...)
    # and the even chain from i = 2, restarted at each string (strings are contiguous runs of numbers)
    counts = vals.copy()
    for chain in ((idx % 2 == 1), (idx % 2 == 0) & (idx >= 2)):
        cs = np.cumsum(np.where(chain, vals, 0))
        before = np.concatenate(([0], cs))[starts]  # running sum before each string
        counts = np.where(chain, cs - before[num_owner], counts)
    ok[num_owner[counts < 0]] = False
    total = np.zeros(n, dtype=np.int64)
    has = nums_per > 0
    total[has] = np.add.reduceat(counts, starts[has])
    ok &= total == hw
    return ok
