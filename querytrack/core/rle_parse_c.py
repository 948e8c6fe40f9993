"""The compressed-RLE string parser of pycocotools' C library (``rleFrString`` in ``maskApi.c``), called through
ctypes on many strings at once.

``pycocotools._mask`` exports the C functions of ``maskApi.c`` (``rleFrString``, ``rleFree``, ...): the same
parser that every pycocotools call on a compressed string runs. Here it reads *all* strings of a batch in one call:
they are joined behind three ``"0"`` numbers, so that every number of the batch is stored as pycocotools stores
the third and later numbers of one string (``count[k] = x[k] + count[k - 2]``, modulo 2³² in ``uint``). A string
starting at number ``S`` then has its ``j``-th run length ``c_j`` recovered by one subtraction in the same modulo:
``G[S+j] - G[S-2]`` for ``j = 0``, ``G[S+j] - G[S-1]`` for odd ``j``, ``G[S+j] - G[S]`` for even ``j ≥ 2``
(telescoping the two running sums).

Only strings that are safe and exact to parse this way come here (the caller screens them, see
``rle_check._parse_chunk``): characters in ``'0'..'o'``, the last number terminated, no number longer than 6
characters (30 bits, so the C ``int`` shifts are exact), and frames below 2²⁹ pixels. Then every true run length
that a check needs is recovered exactly: while a chain stays in ``[0, h·w]``, its next value lies in
``(-2²⁹, h·w + 2²⁹)``, which the modulo maps one-to-one, so "every ``c_j`` in ``[0, h·w]`` read modulo 2³²" is
"every true ``c_j`` in ``[0, h·w]``".
"""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import numpy as np

#: Frames at or above this many pixels are parsed by the NumPy parser (the modular argument above needs it).
MAX_PIXELS = 1 << 29
#: Longest number (in characters) parsed here: 6 characters = 30 bits.
MAX_NUMBER_CHARS = 6
#: ``pair_ious`` uses two threads from this mean number of runs per pair (``pair_ious`` docstring).
THREADED_RUNS_PER_PAIR = 600


class _Rle(ctypes.Structure):
    _fields_ = [
        ("h", ctypes.c_size_t),
        ("w", ctypes.c_size_t),
        ("m", ctypes.c_size_t),
        ("cnts", ctypes.POINTER(ctypes.c_uint)),
    ]


@cache
def _library() -> ctypes.CDLL | None:
    """pycocotools' C library with ``rleFrString`` / ``rleFree`` / ``rleIou`` typed, or None if it does not export
    them."""
    try:
        from pycocotools import _mask

        lib = ctypes.CDLL(_mask.__file__)
        parse, free, iou = lib.rleFrString, lib.rleFree, lib.rleIou
    except (ImportError, OSError, AttributeError):
        return None
    ptr, siz = ctypes.c_void_p, ctypes.c_size_t
    parse.argtypes = [ctypes.POINTER(_Rle), ctypes.c_char_p, siz, siz]
    free.argtypes = [ctypes.POINTER(_Rle)]
    iou.argtypes = [ptr, ptr, siz, siz, ptr, ptr]  # dt, gt, m, n, iscrowd, o
    parse.restype = free.restype = iou.restype = None
    return lib


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one, else the CPU count)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def available() -> bool:
    """Whether the installed pycocotools exports its C string parser."""
    return _library() is not None


def running_counts(joined: bytes) -> np.ndarray:
    """``G``: pycocotools' stored counts of ``b"000" + joined`` read as one string.

    Args:
        joined: screened compressed strings, concatenated.

    Returns:
        ``[3 + numbers in joined]`` uint32 (the three leading zeros included).
    """
    lib = _library()
    if lib is None:
        raise RuntimeError("pycocotools does not export rleFrString")
    rle = _Rle()
    lib.rleFrString(ctypes.byref(rle), b"000" + joined, 0, 0)  # releases the GIL (ctypes)
    try:
        if rle.m == 0:
            return np.zeros(0, dtype=np.uint32)
        buf = (ctypes.c_uint * rle.m).from_address(ctypes.addressof(rle.cnts.contents))
        return np.frombuffer(buf, dtype=np.uint32).copy()
    finally:
        lib.rleFree(ctypes.byref(rle))


def _class_sums(values: np.ndarray, begin: np.ndarray, count: np.ndarray) -> np.ndarray:
    """``[S]`` int64 sums of ``values[begin[s] : begin[s] + count[s]]`` (0 where ``count`` is 0)."""
    out = np.zeros(begin.size, dtype=np.int64)
    has = count > 0
    if has.any():
        out[has] = np.add.reduceat(values, begin[has], dtype=np.int64)
    return out


def run_lengths(g: np.ndarray, nums: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each string's run lengths from ``G`` (module docstring), modulo 2³², with their sums.

    Positions ``p`` among the numbers are split by parity: within one string, all positions of one parity are
    runs of one kind (background when their index ``j`` in the string is even, foreground when odd), so each
    parity class needs one ``repeat`` of its per-string base and one strided subtraction.

    Args:
        g: ``running_counts`` of the strings.
        nums: ``[S]`` int64 numbers per string (all > 0), ``Σ nums = len(g) - 3``.

    Returns:
        ``runs [Σ nums]`` uint32 (string ``s``'s run lengths, strings one after another), ``foreground [S]``
        int64 (sum of the odd runs: the mask area) and ``total [S]`` int64 (sum of all runs), the sums exact
        where every run is below 2³¹.
    """
    first = np.cumsum(nums) - nums  # position of each string's first number
    start = first + 3  # its index in g
    runs = np.empty(g.size - 3, dtype=np.uint32)
    sums = []
    for q in (0, 1):
        p0 = first + ((q - first) & 1)  # first position of parity q in the string
        count = np.maximum(0, (first + nums - p0 + 1) // 2)
        odd_j = ((q - first) & 1).astype(bool)  # these positions have odd j: based on g[S - 1], else g[S]
        base = np.where(odd_j, g[start - 1], g[start])
        np.subtract(g[3 + q :: 2], np.repeat(base, count), out=runs[q::2])
        sums.append((odd_j, _class_sums(runs[q::2], (p0 - q) // 2, count)))
    runs[first] = g[start] - g[start - 2]  # the first number of a string is not delta-coded
    (odd0, sum0), (_, sum1) = sums
    # the first number (j = 0, even) was summed with base g[S] above: correct its class sum
    fix = runs[first].astype(np.int64)  # (it was counted as g[S] - g[S] = 0)
    first_class_is_0 = (first & 1) == 0
    sum0 = sum0 + np.where(first_class_is_0, fix, 0)
    sum1 = sum1 + np.where(first_class_is_0, 0, fix)
    foreground = np.where(odd0, sum0, sum1)
    return runs, foreground, sum0 + sum1


def rle_table(counts: np.ndarray, first: np.ndarray, nums: np.ndarray, size: np.ndarray) -> np.ndarray:
    """maskApi.h ``RLE`` structs (``h, w, m, cnts``) of masks whose runs lie in ``counts``.

    Args:
        counts: ``[N]`` uint32 run lengths (must stay alive while the table is used).
        first: ``[S]`` int64 first run of each mask.
        nums: ``[S]`` int64 runs of each mask.
        size: ``[S, 2]`` int64 ``(h, w)``.

    Returns:
        ``[S, 4]`` uint64, one 32-byte struct per row.
    """
    if counts.dtype != np.uint32 or not counts.flags.c_contiguous:
        raise TypeError("counts must be a contiguous uint32 array")
    table = np.zeros((first.size, 4), dtype=np.uint64)
    table[:, :2] = size
    table[:, 2] = nums
    table[:, 3] = counts.ctypes.data + 4 * first.astype(np.uint64)
    return table


def pair_ious(table: np.ndarray, a: np.ndarray, b: np.ndarray, workers: int | None = None) -> np.ndarray:
    """IoU of masks ``a[q]`` and ``b[q]`` for every ``q``, by pycocotools' C ``rleIou`` on already parsed runs
    (no string is read again).

    Pairs are grouped by ``b``: one call per distinct ``b`` mask computes its IoUs with all its ``a`` masks
    (``rleIou(dt, gt, m, 1)`` over a gathered copy of their structs), so each ``b`` mask's area and box are walked
    once per group instead of once per pair. The calls release the GIL; on two threads they overlap, which pays
    off when a call has enough C work to hide the GIL hand-over (measured on ``make bench``'s workloads: dense
    720p masks, ~1,300 runs a pair, 115 → 51 ms; YouTube-VIS-like masks, ~220 runs a pair, 16 → 27 ms).

    Args:
        table: ``rle_table`` of valid masks (their runs must add up to ``h · w``: ``rleIou`` walks them).
        a: ``[Q]`` int64 rows of ``table``.
        b: ``[Q]`` int64 rows of ``table``.
        workers: threads (default: 2 when the machine has two cores and the pairs average at least
            ``THREADED_RUNS_PER_PAIR`` runs, else 1).

    Returns:
        ``[Q]`` float64 IoU; -1 where the two sizes differ.
    """
    lib = _library()
    if lib is None:
        raise RuntimeError("pycocotools does not export rleIou")
    iou = lib.rleIou
    if a.size == 0:
        return np.zeros(0, dtype=np.float64)
    order = np.argsort(b, kind="stable")
    b_sorted = b[order]
    dt = np.ascontiguousarray(table[a[order]])  # each group's ``a`` structs side by side
    starts = np.flatnonzero(np.r_[True, b_sorted[1:] != b_sorted[:-1]])
    counts = np.diff(np.r_[starts, b_sorted.size])
    got = np.zeros(a.size, dtype=np.float64)
    calls = list(
        zip(
            (dt.ctypes.data + 32 * starts).tolist(),
            (table.ctypes.data + 32 * b_sorted[starts]).tolist(),
            counts.tolist(),
            (got.ctypes.data + 8 * starts).tolist(),
            strict=True,
        )
    )

    def run(part: list[tuple[int, int, int, int]]) -> None:
        for d, g, m, o in part:
            iou(d, g, m, 1, None, o)

    if workers is None:
        runs = table[:, 2].astype(np.int64)
        heavy = (runs[a] + runs[b]).sum() >= THREADED_RUNS_PER_PAIR * a.size
        workers = 2 if heavy and usable_cpus() >= 2 else 1
    if workers <= 1 or len(calls) < 2:
        run(calls)
    else:
        step = -(-len(calls) // workers)
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, [calls[i : i + step] for i in range(0, len(calls), step)]))
    out = np.empty_like(got)
    out[order] = got
    return out
