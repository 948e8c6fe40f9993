"""querytrack-check-data (and the dataset it guards) on mutated annotation files: every class refused."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from querytrack.check_data import main
from querytrack.core.rle import encode_masks, to_uncompressed
from querytrack.core.ytvis_format import YTVISFormatError, validate
from querytrack.data.ytvis import YTVISDataset
from tests.bad_input.helpers import GARBAGE_COUNTS, assert_refused, small_gt, write

TOOL = "querytrack-check-data"
GT = small_gt()


def _mutate(kind: str) -> Any:
    d = copy.deepcopy(GT)
    ann = d["annotations"][0]
    f = next(t for t, s in enumerate(ann["segmentations"]) if s is not None)
    if kind == "garbage_rle":
        ann["segmentations"][f]["counts"] = "\x7f\x7f!!"
    elif kind == "rle_wrong_total":
        other = encode_masks(np.ones((1, 24, 33), dtype=bool))[0]
        ann["segmentations"][f]["counts"] = other["counts"]
    elif kind == "rle_size_number":
        ann["segmentations"][f]["size"] = 24
    elif kind == "uncompressed_negative":
        unc = to_uncompressed(ann["segmentations"][f])
        unc["counts"][0] = -1
        ann["segmentations"][f] = unc
    elif kind == "odd_polygon":
        ann["segmentations"][f] = [[1, 1, 5, 1, 5, 5, 1]]
    elif kind == "polygon_nan":
        ann["segmentations"][f] = [[1, 1, 5, 1, 5, math.nan]]
    elif kind == "bbox_nan":
        ann["bboxes"][f] = [math.nan, 1, 2, 3]
    elif kind == "bbox_negative":
        ann["bboxes"][f] = [1, 1, 2, -3]
    elif kind == "bbox_inf":
        ann["bboxes"][f] = [1, 1, math.inf, 3]
    elif kind == "area_negative":
        ann["areas"][f] = -5
    elif kind == "iscrowd_string":
        ann["iscrowd"] = "yes"
    elif kind == "annotation_id_list":
        ann["id"] = [1]
    elif kind == "category_id_list":
        ann["category_id"] = [1]
    elif kind == "height_huge":
        d["videos"][0]["height"] = 10**30
    return d


CASES = {
    "garbage_rle": "compressed RLE counts cannot be decoded",
    "rle_wrong_total": "compressed RLE counts cannot be decoded",
    "rle_size_number": "RLE size must be [height, width]",
    "uncompressed_negative": "non-negative integers",
    "odd_polygon": "even number of coordinates",
    "polygon_nan": "finite numbers",
    "bbox_nan": "field 'bboxes'",
    "bbox_negative": "negative box size",
    "bbox_inf": "field 'bboxes'",
    "area_negative": "field 'areas'",
    "iscrowd_string": "field 'iscrowd' must be 0 or 1",
    "annotation_id_list": "field 'id' must be an integer",
    "category_id_list": "field 'category_id'",
    "height_huge": "'height'/'width' must be integers",
}


@pytest.mark.parametrize("kind", list(CASES))
def test_mutated_annotation_file(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "ann.json", _mutate(kind))
    assert_refused(
        main, [str(path)], capsys, TOOL, path, CASES[kind], inputs=[path], one_line=kind != "height_huge"
    )
    with pytest.raises(YTVISFormatError):  # the dataset refuses it too: training never sees it
        YTVISDataset(path, tmp_path)


@pytest.mark.parametrize("counts", GARBAGE_COUNTS)
def test_garbage_rle_strings_never_reach_pycocotools(counts: str) -> None:
    d = copy.deepcopy(GT)
    ann = d["annotations"][1]
    f = next(t for t, s in enumerate(ann["segmentations"]) if s is not None)
    ann["segmentations"][f]["counts"] = counts
    (problem,) = validate(d)
    assert f"annotation {ann['id']}: field 'segmentations', frame(s) {f}: compressed RLE" in problem


def test_valid_file_and_decoded_masks_are_binary(tmp_path: Path) -> None:
    path = write(tmp_path / "ann.json", GT)
    ds = YTVISDataset(path, tmp_path)
    v = ds.videos[0]
    for t in range(v.length):
        masks = ds.frame_annotation(v.id, t).masks
        assert set(np.unique(masks).tolist()) <= {0, 1}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe{\x00}\x00", "not a UTF-8 text file"),
        (b"[" * 100_000, "nested too deeply"),
        (b"", "empty file"),
        (b'{"videos": [', "not valid JSON"),
    ],
    ids=["utf16", "nested", "empty", "truncated"],
)
def test_unreadable_file(
    content: bytes, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ann.json"
    path.write_bytes(content)
    assert_refused(main, [str(path)], capsys, TOOL, path, needle, inputs=[path])


def test_folder_and_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert_refused(main, [str(tmp_path)], capsys, TOOL, tmp_path, "is a folder")
    assert_refused(main, [str(tmp_path / "none.json")], capsys, TOOL, tmp_path / "none.json", "not found")


def test_overlong_frame_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = copy.deepcopy(GT)
    v = d["videos"][0]
    v["file_names"] = [f"{'x' * 300}/{i}.jpg" for i in range(len(v["file_names"]))]
    path = write(tmp_path / "ann.json", d)
    err = assert_refused(
        main, [str(path), "--check-files"], capsys, TOOL, path, "video 1, frame 0", one_line=False
    )
    assert "cannot check frame file" in err or "missing frame file" in err
