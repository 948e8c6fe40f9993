"""querytrack-submit on mutated results and split files: one line naming the file, exit 1, nothing written."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from querytrack.submit import main
from tests.bad_input.helpers import assert_refused, small_gt, small_results, write

TOOL = "querytrack-submit"
GT = small_gt()
SPLIT = {k: v for k, v in GT.items() if k != "annotations"}
RES = small_results(GT)


def _split(kind: str) -> Any:
    s = copy.deepcopy(SPLIT)
    if kind == "no_videos":
        del s["videos"]
    elif kind == "height_1e30":
        s["videos"][0]["height"] = 1e30
    elif kind == "height_huge_int":
        s["videos"][0]["height"] = 10**30
    elif kind == "width_zero":
        s["videos"][0]["width"] = 0
    elif kind == "list":
        return [s]
    elif kind == "category_id_list":
        s["categories"][0]["id"] = [1]
    return s


SPLIT_CASES = {
    "no_videos": ["missing top-level key 'videos'"],
    "height_1e30": ["video 1", "'height'/'width' must be integers"],
    "height_huge_int": ["video 1", "'height'/'width' must be integers"],
    "width_zero": ["video 1", "'height'/'width' must be integers"],
    "list": ["top level must be an object"],
    "category_id_list": ["categories[0]", "integer 'id'"],
}


@pytest.mark.parametrize("kind", list(SPLIT_CASES))
def test_bad_split(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res, split = write(tmp_path / "res.json", RES), write(tmp_path / "split.json", _split(kind))
    out = tmp_path / "s.zip"
    argv = [str(res), "--split", str(split), "--out", str(out)]
    assert_refused(main, argv, capsys, TOOL, split, *SPLIT_CASES[kind], inputs=[res, split])
    assert not out.exists()


FILE_CASES = {
    "missing": (None, "not found"),
    "not_json": ("{not json", "not valid JSON"),
    "empty": ("", "empty file"),
    "nested": ("[" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("which", ["results", "split"])
@pytest.mark.parametrize("kind", list(FILE_CASES))
def test_unreadable_file(which: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res, split = write(tmp_path / "res.json", RES), write(tmp_path / "split.json", SPLIT)
    text, needle = FILE_CASES[kind]
    bad = res if which == "results" else split
    if text is None:
        bad.unlink()
    else:
        bad.write_text(text)
    out = tmp_path / "s.zip"
    assert_refused(main, [str(res), "--split", str(split), "--out", str(out)], capsys, TOOL, bad, needle)
    assert not out.exists()


def test_results_object(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res, split = write(tmp_path / "res.json", {"videos": RES}), write(tmp_path / "split.json", SPLIT)
    argv = [str(res), "--split", str(split), "--out", str(tmp_path / "s.zip")]
    assert_refused(main, argv, capsys, TOOL, res, "must be a JSON list", inputs=[res, split])


@pytest.mark.parametrize("which", ["results", "split", "results_link"])
def test_out_may_not_be_an_input(which: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res, split = write(tmp_path / "res.json", RES), write(tmp_path / "split.json", SPLIT)
    out = {"results": res, "split": split}.get(which, tmp_path / "link.zip")
    if which == "results_link":
        out.symlink_to(res)
    argv = [str(res), "--split", str(split), "--out", str(out)]
    assert_refused(main, argv, capsys, TOOL, out, "would overwrite the input", inputs=[res, split])
    json.loads(res.read_text())  # still the results, not a zip


def test_bad_entry_is_one_line_naming_entry_and_video(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = copy.deepcopy(RES)
    bad[0]["video_id"] = [1]
    res, split = write(tmp_path / "res.json", bad), write(tmp_path / "split.json", SPLIT)
    argv = [str(res), "--split", str(split), "--out", str(tmp_path / "s.zip")]
    assert_refused(
        main, argv, capsys, TOOL, res, "entry 0", "video_id must be an integer", inputs=[res, split]
    )
