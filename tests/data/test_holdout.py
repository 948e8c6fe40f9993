"""The held-out validation part of train: its size rule, its cache key, concurrent writers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from querytrack.core.errors import UserError
from querytrack.data.devsplit import choose_val_videos, video_ids_checksum
from querytrack.data.holdout import HoldoutConfig, make_holdout, write_record


@pytest.mark.parametrize(
    ("videos", "config", "expected"),
    [
        (2985, HoldoutConfig(), 149),  # YouTube-VIS 2021 train: round(149.25)
        (2238, HoldoutConfig(), 112),  # YouTube-VIS 2019 train: round(111.9)
        (607, HoldoutConfig(), 30),  # OVIS train: round(30.35)
        (10_000, HoldoutConfig(), 300),  # capped
        (10_000, HoldoutConfig(max_videos=None), 500),
        (4, HoldoutConfig(), 1),  # at least one
        (4, HoldoutConfig(count=3), 3),
        (10_000, HoldoutConfig(count=2), 2),  # count overrides fraction and cap
        (100, HoldoutConfig(fraction=0.2, max_videos=10), 10),
    ],
)
def test_holdout_size(videos: int, config: HoldoutConfig, expected: int) -> None:
    assert config.size(videos) == expected


@pytest.mark.parametrize(
    ("videos", "config", "match"),
    [
        (1, HoldoutConfig(), "cannot hold out 1 of 1"),
        (4, HoldoutConfig(count=4), "cannot hold out 4 of 4"),
        (4, HoldoutConfig(count=0), "cannot hold out 0 of 4"),
        (100, HoldoutConfig(fraction=1.0), r"fraction must be in \(0, 1\)"),
        (100, HoldoutConfig(fraction=0.0), r"fraction must be in \(0, 1\)"),
    ],
)
def test_holdout_size_rejects(videos: int, config: HoldoutConfig, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        config.size(videos)


def test_make_holdout_writes_the_held_out_ground_truth(tiny_set: Path, tmp_path: Path) -> None:
    train = tiny_set / "train.json"
    doc = json.loads(train.read_text())
    ids = [v["id"] for v in doc["videos"]]
    held = make_holdout(train, doc, HoldoutConfig(count=2, seed=3), tmp_path)
    assert held.video_ids == choose_val_videos(ids, 3, None, 2) and not held.reused
    assert held.checksum == video_ids_checksum(held.video_ids)
    gt = json.loads(held.ground_truth.read_text())
    assert gt["categories"] == doc["categories"] and sorted(v["id"] for v in gt["videos"]) == held.video_ids
    expected = [a for a in doc["annotations"] if a["video_id"] in held.video_ids]
    assert gt["annotations"] == expected
    assert gt["info"]["holdout"]["val_video_ids_sha256"] == held.checksum
    assert held.ground_truth.parent == tmp_path / "holdout"
    record = write_record(held, train, tmp_path / "run")
    assert json.loads(record.read_text())["video_ids"] == held.video_ids
    with pytest.raises(UserError, match="cannot hold out 4 of 4"):
        make_holdout(train, doc, HoldoutConfig(count=4), tmp_path)


def test_an_edited_training_json_gets_a_new_cache_entry(tiny_set: Path, tmp_path: Path) -> None:
    train = tmp_path / "train.json"
    doc = json.loads((tiny_set / "train.json").read_text())
    train.write_text(json.dumps(doc))
    first = make_holdout(train, doc, HoldoutConfig(count=1), tmp_path / "cache")
    doc["annotations"][0]["iscrowd"] = 1
    train.write_text(json.dumps(doc))
    second = make_holdout(train, doc, HoldoutConfig(count=1), tmp_path / "cache")
    assert second.ground_truth != first.ground_truth and not second.reused


def test_concurrent_ranks_agree_and_leave_one_complete_file(tiny_set: Path, tmp_path: Path) -> None:
    """Eight writers at once (as the ranks of a DDP job on a first run): same videos, one valid file."""
    train = tiny_set / "train.json"
    doc = json.loads(train.read_text())
    results = []

    def rank() -> None:
        results.append(make_holdout(train, doc, HoldoutConfig(count=2), tmp_path))

    threads = [threading.Thread(target=rank) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 8 and len({tuple(r.video_ids) for r in results}) == 1
    assert sorted(p.name for p in (tmp_path / "holdout").iterdir()) == [results[0].ground_truth.name]
    assert json.loads(results[0].ground_truth.read_text())["info"]["holdout"]["num_val_videos"] == 2
