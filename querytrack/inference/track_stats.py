"""Per-identity class and score rules: whole-video aggregate vs causal (committed at birth, never revised).

* aggregate (MaskTrack R-CNN video output, youtubevos/MaskTrackRCNN ``mmdet/core/evaluation/coco_utils.py``;
  docs/method.md §6.2): score = mean detection score over the frames where the track appears; class = majority
  vote of the per-frame labels (ties: larger score sum, then smaller label) or, with ``class_rule="score_weighted"``,
  the label with the largest score sum. Uses the whole video, so an online system could only output it at the end.
* causal: class and score of the detection that started the identity. They are known when the track is
  first emitted and never change, so per-frame outputs never need revising (CrossVIS also takes the class of
  a track's first entry, hustvl/CrossVIS ``tools/test_vis.py``).

With the class cue of eq. 8 on (default), a track only collects detections of its own class, so the two class
rules agree; they differ when the class cue is switched off.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

ClassRule = Literal["majority", "score_weighted"]
ScoreMode = Literal["aggregate", "causal"]


@dataclass
class TrackStats:
    """Running statistics of one identity (a few numbers; no per-frame storage)."""

    first_label: int = -1
    first_score: float = 0.0
    num: int = 0
    score_sum: float = 0.0
    label_counts: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    label_scores: dict[int, float] = field(default_factory=lambda: defaultdict(float))

    def update(self, label: int, score: float) -> None:
        """Add one detection of the identity."""
        if self.num == 0:
            self.first_label, self.first_score = int(label), float(score)
        self.num += 1
        self.score_sum += float(score)
        self.label_counts[int(label)] += 1
        self.label_scores[int(label)] += float(score)

    def label(self, mode: ScoreMode = "aggregate", class_rule: ClassRule = "majority") -> int:
        """The identity's class under ``mode`` (and ``class_rule`` for the aggregate)."""
        if mode == "causal":
            return self.first_label
        if class_rule == "majority":
            return min(self.label_counts, key=lambda c: (-self.label_counts[c], -self.label_scores[c], c))
        return min(self.label_scores, key=lambda c: (-self.label_scores[c], c))

    def score(self, mode: ScoreMode = "aggregate") -> float:
        """The identity's score: mean detection score (aggregate) or the birth score (causal)."""
        if mode == "causal":
            return self.first_score
        return self.score_sum / max(self.num, 1)
