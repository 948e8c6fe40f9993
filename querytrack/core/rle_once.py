"""Parse each compressed RLE string once, for both the validation and the evaluation of a file."""

from __future__ import annotations

from typing import Any

import numpy as np

from querytrack.core.rle_check import parse_chunks


class ParseOnce:
    """Parses compressed RLE dicts and remembers the result, so that validation and evaluation read every string
    once: pass ``check`` as the validators' string check, then ``index`` the evaluation's masks and read their
    ``valid`` / ``areas`` / ``rles`` by position.

    Dicts are recognised by identity (the cache holds a reference to each, so an id is never reused while it
    lives); a dict not seen before is parsed when indexed.
    """

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers
        self._seen: dict[int, int] = {}  # id(dict) -> position
        self._keep: list[dict[str, Any]] = []
        self._valid = np.zeros(0, dtype=bool)
        self._area = np.zeros(0, dtype=np.int64)

    def index(self, rles: list[dict[str, Any]]) -> np.ndarray:
        """``[len(rles)]`` int64 positions of ``rles`` here, parsing those not seen before."""
        seen = self._seen
        ids = list(map(id, rles))
        if not all(map(seen.__contains__, ids)):
            new = list({i: r for i, r in zip(ids, rles, strict=True) if i not in seen}.values())
            chunks = parse_chunks(new, self.workers)
            base = len(self._keep)
            seen.update(zip(map(id, new), range(base, base + len(new)), strict=True))
            self._keep += new
            self._valid = np.concatenate([self._valid, *(c.valid for c in chunks)])
            self._area = np.concatenate([self._area, *(c.area for c in chunks)])
        return np.fromiter(map(seen.__getitem__, ids), dtype=np.int64, count=len(ids))

    def check(self, rles: list[dict[str, Any]]) -> np.ndarray:
        """``[len(rles)]`` bool, as ``compressed_rle_valid`` (the validators' string check)."""
        pos = self.index(rles)  # before reading self._valid: indexing may grow it
        return self._valid[pos]

    @property
    def rles(self) -> list[dict[str, Any]]:
        """Every dict parsed so far, by position (read only)."""
        return self._keep

    @property
    def areas(self) -> np.ndarray:
        """``[positions]`` int64 foreground pixels of every mask parsed so far, by position."""
        return self._area

    def valid(self, pos: np.ndarray) -> np.ndarray:
        """``[P]`` bool: the strings at positions ``pos`` are well formed."""
        return self._valid[pos]
