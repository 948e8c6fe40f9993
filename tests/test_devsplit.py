"""Dev split: by video, seeded, reproducible checksum, nothing lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from querytrack.data.devsplit import choose_val_videos, main, video_ids_checksum
from querytrack.testing.fake_results import make_gt


def test_choose_is_seeded_and_order_free() -> None:
    ids = list(range(1, 21))
    a = choose_val_videos(ids, seed=3, fraction=0.25, count=None)
    assert a == choose_val_videos(ids[::-1], seed=3, fraction=0.25, count=None)
    assert len(a) == 5 and a == sorted(a)
    assert choose_val_videos(ids, seed=3, fraction=None, count=5) == a  # count 5 = fraction 0.25 of 20
    # the seed chooses: ten seeds give more than one choice (C(20, 5) = 15504 possible)
    assert len({tuple(choose_val_videos(ids, seed=s, fraction=None, count=5)) for s in range(10)}) > 1
    with pytest.raises(ValueError):
        choose_val_videos(ids, seed=0, fraction=None, count=20)


def test_cli_split(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt = make_gt(10, seed=0)
    src = tmp_path / "train.json"
    src.write_text(json.dumps(gt))
    assert main([str(src), "--count", "3", "--seed", "1", "--out-dir", str(tmp_path / "o")]) == 0
    train = json.loads((tmp_path / "o" / "train_train_part.json").read_text())
    val = json.loads((tmp_path / "o" / "train_val_part.json").read_text())
    val_ids = [v["id"] for v in val["videos"]]
    assert len(val_ids) == 3
    assert not set(val_ids) & {v["id"] for v in train["videos"]}
    assert {a["video_id"] for a in val["annotations"]} <= set(val_ids)
    assert len(train["annotations"]) + len(val["annotations"]) == len(gt["annotations"])
    assert val["categories"] == gt["categories"] == train["categories"]
    digest = video_ids_checksum(val_ids)
    assert val["info"]["devsplit"]["val_video_ids_sha256"] == digest
    assert (tmp_path / "o" / "train_val_part.sha256").read_text().startswith(digest)
    assert digest in capsys.readouterr().out
    # same seed -> same split
    main([str(src), "--count", "3", "--seed", "1", "--out-dir", str(tmp_path / "p")])
    assert json.loads((tmp_path / "p" / "train_val_part.json").read_text()) == val
