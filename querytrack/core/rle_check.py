"""Validation of compressed RLE strings before any pycocotools call (pycocotools loops, aborts or reads
uninitialised memory on malformed strings)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np

#: At most this many strings per chunk (a few NumPy passes each) ...
CHUNK = 4096
#: ... and about this many characters: large enough to amortise the per-call overhead, small enough that the
#: chunk's arrays stay in cache.
CHUNK_CHARS = 1 << 18


def _owners(ends: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Index of the run holding each position, given every run's inclusive last position (non-decreasing)."""
    return np.searchsorted(ends, positions, side="left")


class ParsedRles(NamedTuple):
    """Run lengths of compressed RLEs.

    Attributes:
        valid: ``[S]`` bool, True where the string is well formed (see :func:`_parse_numpy`).
        area: ``[S]`` int64 foreground pixels (the odd runs); meaningful only where valid.
        counts: ``[N]`` uint32 run lengths (column-major runs, background first, as pycocotools; meaningful
            only where valid, and valid runs are at most ``h · w``).
        first: ``[S]`` int64, string ``s``'s runs are ``counts[first[s] : first[s] + nums[s]]``.
        nums: ``[S]`` int64 runs per string.
    """

    valid: np.ndarray
    area: np.ndarray
    counts: np.ndarray
    first: np.ndarray
    nums: np.ndarray

    def contiguous(self) -> ParsedRles:
        """The same strings with their runs laid one after another in string order (``first = cumsum``)."""
        first = np.cumsum(self.nums) - self.nums
        if np.array_equal(first, self.first):
            return self
        take = np.arange(int(self.nums.sum())) + np.repeat(self.first - first, self.nums)
        return ParsedRles(self.valid, self.area, self.counts[take], first, self.nums)


#: A check of compressed RLE dicts: ``[S]`` bool, True where well formed (``compressed_rle_valid``,
#: ``ParseOnce.check``).
RleValid = Callable[[list[dict[str, Any]]], np.ndarray]

_Parsed = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # valid, area, counts, nums (contiguous)


def _empty(n: int) -> _Parsed:
    z = np.zeros(n, dtype=np.int64)
    return np.ones(n, dtype=bool), z, np.zeros(0, dtype=np.uint32), z.copy()


def _as_bytes(rle: dict[str, Any]) -> bytes:
    """The counts string as pycocotools reads it: a ``str`` as its UTF-8 bytes (non-ASCII: bytes above 127)."""
    counts = rle["counts"]
    return counts.encode("utf-8", "surrogatepass") if isinstance(counts, str) else counts


def _parse_numpy(rles: list[dict[str, Any]]) -> _Parsed:
    """Parse and check compressed RLE strings without decoding the masks (vectorised over all strings at once).

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
        ``valid [S]`` bool, ``area [S]`` int64, ``counts [N]`` uint32 (all strings' runs, one after another) and
        ``nums [S]`` int64 (runs per string).
    """
    n = len(rles)
    ok = np.ones(n, dtype=bool)
    if n == 0:
        return _empty(0)
    # pycocotools reads a str as its UTF-8 bytes: any non-ASCII character is a byte above 127, hence invalid
    strs = [_as_bytes(r) for r in rles]
    lens = np.fromiter(map(len, strs), dtype=np.int64, count=n)
    hw = np.array([int(r["size"][0]) * int(r["size"][1]) for r in rles], dtype=np.int64)
    ok &= (lens > 0) | (hw == 0)
    # one byte per character, offset by 48 with wrap-around: anything outside '0'..'o' becomes > 63. Arrays
    # are per character only where they must be (uint8/bool); numbers, counts and owners are per number.
    c = np.frombuffer(b"".join(strs), dtype=np.uint8) - np.uint8(48)
    if c.size == 0:
        return (ok & (hw == 0), *_empty(n)[1:])
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
    begins = np.empty_like(end)  # the first character of a number (a mask: compress, not gather)
    begins[0] = True
    begins[1:] = end[:-1]
    vals = low[begins].astype(np.int64)  # 5 bits a character, little-endian: add the k-th of longer numbers
    sel = np.flatnonzero(num_len > 1)
    for k in range(1, 7):
        if sel.size == 0:
            break
        vals[sel] |= low[first[sel] + k].astype(np.int64) << (5 * k)
        sel = sel[num_len[sel] > k + 1]
    neg = np.flatnonzero(c[end] & 0x10)
    vals[neg] -= np.int64(1) << (5 * np.minimum(num_len[neg], 7))
    # delta coding: count[i] = x[i] + count[i - 2] for i > 2, i.e. running sums along the odd numbers and
    # along the even ones from the third, restarting at every string
    has = np.flatnonzero(nums_per > 0)
    s0 = starts[has]
    # delta coding (above): within a string the numbers at even global positions form one chain and those at odd
    # positions the other, so each chain is a running sum over a strided view of all strings' numbers, restarted
    # at every string by subtracting what the previous strings added.
    d = vals.copy()
    d[s0] = 0  # the first number is in no chain
    counts = np.empty_like(vals)
    chain_sums = []  # per parity: each string's sum of its counts at that parity
    for par in (0, 1):
        x, out = d[par::2], counts[par::2]
        ks, ke = (starts - par + 1) // 2, (starts + nums_per - par + 1) // 2  # each string's slice of x
        if x.size:
            before = np.cumsum(x)[np.maximum(ks - 1, 0)] * (ks > 0)
            nonempty = ke > ks
            x[ks[nonempty]] -= np.diff(before[nonempty], prepend=0)
            np.cumsum(x, out=out)
        chain_sums.append((ks, ke))
    counts[s0] = vals[s0]
    neg_counts = np.flatnonzero(counts < 0)
    if neg_counts.size:
        ok[_owners(num_end, neg_counts)] = False
    per_parity = []
    for par, (ks, ke) in enumerate(chain_sums):
        run = np.zeros(counts[par::2].size + 1, dtype=np.int64)
        np.cumsum(counts[par::2], out=run[1:])
        per_parity.append(run[ke] - run[ks])
    total = per_parity[0] + per_parity[1]
    ok &= total == hw
    area = np.where(starts & 1, per_parity[0], per_parity[1])  # the odd numbers of each string
    return ok, area, counts.astype(np.uint32), nums_per


def _chunks(rles: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``rles`` cut into consecutive chunks of at most ``CHUNK`` strings and about ``CHUNK_CHARS`` characters."""
    if not rles:
        return [rles]
    ends = np.cumsum(np.fromiter((len(r["counts"]) for r in rles), dtype=np.int64, count=len(rles)))
    cuts, start = [0], 0
    while start < len(rles):
        by_chars = int(np.searchsorted(ends, (ends[start - 1] if start else 0) + CHUNK_CHARS, side="right"))
        start = min(start + CHUNK, max(by_chars, start + 1))
        cuts.append(start)
    return [rles[a:b] for a, b in pairwise(cuts)]


def parse_chunks(rles: list[dict[str, Any]], workers: int | None = None) -> list[ParsedRles]:
    """Parse compressed RLEs into their run lengths and check them (:func:`_parse_numpy`), in chunks of ``CHUNK``.

    The chunks run on ``workers`` threads (default 1: NumPy's passes over cache-sized chunks are short, and a
    second thread was slower on the two-core development machine; ``docs/benchmarks.md``).

    Returns:
        One ``ParsedRles`` per chunk of consecutive strings (``_chunks``; one, empty, for no strings).
    """
    parts = _chunks(rles)
    workers = workers or 1
    if len(parts) == 1 or workers == 1:
        done = [_parse_numpy(p) for p in parts]
    else:
        with ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(_parse_numpy, parts))
    return [ParsedRles(v, a, c, np.cumsum(n) - n, n) for v, a, c, n in done]


def parse_compressed(rles: list[dict[str, Any]], workers: int | None = None) -> ParsedRles:
    """:func:`parse_chunks` as one ``ParsedRles`` (runs contiguous, in string order)."""
    done = parse_chunks(rles, workers)
    if len(done) == 1:
        return done[0]
    valid, area, counts, nums = (np.concatenate([d[i] for d in done]) for i in (0, 1, 2, 4))
    return ParsedRles(valid, area, counts, np.cumsum(nums) - nums, nums)


def compressed_rle_valid(rles: list[dict[str, Any]], workers: int | None = None) -> np.ndarray:
    """Which compressed RLEs are well formed (:func:`parse_compressed`, runs discarded).

    Returns:
        ``[len(rles)]`` bool, True where the RLE is well formed.
    """
    return parse_compressed(rles, workers).valid
