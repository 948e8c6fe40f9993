"""Parse each compressed RLE string once, for both the validation and the evaluation of a file."""

from __future__ import annotations

from typing import Any

import numpy as np

from querytrack.core.rle_check import ParsedRles, parse_chunks


class ParseOnce:
    """Parses compressed RLE dicts and remembers the result, so that validation and evaluation read every string
    once: pass ``check`` as the validators' string check, then ``index`` the evaluation's masks and read their
    ``valid`` / ``areas`` / ``parsed`` runs by position.

    Dicts are recognised by identity (the cache holds a reference to each, so an id is never reused while it
    lives); a dict not seen before is parsed when indexed.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers
        self._seen: dict[int, int] = {}  # id(dict) -> position
        self._keep: list[dict[str, Any]] = []
        self._chunks: list[ParsedRles] = []  # parsed in chunks; a position's chunk and index in it:
        self._chunk = np.zeros(0, dtype=np.int64)
        self._index = np.zeros(0, dtype=np.int64)
        self._valid = np.zeros(0, dtype=bool)
        self._area = np.zeros(0, dtype=np.int64)

    def index(self, rles: list[dict[str, Any]]) -> np.ndarray:
        """``[len(rles)]`` int64 positions of ``rles`` here, parsing those not seen before."""
        seen = self._seen
        new = list({id(r): r for r in rles if id(r) not in seen}.values())
        if new:
            chunks = parse_chunks(new, self.workers)
            base = len(self._keep)
            seen.update(zip(map(id, new), range(base, base + len(new)), strict=True))
            self._keep += new
            self._chunk = np.concatenate(
                [self._chunk, *(np.full(c.valid.size, len(self._chunks) + i) for i, c in enumerate(chunks))]
            )
            self._index = np.concatenate([self._index, *(np.arange(c.valid.size) for c in chunks)])
            self._valid = np.concatenate([self._valid, *(c.valid for c in chunks)])
            self._area = np.concatenate([self._area, *(c.area for c in chunks)])
            self._chunks += chunks
        return np.fromiter(map(seen.__getitem__, map(id, rles)), dtype=np.int64, count=len(rles))

    def check(self, rles: list[dict[str, Any]]) -> np.ndarray:
        """``[len(rles)]`` bool, as ``compressed_rle_valid`` (the validators' string check)."""
        pos = self.index(rles)  # before reading self._valid: indexing may grow it
        return self._valid[pos]

    @property
    def areas(self) -> np.ndarray:
        """``[positions]`` int64 foreground pixels of every mask parsed so far, by position."""
        return self._area

    def valid(self, pos: np.ndarray) -> np.ndarray:
        """``[P]`` bool: the strings at positions ``pos`` are well formed."""
        return self._valid[pos]

    def _by_chunk(self, pos: np.ndarray) -> list[tuple[ParsedRles, np.ndarray, np.ndarray]]:
        """``(chunk, rows of pos in it, their indices in the chunk)`` for every chunk ``pos`` touches."""
        chunk, index = self._chunk[pos], self._index[pos]
        out = []
        for c in np.unique(chunk).tolist():
            sel = np.flatnonzero(chunk == c)
            out.append((self._chunks[c], sel, index[sel]))
        return out

    def parsed(self, pos: np.ndarray) -> ParsedRles:
        """The runs of the masks at ``pos``, contiguous in that order."""
        groups = self._by_chunk(pos)
        nums = np.zeros(pos.size, dtype=np.int64)
        for chunk, sel, idx in groups:
            nums[sel] = chunk.nums[idx]
        first = np.cumsum(nums) - nums
        counts = np.empty(int(nums.sum()), dtype=np.uint32)
        for chunk, sel, idx in groups:
            n = nums[sel]
            offs = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
            counts[np.repeat(first[sel], n) + offs] = chunk.counts[np.repeat(chunk.first[idx], n) + offs]
        return ParsedRles(self._valid[pos], self._area[pos], counts, first, nums)
