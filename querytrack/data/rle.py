"""Mask <-> RLE helpers around ``pycocotools.mask`` (the only RLE implementation we use).

YouTube-VIS files carry segmentations in three encodings, all handled here:

* uncompressed RLE: ``{"size": [h, w], "counts": [int, ...]}`` (the official train json),
* compressed RLE: ``{"size": [h, w], "counts": "string"}`` (results files),
* polygons: ``[[x0, y0, x1, y1, ...], ...]`` (some converted sets).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


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


def to_compressed(segm: Any, height: int, width: int) -> dict[str, Any]:
    """Convert any YouTube-VIS segmentation (polygon / RLE, compressed or not) to a compressed RLE.

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
    return mask_utils.decode(to_compressed(segm, height, width)).astype(bool)


def decode_many(segms: list[Any], height: int, width: int) -> np.ndarray:
    """Decode several segmentations of one frame in one pycocotools call.

    Returns:
        ``[K, H, W]`` uint8 (0/1), C-contiguous.
    """
    if not segms:
        return np.zeros((0, height, width), dtype=np.uint8)
    decoded = mask_utils.decode([to_compressed(s, height, width) for s in segms])  # [H, W, K], Fortran order
    return np.ascontiguousarray(decoded.transpose(2, 0, 1))


def compressed_rle_valid(rles: list[dict[str, Any]]) -> np.ndarray:
    """Check compressed RLE strings without decoding the masks (vectorised over all strings at once).

    Parses the pycocotools string format (``rleFrString`` in ``maskApi.c``: 5-bit little-endian groups offset by
    48, bit 0x20 = more groups follow, bit 0x10 of the last group = negative, counts from the third on stored
    as the difference to the count two places before) and checks that every count is non-negative and that the
    counts add up to ``h · w``, which is what ``decode`` requires. A number longer than 7 characters (35 bits)
    cannot be a valid count of any frame below 2³¹ pixels and marks the string invalid.

    This is the guard in front of every pycocotools call on user data: pycocotools loops, aborts or reads
    uninitialised memory on malformed strings.

    Args:
        rles: compressed RLE dicts (``counts`` str or bytes, ``size`` two non-negative ints whose product fits
            in int64; callers check the structure first).

    Returns:
        ``[len(rles)]`` bool, True where the RLE is well formed.
    """
    n = len(rles)
    ok = np.ones(n, dtype=bool)
    if n == 0:
        return ok
    # pycocotools reads a str as its UTF-8 bytes: any non-ASCII character is a byte above 127, hence invalid
    strs = [
        r["counts"].encode("utf-8", "surrogatepass") if isinstance(r["counts"], str) else r["counts"]
        for r in rles
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
