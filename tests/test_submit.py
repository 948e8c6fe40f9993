"""Submission validator refuses each kind of bad file; valid files are zipped with results.json at the root."""

from __future__ import annotations

import copy
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from querytrack.core.rle import encode_masks, to_uncompressed
from querytrack.evaluation import InvalidResultsError, evaluate_ytvis, validate_results
from querytrack.submit import main

H, W = 6, 8


def _rle(h: int = H, w: int = W) -> dict[str, Any]:
    m = np.zeros((h, w), dtype=bool)
    m[1:3, 2:5] = True
    return encode_masks(m[None])[0]


SPLIT = {
    "videos": [
        {"id": 1, "height": H, "width": W, "length": 3, "file_names": ["a/0.jpg", "a/1.jpg", "a/2.jpg"]},
        {"id": 2, "height": H, "width": W, "length": 2, "file_names": ["b/0.jpg", "b/1.jpg"]},
    ],
    "categories": [{"id": 1, "name": "x"}, {"id": 2, "name": "y"}],
}


def _good() -> list[dict[str, Any]]:
    return [
        {"video_id": 1, "category_id": 1, "score": 0.5, "segmentations": [_rle(), None, _rle()]},
        {"video_id": 2, "category_id": 2, "score": 1.0, "segmentations": [None, _rle()]},
    ]


def _bad(kind: str) -> list[dict[str, Any]]:
    res = _good()
    e = res[1]
    if kind == "unknown_video":
        e["video_id"] = 7
    elif kind == "unknown_category":
        e["category_id"] = 3
    elif kind == "score":
        e["score"] = 1.5
    elif kind == "length":
        e["segmentations"] = [None]
    elif kind == "rle_size":
        e["segmentations"][1] = _rle(H + 1, W)
    elif kind == "rle_counts":
        e["segmentations"][1] = to_uncompressed(_rle())
    elif kind == "rle_invalid":
        e["segmentations"][1] = {"size": [H, W], "counts": "\x7f\x7f!!"}
    elif kind == "rle_format":
        e["segmentations"][1] = [1, 2, 3]
    elif kind == "missing_key":
        del e["score"]
    elif kind == "too_many_tracks":
        res += [copy.deepcopy(e) for _ in range(3)]
    return res


KINDS = [
    "unknown_video",
    "unknown_category",
    "score",
    "length",
    "rle_size",
    "rle_counts",
    "rle_invalid",
    "rle_format",
    "missing_key",
    "too_many_tracks",
]


def test_good_file_has_no_problem() -> None:
    assert validate_results(_good(), SPLIT) == []


@pytest.mark.parametrize("kind", KINDS)
def test_each_bad_kind_is_reported_with_index_and_video(kind: str) -> None:
    problems = validate_results(_bad(kind), SPLIT, max_tracks_per_video=2)
    assert [p.kind for p in problems] == [kind]
    p = problems[0]
    assert p.index == (3 if kind == "too_many_tracks" else 1)
    assert str(p).startswith(f"entry {p.index} (video ")


def test_not_a_list() -> None:
    assert validate_results({"a": 1}, SPLIT)[0].kind == "format"


@pytest.mark.parametrize("kind", ["unknown_video", "rle_size", "length"])
def test_cli_refuses_and_writes_nothing(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "res.json").write_text(json.dumps(_bad(kind)))
    (tmp_path / "split.json").write_text(json.dumps(SPLIT))
    rc = main(
        [
            str(tmp_path / "res.json"),
            "--split",
            str(tmp_path / "split.json"),
            "--out",
            str(tmp_path / "s.zip"),
        ]
    )
    assert rc == 1
    assert not (tmp_path / "s.zip").exists()
    assert "entry 1 (video " in capsys.readouterr().err


def test_cli_writes_zip(tmp_path: Path) -> None:
    (tmp_path / "res.json").write_text(json.dumps(_good()))
    (tmp_path / "split.json").write_text(json.dumps(SPLIT))
    out = tmp_path / "sub" / "s.zip"
    assert main([str(tmp_path / "res.json"), "--split", str(tmp_path / "split.json"), "--out", str(out)]) == 0
    with zipfile.ZipFile(out) as zf:
        assert zf.namelist() == ["results.json"]
        assert json.loads(zf.read("results.json")) == _good()


def test_evaluator_reports_bad_entries() -> None:
    gt = {**SPLIT, "annotations": []}
    with pytest.raises(InvalidResultsError, match=r"entry 1 \(video 2\): rle_size"):
        evaluate_ytvis(gt, _bad("rle_size"))
    with pytest.warns(UserWarning, match="entry 1"):
        evaluate_ytvis(gt, _bad("length"), strict=False)
