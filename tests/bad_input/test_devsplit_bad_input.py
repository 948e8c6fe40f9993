"""querytrack-devsplit on malformed train files and output paths: one line, exit 1, nothing written."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from querytrack.data.devsplit import main
from tests.bad_input.helpers import assert_refused, small_gt, write

TOOL = "querytrack-devsplit"
GT = small_gt()


def _doc(kind: str) -> Any:
    d = copy.deepcopy(GT)
    if kind == "list":
        return [d]
    if kind == "no_videos":
        del d["videos"]
    elif kind == "videos_object":
        d["videos"] = {"1": d["videos"][0]}
    elif kind == "video_id_list":
        d["videos"][0]["id"] = [1]
    elif kind == "video_not_object":
        d["videos"][0] = 7
    elif kind == "annotation_unknown_video":
        d["annotations"][0]["video_id"] = 99
    elif kind == "annotations_object":
        d["annotations"] = {}
    elif kind == "duplicate_video":
        d["videos"][1]["id"] = d["videos"][0]["id"]
    return d


CASES = {
    "list": ["top level must be an object"],
    "no_videos": ["missing top-level key 'videos'"],
    "videos_object": ["top-level 'videos' must be a list"],
    "video_id_list": ["videos[0]: field 'id' must be an integer"],
    "video_not_object": ["videos[0]: must be an object"],
    "annotation_unknown_video": ["annotation 1", "unknown video id 99"],
    "annotations_object": ["top-level 'annotations' must be a list"],
    "duplicate_video": ["video 1: duplicate video id"],
}


@pytest.mark.parametrize("kind", list(CASES))
def test_malformed_train_json(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path / "train.json", _doc(kind))
    one_line = kind not in ("video_id_list", "video_not_object", "duplicate_video")  # its annotations too
    assert_refused(
        main,
        [str(src), "--count", "1"],
        capsys,
        TOOL,
        src,
        *CASES[kind],
        inputs=[tmp_path],
        one_line=one_line,
    )
    assert [p.name for p in tmp_path.iterdir()] == ["train.json"]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (None, "not found"),
        ("", "empty file"),
        ("{oops", "not valid JSON"),
        ("[" * 100_000, "nested too deeply"),
    ],
    ids=["missing", "empty", "not_json", "nested"],
)
def test_unreadable_train_json(
    text: str | None, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "train.json"
    if text is not None:
        src.write_text(text)
    assert_refused(main, [str(src)], capsys, TOOL, src, needle)
    assert list(tmp_path.glob("*_part*")) == []


def test_folder_and_too_many_videos(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(main, [str(tmp_path)], capsys, TOOL, tmp_path, "is a folder")
    src = write(tmp_path / "train.json", GT)
    assert_refused(
        main, [str(src), "--count", "3"], capsys, TOOL, src, "cannot hold out 3 of 3 videos", inputs=[src]
    )


@pytest.mark.parametrize("arg", [["--fraction", "1.5"], ["--fraction", "nan"], ["--count", "0"]])
def test_bad_numbers_are_usage_errors(
    arg: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = write(tmp_path / "train.json", GT)
    with pytest.raises(SystemExit) as info:
        main([str(src), *arg])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "must be" in err and "Traceback" not in err


def test_output_may_not_be_the_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path / "train.json", GT)
    out = tmp_path / "o"
    out.mkdir()
    (out / "train_val_part.json").symlink_to(src)
    assert_refused(
        main,
        [str(src), "--out-dir", str(out)],
        capsys,
        TOOL,
        out / "train_val_part.json",
        "would overwrite the input",
        inputs=[src],
    )
    assert not (out / "train_train_part.json").exists()


def test_out_dir_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write(tmp_path / "train.json", GT)
    blocker = tmp_path / "o"
    blocker.write_text("keep me")
    assert_refused(
        main, [str(src), "--out-dir", str(blocker)], capsys, TOOL, blocker, "cannot create the output folder"
    )
    assert blocker.read_text() == "keep me"
