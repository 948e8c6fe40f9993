"""Validation of compressed RLE strings before any pycocotools call (pycocotools loops, aborts or reads
uninitialised memory on malformed strings)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from operator import itemgetter
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
    """What the parser read from compressed RLEs: validity, area and, when asked for, the run lengths.

    Attributes:
        valid: ``[S]`` bool, True where the string is well formed (see :func:`_parse_numpy`).
        area: ``[S]`` int64 foreground pixels (the odd runs); meaningful only where valid.
        counts: ``[N]`` uint32 run lengths (column-major runs, background first, as pycocotools; meaningful
            only where valid, and valid runs are at most ``h · w``); ``None`` when the runs were not asked for.
        first: ``[S]`` int64, string ``s``'s runs are ``counts[first[s] : first[s] + nums[s]]``.
        nums: ``[S]`` int64 runs per string.
    """

    valid: np.ndarray
    area: np.ndarray
    counts: np.ndarray | None
    first: np.ndarray
    nums: np.ndarray


#: A check of compressed RLE dicts: ``[S]`` bool, True where well formed (``compressed_rle_valid``,
#: ``ParseOnce.check``).
RleValid = Callable[[list[dict[str, Any]]], np.ndarray]

# valid [S], area [S], counts [N] or None, nums [S] (runs contiguous, in string order)
_Parsed = tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]


def _empty(n: int, runs: bool) -> _Parsed:
    z = np.zeros(n, dtype=np.int64)
    return np.ones(n, dtype=bool), z, np.zeros(0, dtype=np.uint32) if runs else None, z.copy()


def _as_bytes(rle: dict[str, Any]) -> bytes:
    """The counts string as pycocotools reads it: a ``str`` as its UTF-8 bytes (non-ASCII: bytes above 127)."""
    counts = rle["counts"]
    return counts.encode("utf-8", "surrogatepass") if isinstance(counts, str) else counts


def _joined(rles: list[dict[str, Any]]) -> tuple[bytes, np.ndarray]:
    """All counts strings as pycocotools reads them (``_as_bytes``), one after another, and ``[S]`` int64 their
    byte lengths.

    The common case, all ``str`` and ASCII, is one ``join`` and one ``encode``: then every character is one byte
    (a non-ASCII character would make the bytes outnumber the characters).
    """
    counts = [r["counts"] for r in rles]
    lens = np.fromiter(map(len, counts), dtype=np.int64, count=len(counts))
    try:
        joined = "".join(counts).encode("utf-8", "surrogatepass")
    except TypeError:  # some are bytes
        joined = b""
    if len(joined) == int(lens.sum()):
        return joined, lens
    strs = [_as_bytes(r) for r in rles]
    return b"".join(strs), np.fromiter(map(len, strs), dtype=np.int64, count=len(strs))


def _numbers(c: np.ndarray, lens: np.ndarray, ok: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Decode the numbers of concatenated strings (5-bit little-endian groups, see :func:`_parse_numpy`).

    Args:
        c: ``[C]`` uint8 the strings' bytes minus 48 (wrapping), one string after another; ``C > 0``.
        lens: ``[S]`` int64 bytes per string.
        ok: ``[S]`` bool, cleared here for a string with a byte outside '0'..'o', an unterminated last number
            or a number longer than 7 characters (35 bits: no valid count of a frame below 2³¹ pixels).

    Returns:
        ``chains``: the numbers (before the delta coding; strings one after another, ``N`` in all) at even and
        at odd positions, ``[ceil(N / 2)]`` and ``[floor(N / 2)]`` int64 (the delta coding's two chains), and
        ``nums [S]`` int64 numbers per string.
    """
    str_end = np.cumsum(lens) - 1  # each string's last byte (-1 or the previous one's for an empty string)
    nonempty = lens > 0
    ends = str_end[nonempty]
    if c.max() > 63:
        ok[_owners(str_end, np.flatnonzero(c > 63))] = False
    end = c < 32  # the last character of a number (no 0x20 "more follows" bit; bytes above 63 are invalid)
    ok[np.flatnonzero(nonempty)[~end[ends]]] = False  # a string's last number is not terminated
    end[ends] = True  # numbers never run across strings
    # Almost every number is one character: take each number's last character as a signed 5-bit value (bit 0x10
    # is the sign), then add the lower groups of the few longer ones from their continuation characters.
    last = ((c[end] & np.uint8(0x1F)) ^ np.uint8(0x10)).view(np.int8) - np.int8(0x10)
    chains = [last[par::2].astype(np.int64) for par in (0, 1)]
    cont = np.flatnonzero(~end)  # [K] positions of the continuation characters, ascending
    # number of the string's last number: its last byte's position less the continuation bytes before it
    num_end = str_end - np.searchsorted(cont, str_end)
    nums = np.diff(num_end, prepend=-1)
    if cont.size:
        number = cont - np.arange(cont.size)  # [K] the number each continuation character belongs to
        head = np.flatnonzero(np.diff(number, prepend=-1))  # [L] first continuation character per long number
        extra = np.diff(head, append=cont.size)  # [L] characters of the number less one
        group = np.arange(cont.size) - np.repeat(head, extra)  # [K] 5-bit group of the character (0 = lowest)
        low = np.add.reduceat((c[cont] & 0x1F).astype(np.int64) << (5 * np.minimum(group, 6)), head)
        which = number[head]
        for par in (0, 1):
            at = which % 2 == par
            x, i = chains[par], which[at] // 2
            x[i] = (x[i] << (5 * np.minimum(extra[at], 6))) + low[at]
        too_long = which[extra > 6]
        if too_long.size:
            ok[_owners(num_end, too_long)] = False
    return chains, nums


def _parse_numpy(rles: list[dict[str, Any]], runs: bool = False) -> _Parsed:
    """Parse and check compressed RLE strings without decoding the masks (vectorised over all strings at once).

    Parses the pycocotools string format (``rleFrString`` in ``maskApi.c``: 5-bit little-endian groups offset by
    48, bit 0x20 = more groups follow, bit 0x10 of the last group = negative, counts from the third on stored
    as the difference to the count two places before) and checks that every count is non-negative and that the
    counts add up to ``h · w``, which is what ``decode`` requires. A number longer than 7 characters (35 bits)
    cannot be a valid count of any frame below 2³¹ pixels and marks the string invalid.

    This is the guard in front of every pycocotools call on user data: pycocotools loops, aborts or reads
    uninitialised memory on malformed strings.

    The counts are never laid out unless ``runs`` asks for them: the check and the area only need, per string
    and per chain of the delta coding, the minimum and the sum of the chain's running sums.

    Args:
        rles: compressed RLE dicts (``counts`` str or bytes, ``size`` two non-negative ints whose product fits
            in int64; callers check the structure first).
        runs: also return the counts.

    Returns:
        ``valid [S]`` bool, ``area [S]`` int64, ``counts [N]`` uint32 (all strings' runs, one after another;
        ``None`` unless ``runs``) and ``nums [S]`` int64 (runs per string).
    """
    n = len(rles)
    if n == 0:
        return _empty(0, runs)
    joined, lens = _joined(rles)
    hw = np.array([r["size"] for r in rles], dtype=np.int64).reshape(n, 2).prod(axis=1)
    ok = (lens > 0) | (hw == 0)
    # one byte per character, offset by 48 with wrap-around: anything outside '0'..'o' becomes > 63
    c = np.frombuffer(joined, dtype=np.uint8) - np.uint8(48)
    if c.size == 0:
        return (ok & (hw == 0), *_empty(n, runs)[1:])
    chains, nums = _numbers(c, lens, ok)
    # Delta coding: count[0] = x[0]; count[m] = x[m] + count[m - 2] for m ≥ 3, i.e. count[m] is the running sum
    # of x[1], x[3], ... (m odd) or of x[2], x[4], ... (m even). With every string's x[0] set aside (0 in its
    # place), the numbers at even global positions form one chain of all strings and those at odd positions the
    # other: each string's counts are the running sum of a chain less its value `before` the string.
    starts = np.cumsum(nums) - nums
    has_any = nums > 0
    s0 = starts[has_any]
    first = np.zeros(n, dtype=np.int64)
    for par in (0, 1):
        at = has_any & (starts % 2 == par)
        first[at] = chains[par][starts[at] // 2]
        chains[par][starts[at] // 2] = 0
    ok &= first >= 0
    total, sums = first.copy(), []  # sums: per parity, each string's sum of its counts in that chain
    counts = np.empty(int(nums.sum()), dtype=np.int64) if runs else None
    for par in (0, 1):
        run = np.cumsum(chains[par])
        ks = (starts - par + 1) // 2  # string s's part of the chain is run[ks[s] : ks[s] + size[s]]
        size = (starts + nums - par + 1) // 2 - ks
        before = np.where(ks > 0, run[np.maximum(ks - 1, 0)] if run.size else 0, 0)
        part = np.zeros(n, dtype=np.int64)
        has = np.flatnonzero(size > 0)  # chains of consecutive strings follow each other in `run`
        if has.size:
            ok[has] &= np.minimum.reduceat(run, ks[has]) >= before[has]  # every count non-negative
            part[has] = np.add.reduceat(run, ks[has]) - size[has] * before[has]
        sums.append(part)
        total += part
        if counts is not None:
            counts[par::2] = run - np.repeat(before, size)
    ok &= total == hw
    area = np.where(starts & 1, sums[0], sums[1])  # the odd counts of each string
    if counts is not None:
        counts[s0] = first[has_any]
        return ok, area, counts.astype(np.uint32), nums
    return ok, area, None, nums


def _chunks(rles: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``rles`` cut into consecutive chunks of at most ``CHUNK`` strings and about ``CHUNK_CHARS`` characters."""
    if not rles:
        return [rles]
    ends = np.cumsum(np.fromiter(map(len, map(itemgetter("counts"), rles)), dtype=np.int64, count=len(rles)))
    cuts, start = [0], 0
    while start < len(rles):
        by_chars = int(np.searchsorted(ends, (ends[start - 1] if start else 0) + CHUNK_CHARS, side="right"))
        start = min(start + CHUNK, max(by_chars, start + 1))
        cuts.append(start)
    return [rles[a:b] for a, b in pairwise(cuts)]


def parse_chunks(
    rles: list[dict[str, Any]], workers: int | None = None, runs: bool = False
) -> list[ParsedRles]:
    """Check compressed RLEs and measure their areas (:func:`_parse_numpy`, with their run lengths if ``runs``),
    in chunks of ``CHUNK``.

    The chunks run on ``workers`` threads (default 1: NumPy's passes over cache-sized chunks are short, and a
    second thread was slower on the two-core development machine; ``docs/benchmarks.md``).

    Returns:
        One ``ParsedRles`` per chunk of consecutive strings (``_chunks``; one, empty, for no strings).
    """
    parts = _chunks(rles)
    workers = workers or 1
    if len(parts) == 1 or workers == 1:
        done = [_parse_numpy(p, runs) for p in parts]
    else:
        with ThreadPoolExecutor(workers) as pool:
            done = list(pool.map(lambda p: _parse_numpy(p, runs), parts))
    return [ParsedRles(v, a, c, np.cumsum(n) - n, n) for v, a, c, n in done]


def parse_compressed(
    rles: list[dict[str, Any]], workers: int | None = None, runs: bool = False
) -> ParsedRles:
    """:func:`parse_chunks` as one ``ParsedRles`` (runs, if asked for, contiguous in string order)."""
    done = parse_chunks(rles, workers, runs)
    if len(done) == 1:
        return done[0]
    valid, area, nums = (np.concatenate([d[i] for d in done]) for i in (0, 1, 4))
    counts = np.concatenate([d.counts for d in done if d.counts is not None]) if runs else None
    return ParsedRles(valid, area, counts, np.cumsum(nums) - nums, nums)


def compressed_rle_valid(rles: list[dict[str, Any]], workers: int | None = None) -> np.ndarray:
    """Which compressed RLEs are well formed (:func:`parse_compressed`, without laying out the runs).

    Returns:
        ``[len(rles)]`` bool, True where the RLE is well formed.
    """
    return parse_compressed(rles, workers).valid
