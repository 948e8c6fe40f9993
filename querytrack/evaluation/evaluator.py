"""``YTVISEvaluator``: reset / process / evaluate wrapper for a validation loop (e.g. a LightningModule)."""

from __future__ import annotations

import os
from typing import Any

from querytrack.core.files import write_json_atomic
from querytrack.evaluation.api import evaluate_ytvis
from querytrack.evaluation.io import PathOrObj, load_gt


class YTVISEvaluator:
    """Collects result entries video by video, then computes the official AP/AR (+ per-category, HOTA).

    Args:
        gt: ground-truth json path or dict (e.g. the val part written by ``querytrack-devsplit``).
        hota: also compute HOTA / DetA / AssA (trackeval; slower).
        results_path: if set, the collected results are also written there (atomically) by ``evaluate``.
    """

    def __init__(self, gt: PathOrObj, hota: bool = False, results_path: str | os.PathLike[str] | None = None):
        self.gt = load_gt(gt)
        self.hota = hota
        self.results_path = results_path
        self.reset()

    def reset(self) -> None:
        """Forget the collected results."""
        self.entries: list[dict[str, Any]] = []

    def process(self, entries: list[dict[str, Any]]) -> None:
        """Add the result entries of one (or more) videos (see ``VideoTrackBuilder.entries``)."""
        self.entries.extend(entries)

    def evaluate(self) -> dict[str, float]:
        """Metrics over everything processed since the last ``reset``."""
        if self.results_path is not None:
            write_json_atomic(self.entries, self.results_path)
        return evaluate_ytvis(self.gt, self.entries, hota=self.hota)
