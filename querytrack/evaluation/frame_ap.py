"""Frame AP: per-frame instance segmentation AP of the detector, before any association.

Every frame of every ground-truth video becomes a one-frame "video" (ground truth and predictions alike), so the
YouTube-VIS AP of those is plain per-frame mask AP (COCO-style, IoU .50:.95): what the detector delivers. The
predictions are the detector's top-k candidates of each frame *as the post-processor hands them to the tracker*,
with no tracker threshold (``new_track_score_threshold``, ``det_score_threshold``) applied. Track AP is what
association keeps of it, so the two together separate detection from association errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


def frame_ground_truth(gt: Mapping[str, Any]) -> tuple[dict[str, Any], dict[tuple[int, int], int]]:
    """Split every video of a YouTube-VIS ground truth into one-frame videos.

    Args:
        gt: ground truth dict (``videos``, ``annotations``, ``categories``).

    Returns:
        The one-frame ground truth and the map ``(video_id, frame_index) → one-frame video id`` (ids
        ``1..F`` in video, then frame order; frames without objects are kept: detections there are false
        positives).
    """
    videos: list[dict[str, Any]] = []
    ids: dict[tuple[int, int], int] = {}
    for v in gt["videos"]:
        names = v.get("file_names") or [None] * int(v["length"])
        for t, name in enumerate(names):
            new_id = len(videos) + 1
            ids[(int(v["id"]), t)] = new_id
            entry = {**v, "id": new_id, "length": 1}
            if name is not None:
                entry["file_names"] = [name]
            videos.append(entry)
    anns: list[dict[str, Any]] = []
    for a in gt.get("annotations", []):
        for t, seg in enumerate(a["segmentations"]):
            if seg is None:
                continue
            one = {**a, "id": len(anns) + 1, "video_id": ids[(int(a["video_id"]), t)], "segmentations": [seg]}
            for key in ("areas", "bboxes"):
                if a.get(key) is not None:
                    one[key] = [a[key][t]]
            anns.append(one)
    return {**gt, "videos": videos, "annotations": anns}, ids


@dataclass
class FrameDetectionCollector:
    """Collects per-frame candidates (before tracking) as results entries of one-frame videos.

    Entries are keyed by ``(video_id, frame_index)``; :meth:`entries` maps them to the ids of
    :func:`frame_ground_truth`.
    """

    items: list[tuple[int, int, int, float, dict[str, Any]]] = field(default_factory=list)

    def add(
        self,
        video_id: int,
        frame_index: int,
        labels: Sequence[int],
        scores: Sequence[float],
        rles: Sequence[dict[str, Any]],
        label_to_category: Sequence[int] | Mapping[int, int] | None = None,
    ) -> None:
        """Record one frame's candidates (contiguous labels, scores, compressed RLEs at the original size)."""
        for label, score, rle in zip(labels, scores, rles, strict=True):
            cat = int(label_to_category[label]) if label_to_category is not None else int(label) + 1
            self.items.append((int(video_id), int(frame_index), cat, float(score), rle))

    def entries(self, ids: Mapping[tuple[int, int], int]) -> list[dict[str, Any]]:
        """Results entries ``{"video_id", "category_id", "score", "segmentations"}`` of the one-frame videos."""
        return [
            {"video_id": ids[(v, t)], "category_id": c, "score": s, "segmentations": [rle]}
            for v, t, c, s, rle in self.items
            if (v, t) in ids
        ]


def evaluate_frame_ap(gt: Mapping[str, Any], collector: FrameDetectionCollector) -> dict[str, float]:
    """The 12 YouTube-VIS stats of the collected candidates on the one-frame ground truth (no HOTA)."""
    from querytrack.evaluation.api import evaluate_ytvis

    frame_gt, ids = frame_ground_truth(gt)
    return evaluate_ytvis(frame_gt, collector.entries(ids), per_category=False)
