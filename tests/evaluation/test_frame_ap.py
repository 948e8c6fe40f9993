"""Frame AP: one-frame ground truth (golden), and AP 1 for the ground truth as per-frame candidates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from querytrack.evaluation.frame_ap import FrameDetectionCollector, evaluate_frame_ap, frame_ground_truth


def test_frame_ground_truth_golden() -> None:
    seg = {"size": [4, 4], "counts": "04000"}
    gt = {
        "videos": [
            {"id": 7, "length": 3, "width": 4, "height": 4, "file_names": ["a/0.jpg", "a/1.jpg", "a/2.jpg"]},
            {"id": 9, "length": 1, "width": 4, "height": 4, "file_names": ["b/0.jpg"]},
        ],
        "annotations": [
            {
                "id": 1,
                "video_id": 7,
                "category_id": 2,
                "segmentations": [seg, None, seg],
                "areas": [4.0, None, 4.0],
                "bboxes": [[0, 0, 1, 4], None, [0, 0, 1, 4]],
                "iscrowd": 0,
            }
        ],
        "categories": [{"id": 2, "name": "x"}],
    }
    one, ids = frame_ground_truth(gt)
    assert ids == {(7, 0): 1, (7, 1): 2, (7, 2): 3, (9, 0): 4}
    assert [v["file_names"] for v in one["videos"]] == [["a/0.jpg"], ["a/1.jpg"], ["a/2.jpg"], ["b/0.jpg"]]
    assert all(v["length"] == 1 for v in one["videos"])
    assert [(a["video_id"], a["areas"], a["id"]) for a in one["annotations"]] == [
        (1, [4.0], 1),
        (3, [4.0], 2),
    ]
    assert gt["videos"][0]["length"] == 3  # the input is not modified


def _gt_as_candidates(gt: dict, score: float) -> FrameDetectionCollector:
    collector = FrameDetectionCollector()
    l2c = [c["id"] for c in gt["categories"]]
    for a in gt["annotations"]:
        for t, seg in enumerate(a["segmentations"]):
            if seg is not None:
                collector.add(a["video_id"], t, [l2c.index(a["category_id"])], [score], [seg], l2c)
    return collector


@pytest.mark.parametrize("score", [0.9, 0.05])
def test_ground_truth_as_candidates_scores_one(tiny_set: Path, score: float) -> None:
    gt = json.loads((tiny_set / "valid.json").read_text())
    metrics = evaluate_frame_ap(gt, _gt_as_candidates(gt, score))
    assert metrics["AP"] == pytest.approx(1.0) and metrics["AP50"] == pytest.approx(1.0)


def test_missing_frames_lower_frame_ap(tiny_set: Path) -> None:
    gt = json.loads((tiny_set / "valid.json").read_text())
    full = _gt_as_candidates(gt, 0.9)
    half = FrameDetectionCollector([item for i, item in enumerate(full.items) if i % 2 == 0])
    assert evaluate_frame_ap(gt, half)["AP"] < 0.75
