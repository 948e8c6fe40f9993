"""Parse each compressed RLE string once, for both the validation and the evaluation of a file."""

from __future__ import annotations

from typing import Any

import numpy as np

from querytrack.core import rle_parse_c
from querytrack.core.rle_check import ParsedRles, parse_compressed


class ParseOnce:
    """Parses compressed RLE dicts and remembers the result, so that validation and evaluation read every string
    once: pass ``valid`` as the validators' string check, then ``areas`` / ``parsed`` to the evaluation.

    Dicts are recognised by identity (the cache holds a reference to each, so an id is never reused while it
    lives); a dict not seen before is parsed when asked for.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers
        self._seen: dict[int, int] = {}  # id(dict) -> position
        self._keep: list[dict[str, Any]] = []
        self._batches: list[ParsedRles] = []
        self._batch = np.zeros(0, dtype=np.int64)  # per position: its batch ...
        self._index = np.zeros(0, dtype=np.int64)  # ... and its index in that batch

    def _positions(self, rles: list[dict[str, Any]]) -> np.ndarray:
        seen = self._seen
        new = [r for r in {id(r): r for r in rles if id(r) not in seen}.values()]
        if new:
            self._batches.append(parse_compressed(new, self.workers))
            base = len(self._keep)
            seen.update((id(r), base + i) for i, r in enumerate(new))
            self._keep += new
            self._batch = np.append(self._batch, np.full(len(new), len(self._batches) - 1))
            self._index = np.append(self._index, np.arange(len(new)))
        return np.fromiter((seen[id(r)] for r in rles), dtype=np.int64, count=len(rles))

    def _field(self, name: str, pos: np.ndarray) -> np.ndarray:
        if pos.size == 0:
            return np.zeros(0, dtype=bool if name == "valid" else np.int64)
        if len(self._batches) == 1:
            return getattr(self._batches[0], name)[pos]
        out = np.concatenate([getattr(b, name) for b in self._batches])
        offsets = np.cumsum([0, *(b.valid.size for b in self._batches)])
        return out[offsets[self._batch[pos]] + self._index[pos]]

    def valid(self, rles: list[dict[str, Any]]) -> np.ndarray:
        """``[len(rles)]`` bool, as ``compressed_rle_valid``."""
        return self._field("valid", self._positions(rles))

    def areas(self, rles: list[dict[str, Any]]) -> np.ndarray:
        """``[len(rles)]`` int64 foreground pixels (meaningful where valid)."""
        return self._field("area", self._positions(rles))

    def parsed(self, rles: list[dict[str, Any]]) -> ParsedRles:
        """The runs of ``rles``, contiguous in their order, as ``parse_compressed`` would return them."""
        pos = self._positions(rles)
        if not self._batches:
            return parse_compressed([])
        nums = self._field("nums", pos)
        first = np.cumsum(nums) - nums
        counts = np.empty(int(nums.sum()), dtype=np.uint32)
        batch, index = self._batch[pos], self._index[pos]
        for b, parsed in enumerate(self._batches):
            sel = np.flatnonzero(batch == b)
            if sel.size == 0:
                continue
            src, dst, n = parsed.first[index[sel]], first[sel], nums[sel]
            start = np.cumsum(n) - n
            offs = np.arange(int(n.sum())) - np.repeat(start, n)
            counts[np.repeat(dst, n) + offs] = parsed.counts[np.repeat(src, n) + offs]
        return ParsedRles(self._field("valid", pos), self._field("area", pos), counts, first, nums)

    def c_table(self, rles: list[dict[str, Any]]) -> np.ndarray:
        """pycocotools ``RLE`` structs of ``rles`` pointing at the runs held here (``rle_parse_c.rle_table``);
        valid only while this object lives."""
        pos = self._positions(rles)
        table = np.zeros((pos.size, 4), dtype=np.uint64)
        size = np.array([r["size"] for r in rles], dtype=np.int64).reshape(-1, 2)
        batch, index = self._batch[pos], self._index[pos]
        for b, parsed in enumerate(self._batches):
            sel = np.flatnonzero(batch == b)
            if sel.size:
                i = index[sel]
                table[sel] = rle_parse_c.rle_table(parsed.counts, parsed.first[i], parsed.nums[i], size[sel])
        return table
