"""Validation of compressed RLE strings before any pycocotools call (pycocotools loops, aborts or reads
uninitialised memory on malformed strings)."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

#: Strings parsed per NumPy pass: large enough to amortise the per-call overhead, small enough that the per-number
#: int64 arrays stay in cache.
CHUNK = 4096


def _owners(ends: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Index of the run holding each position, given every run's inclusive last position (non-decreasing)."""
    return np.searchsorted(ends, positions, side="left")


def _valid_chunk(rles: list[dict[str, Any]]) -> np.ndarray:
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
    lens = np.fromiter(map(len, strs), dtype=np.int64, count=n)
    hw = np.array([int(r["size"][0]) * int(r["size"][1]) for r in rles], dtype=np.int64)
    ok &= (lens > 0) | (hw == 0)
    # one byte per character, offset by 48 with wrap-around: anything outside '0'..'o' becomes > 63. Arrays
    # are per character only where they must be (uint8/bool); numbers, counts and owners are per number.
    c = np.frombuffer(b"".join(strs), dtype=np.uint8) - np.uint8(48)
    if c.size == 0:
        return ok & (hw == 0)
    str_end = np.cumsum(lens) - 1
    nonempty = lens > 0
    ends = str_end[nonempty]
    bad_pos = np.flatnonzero(c > 63)
    if bad_pos.size:
        ok[_owners(str_end, bad_pos)] = False
    end = (c & 0x20) == 0  # the last character of a number
    ok[np.flatnonzero(nonempty)[~end[ends]]] = False  # a string's last number is not terminated
    end[ends] = True  # numbers never run across strings
    last = np.flatnonzero(end)
    first = np.empty_like(last)
    first[0] = 0
    first[1:] = last[:-1] + 1
    num_len = last - first + 1
    # numbers of each string: [starts[s], starts[s] + nums_per[s])
    num_end = np.searchsorted(last, str_end, side="right") - 1  # index of the string's last number
    nums_per = np.diff(np.concatenate(([-1], num_end)))
    starts = num_end - nums_per + 1
    long_pos = np.flatnonzero(num_len > 7)
    if long_pos.size:
        ok[_owners(num_end, long_pos)] = False
    low = c & np.uint8(0x1F)
    vals = low[first].astype(np.int64)  # 5 bits a character, little-endian: add the k-th of longer numbers
    sel = np.flatnonzero(num_len > 1)
    for k in range(1, 7):
        if sel.size == 0:
            break
        vals[sel] |= low[first[sel] + k].astype(np.int64) << (5 * k)
        sel = sel[num_len[sel] > k + 1]
    neg = np.flatnonzero(c[last] & 0x10)
    vals[neg] -= np.int64(1) << (5 * np.minimum(num_len[neg], 7))
    # delta coding: count[i] = x[i] + count[i - 2] for i > 2, i.e. running sums along the odd numbers and
    # along the even ones from the third, restarting at every string
    has = np.flatnonzero(nums_per > 0)
    s0 = starts[has]
    odd = (np.arange(vals.size) & 1).astype(bool) ^ np.repeat((starts & 1).astype(bool), nums_per)
    counts = np.empty_like(vals)
    for chain in (odd, ~odd):
        d = np.where(chain, vals, 0)
        d[s0] = 0  # the first number is in no chain
        per = np.add.reduceat(d, s0)
        d[s0] = -np.concatenate(([0], per[:-1]))  # the running sum restarts at each string
        np.copyto(counts, np.cumsum(d), where=chain)
    counts[s0] = vals[s0]
    neg_counts = np.flatnonzero(counts < 0)
    if neg_counts.size:
        ok[_owners(num_end, neg_counts)] = False
    total = np.zeros(n, dtype=np.int64)
    total[has] = np.add.reduceat(counts, s0)
    ok &= total == hw
    return ok


def compressed_rle_valid(rles: list[dict[str, Any]], workers: int | None = None) -> np.ndarray:
    """Which compressed RLEs are well formed (see :func:`_valid_chunk` for the checks), in chunks of ``CHUNK``.

    The chunks run on ``workers`` threads (default: the CPU count, at most 4; NumPy releases the GIL in the
    passes that matter): 2.1 s → 0.8 s for 40,000 blob masks at 360×640 (55 M characters) on 2 cores.

    Returns:
        ``[len(rles)]`` bool, True where the RLE is well formed.
    """
    parts = [rles[i : i + CHUNK] for i in range(0, len(rles), CHUNK)]
    if len(parts) <= 1:
        return _valid_chunk(rles)
    workers = workers or min(4, os.cpu_count() or 1)
    if workers == 1:
        return np.concatenate([_valid_chunk(p) for p in parts])
    with ThreadPoolExecutor(workers) as pool:
        return np.concatenate(list(pool.map(_valid_chunk, parts)))
