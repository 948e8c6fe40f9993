"""Track builder → YouTube-VIS entries: one segmentation per frame, category mapping, cap, atomic write."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from querytrack.core.rle import encode_masks
from querytrack.evaluation import evaluate_ytvis, validate_results
from querytrack.inference.results import VideoTrackBuilder, select_top_tracks, write_results
from querytrack.inference.stream import FrameResult

H, W = 6, 8


def _rle(x: int) -> dict:
    m = np.zeros((H, W), dtype=bool)
    m[1:3, x : x + 2] = True
    return encode_masks(m[None])[0]


def _builder() -> VideoTrackBuilder:
    b = VideoTrackBuilder()
    b.add(FrameResult(0, [0, 1], [0, 2], [0.9, 0.3], [0, 2], torch.zeros(2, 4), [_rle(0), _rle(4)]))
    b.add(FrameResult(1, [1], [2], [0.5], [2], torch.zeros(1, 4), [_rle(5)]))
    return b


def test_entries_layout_and_mapping() -> None:
    entries = _builder().entries(video_id=3, label_to_category=[10, 20, 30], num_frames=3)
    assert [e["category_id"] for e in entries] == [10, 30]
    assert entries[0]["score"] == 0.9 and abs(entries[1]["score"] - 0.4) < 1e-9  # mean of 0.3, 0.5
    assert [s is None for s in entries[1]["segmentations"]] == [False, False, True]
    assert entries[0]["segmentations"][1] is None
    split = {
        "videos": [{"id": 3, "height": H, "width": W, "file_names": ["a", "b", "c"]}],
        "categories": [{"id": c} for c in (10, 20, 30)],
    }
    assert validate_results(json.loads(json.dumps(entries)), split) == []


def test_cap_keeps_highest_scores() -> None:
    entries = [{"video_id": v, "score": s} for v in (1, 2) for s in (0.1, 0.7, 0.4)]
    kept = select_top_tracks(entries, 2)
    assert [(e["video_id"], e["score"]) for e in kept] == [(1, 0.7), (1, 0.4), (2, 0.7), (2, 0.4)]
    assert len(_builder().entries(1, max_tracks=1)) == 1


def test_atomic_write_and_evaluate(tmp_path: Path) -> None:
    entries = _builder().entries(video_id=3, num_frames=2)
    path = tmp_path / "out" / "results.json"
    write_results(entries, path)
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary left behind
    gt = {
        "videos": [{"id": 3, "height": H, "width": W, "file_names": ["a", "b"]}],
        "categories": [{"id": 1, "name": "a"}, {"id": 3, "name": "c"}],
        "annotations": [
            {"id": 1, "video_id": 3, "category_id": 1, "segmentations": [_rle(0), None], "areas": [4, None]},
        ],
    }
    m = evaluate_ytvis(gt, path)
    assert abs(m["AP/a"] - 1.0) < 1e-9


def test_evaluator_reset_process_evaluate(tmp_path: Path) -> None:
    from querytrack.evaluation import YTVISEvaluator

    gt = {
        "videos": [{"id": 3, "height": H, "width": W, "file_names": ["a", "b"]}],
        "categories": [{"id": 1, "name": "a"}],
        "annotations": [
            {"id": 1, "video_id": 3, "category_id": 1, "segmentations": [_rle(0), None], "areas": [4, None]},
        ],
    }
    ev = YTVISEvaluator(gt, results_path=tmp_path / "r.json")
    ev.process(_builder().entries(video_id=3, num_frames=2, label_to_category=[1, 1, 1]))
    assert abs(ev.evaluate()["AP"] - 1.0) < 1e-9
    assert (tmp_path / "r.json").exists()
    ev.reset()
    assert ev.entries == []
