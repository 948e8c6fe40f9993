"""Areas and pairwise intersections of many RLE masks at once, from their parsed run lengths.

The masks' runs (``querytrack.core.rle_check.parse_compressed``) are laid end to end on one line: mask ``s``
occupies ``[offset[s], offset[s] + h·w)``, its runs alternate background / foreground (column-major, background
first, the pycocotools convention). On that line the number of foreground pixels before a position ``y`` is a
piecewise-linear function ``F(y)`` (one ``searchsorted`` on the run starts), so the intersection of masks ``a``
and ``b`` of the same size is ``Σ_r F(offset[a] + e_r) - F(offset[a] + s_r)`` over the foreground runs
``[s_r, e_r)`` of ``b``. Every pair of every frame of every video is one batch of NumPy calls: no Python loop
per frame or per pair, and no string is parsed twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from querytrack.core.rle_check import ParsedRles


@dataclass(frozen=True)
class MaskRuns:
    """Run-length masks laid end to end (see the module docstring).

    Attributes:
        start: ``[N + 1]`` int64 position of every run's first pixel on the shared line (last: the line's end).
        fg_before: ``[N + 1]`` int64 foreground pixels before each run's start.
        first: ``[S + 1]`` int64, mask ``s``'s runs are ``first[s]:first[s + 1]``.
        area: ``[S]`` int64 foreground pixels of each mask.
        pixels: ``[S]`` int64 pixels of each mask (``h · w``).
    """

    start: np.ndarray
    fg_before: np.ndarray
    first: np.ndarray
    area: np.ndarray
    pixels: np.ndarray

    @classmethod
    def from_parsed(cls, parsed: ParsedRles) -> MaskRuns:
        """Lay out parsed masks; every mask must be valid (``parsed.valid.all()``), else ``ValueError``."""
        if not parsed.valid.all():
            raise ValueError(f"{int((~parsed.valid).sum())} malformed RLE string(s)")
        parsed = parsed.contiguous()
        counts = parsed.counts
        first = np.append(parsed.first, counts.size)
        # a run is foreground when its index within its mask is odd
        fg = ((np.arange(counts.size) - np.repeat(first[:-1], np.diff(first))) & 1).astype(np.int64)
        start = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts, dtype=np.int64, out=start[1:])
        fg_before = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts * fg, dtype=np.int64, out=fg_before[1:])
        area = fg_before[first[1:]] - fg_before[first[:-1]]
        return cls(start, fg_before, first, area, start[first[1:]] - start[first[:-1]])

    def _fg_up_to(self, y: np.ndarray) -> np.ndarray:
        """``F(y)``: foreground pixels before positions ``y`` (``[Q]`` int64) on the shared line."""
        k = np.searchsorted(self.start, y, side="right") - 1
        k = np.minimum(k, self.start.size - 2)
        run_fg = (self.fg_before[k + 1] - self.fg_before[k]) > 0  # a foreground run of non-zero length
        return self.fg_before[k] + np.where(run_fg, y - self.start[k], 0)

    def intersections(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Foreground pixels shared by masks ``a[p]`` and ``b[p]`` (same size), for every pair ``p``.

        Args:
            a: ``[P]`` int mask indices.
            b: ``[P]`` int mask indices.

        Returns:
            ``[P]`` int64 intersection areas.
        """
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if a.size == 0:
            return np.zeros(0, dtype=np.int64)
        runs = np.diff(self.first)
        swap = runs[b] > runs[a]  # walk the foreground runs of the mask with fewer runs
        q, c = np.where(swap, a, b), np.where(swap, b, a)
        n_fg = runs[q] // 2  # foreground runs are the odd ones
        pair = np.repeat(np.arange(a.size), n_fg)
        begin = np.cumsum(n_fg) - n_fg
        run = self.first[q][pair] + 1 + 2 * (np.arange(pair.size) - begin[pair])
        shift = (self.start[self.first[c]] - self.start[self.first[q]])[pair]
        inside = self._fg_up_to(self.start[run + 1] + shift) - self._fg_up_to(self.start[run] + shift)
        return np.bincount(pair, weights=inside, minlength=a.size).round().astype(np.int64)
