"""querytrack-score on mutated ground-truth and results files: one line naming the file, exit 1, inputs intact."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from querytrack.core.rle import to_uncompressed
from querytrack.score import main
from tests.bad_input.helpers import GARBAGE_COUNTS, assert_refused, small_gt, small_results, write

TOOL = "querytrack-score"
GT = small_gt()
RES = small_results(GT)


def _first_rle(res: list[dict[str, Any]]) -> tuple[int, int]:
    """(entry, frame) of the first non-null mask of the results."""
    for i, r in enumerate(res):
        for f, s in enumerate(r["segmentations"]):
            if s is not None:
                return i, f
    raise AssertionError("no mask")


def _mutated_results(kind: str) -> Any:
    res = copy.deepcopy(RES)
    i, f = _first_rle(res)
    e = res[i]
    if kind == "object":
        return {"results": res}
    if kind == "video_id_list":
        e["video_id"] = [e["video_id"]]
    elif kind == "video_id_object":
        e["video_id"] = {"id": 1}
    elif kind == "category_id_list":
        e["category_id"] = [1]
    elif kind == "size_number":
        e["segmentations"][f]["size"] = 24
    elif kind == "size_strings":
        e["segmentations"][f]["size"] = ["24", "32"]
    elif kind == "counts_number":
        e["segmentations"][f]["counts"] = 5
    elif kind == "uncompressed_bad_sum":
        e["segmentations"][f] = {"size": [24, 32], "counts": [5, 3]}
    elif kind == "score_string":
        e["score"] = "high"
    elif kind == "one_frame_short":
        e["segmentations"] = e["segmentations"][:-1]
    return res


RESULT_CASES: dict[str, tuple[Callable[[], str], list[str]]] = {
    "not_json": (lambda: "{not json", ["not valid JSON"]),
    "empty": (lambda: "", ["empty file"]),
    "blank": (lambda: " \n", ["empty file"]),
    "object": (lambda: json.dumps(_mutated_results("object")), ["must be a JSON list", "got an object"]),
    "number": (lambda: "3", ["must be a JSON list"]),
    "nested": (lambda: "[" * 100_000, ["nested too deeply"]),
    "score_1e400": (lambda: json.dumps(RES).replace('"score": ', '"score": 1e400, "x": ', 1), ["score"]),
    "score_huge_int": (
        lambda: json.dumps(RES).replace('"score": ', '"score": 1' + "0" * 400 + ', "x": ', 1),
        ["score"],
    ),
    "score_string": (lambda: json.dumps(_mutated_results("score_string")), ["score 'high' is not a number"]),
    "video_id_list": (lambda: json.dumps(_mutated_results("video_id_list")), ["video_id must be an integer"]),
    "video_id_object": (
        lambda: json.dumps(_mutated_results("video_id_object")),
        ["video_id must be an integer"],
    ),
    "category_id_list": (
        lambda: json.dumps(_mutated_results("category_id_list")),
        ["category_id must be an integer"],
    ),
    "size_number": (lambda: json.dumps(_mutated_results("size_number")), ["rle_format"]),
    "size_strings": (lambda: json.dumps(_mutated_results("size_strings")), ["rle_format"]),
    "counts_number": (lambda: json.dumps(_mutated_results("counts_number")), ["rle_format"]),
    "uncompressed_bad_sum": (lambda: json.dumps(_mutated_results("uncompressed_bad_sum")), ["rle_invalid"]),
    "one_frame_short": (lambda: json.dumps(_mutated_results("one_frame_short")), ["length"]),
}


@pytest.mark.parametrize("hota", [True, False], ids=["hota", "ap_only"])
@pytest.mark.parametrize("kind", list(RESULT_CASES))
def test_bad_results_file(kind: str, hota: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, needles = RESULT_CASES[kind]
    gt = write(tmp_path / "gt.json", GT)
    res = tmp_path / "res.json"
    res.write_text(make())
    argv = [str(gt), str(res), "--out", str(tmp_path / "m.json")] + ([] if hota else ["--no-hota"])
    assert_refused(main, argv, capsys, TOOL, res, *needles, inputs=[gt, res])
    assert not (tmp_path / "m.json").exists()


@pytest.mark.parametrize("hota", [True, False], ids=["hota", "ap_only"])
@pytest.mark.parametrize("counts", GARBAGE_COUNTS)
def test_garbage_rle_in_results_is_refused_before_pycocotools(
    counts: str, hota: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    res_obj = copy.deepcopy(RES)
    i, f = _first_rle(res_obj)
    res_obj[i]["segmentations"][f]["counts"] = counts
    gt, res = write(tmp_path / "gt.json", GT), write(tmp_path / "res.json", res_obj)
    argv = [str(gt), str(res)] + ([] if hota else ["--no-hota"])
    err = assert_refused(main, argv, capsys, TOOL, res, "rle_invalid", inputs=[gt, res])
    assert f"entry {i} (video {res_obj[i]['video_id']})" in err and f"frame(s) {f}" in err


def _mutated_gt(kind: str) -> Any:
    gt = copy.deepcopy(GT)
    ann = gt["annotations"][0]
    f = next(t for t, s in enumerate(ann["segmentations"]) if s is not None)
    if kind == "list":
        return [gt]
    if kind == "no_videos":
        del gt["videos"]
    elif kind == "odd_polygon":
        ann["segmentations"][f] = [[1, 1, 5, 1, 5, 5, 1]]
    elif kind == "one_frame_short":
        ann["segmentations"] = ann["segmentations"][:-1]
    elif kind == "garbage_rle":
        ann["segmentations"][f]["counts"] = "\x7f\x7f!!"
    elif kind == "bbox_nan":
        ann["bboxes"][f] = [1, 2, math.nan, 3]
    elif kind == "bbox_negative":
        ann["bboxes"][f] = [1, 2, -4, 3]
    elif kind == "height_1e30":
        gt["videos"][0]["height"] = 1e30
    elif kind == "video_id_list":
        ann["video_id"] = [1]
    elif kind == "category_id_object":
        ann["category_id"] = {"id": 1}
    return gt


GT_CASES = {
    "list": ["ground truth must be a JSON object"],
    "no_videos": ["ground truth must be a JSON object with 'videos'"],
    "odd_polygon": ["annotation 1", "even number of coordinates"],
    "one_frame_short": ["annotation 1", "field 'segmentations' has"],
    "garbage_rle": ["annotation 1", "compressed RLE counts cannot be decoded"],
    "bbox_nan": ["annotation 1", "field 'bboxes'", "finite"],
    "bbox_negative": ["annotation 1", "negative box size"],
    "height_1e30": ["video 1", "'height'/'width' must be integers"],
    "video_id_list": ["annotations[0]", "unknown video id [1]"],
    "category_id_object": ["annotation 1", "field 'category_id'"],
}


@pytest.mark.parametrize("kind", list(GT_CASES))
def test_bad_ground_truth(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, res = write(tmp_path / "gt.json", _mutated_gt(kind)), write(tmp_path / "res.json", RES)
    one_line = kind not in ("height_1e30",)  # the annotations of that video are unknown too
    assert_refused(
        main, [str(gt), str(res)], capsys, TOOL, gt, *GT_CASES[kind], inputs=[gt, res], one_line=one_line
    )


def test_missing_and_folder_inputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, res = write(tmp_path / "gt.json", GT), write(tmp_path / "res.json", RES)
    assert_refused(
        main, [str(tmp_path / "no.json"), str(res)], capsys, TOOL, tmp_path / "no.json", "not found"
    )
    assert_refused(
        main, [str(gt), str(tmp_path / "no.json")], capsys, TOOL, tmp_path / "no.json", "not found"
    )
    assert_refused(main, [str(gt), str(tmp_path)], capsys, TOOL, tmp_path, "is a folder")
    bad = tmp_path / "latin1.json"
    bad.write_bytes(b'[{"video_id": "\xe9"}]')
    assert_refused(main, [str(gt), str(bad)], capsys, TOOL, bad, "not a UTF-8 text file")


@pytest.mark.parametrize("which", ["results", "gt", "results_link", "gt_hardlink", "folder"])
def test_out_may_not_be_an_input(which: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, res = write(tmp_path / "gt.json", GT), write(tmp_path / "res.json", RES)
    out = {"results": res, "gt": gt, "folder": tmp_path}.get(which, tmp_path / "out.json")
    if which == "results_link":
        out.symlink_to(res)
    elif which == "gt_hardlink":
        out.hardlink_to(gt)
    needle = "is an existing folder" if which == "folder" else "would overwrite the input"
    assert_refused(main, [str(gt), str(res), "--out", str(out)], capsys, TOOL, out, needle, inputs=[gt, res])


def test_out_is_written_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, res = write(tmp_path / "gt.json", GT), write(tmp_path / "res.json", RES)
    out = tmp_path / "m.json"
    assert main([str(gt), str(res), "--no-hota", "--out", str(out)]) == 0
    assert "AP" in json.loads(out.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "gt.json",
        "m.json",
        "res.json",
    ]  # no temporary left
    capsys.readouterr()


def test_valid_uncompressed_results_on_the_hota_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unc = [
        {**r, "segmentations": [None if s is None else to_uncompressed(s) for s in r["segmentations"]]}
        for r in RES
    ]
    gt = write(tmp_path / "gt.json", GT)
    a, b = write(tmp_path / "c.json", RES), write(tmp_path / "u.json", unc)
    assert main([str(gt), str(a), "--out", str(tmp_path / "a.json")]) == 0
    assert main([str(gt), str(b), "--out", str(tmp_path / "b.json")]) == 0
    assert "Traceback" not in capsys.readouterr().err
    ma, mb = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert ma == mb and ma["HOTA"] is not None
