"""Reader round-trip and one test per validator error."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from querytrack.check_data import main
from querytrack.core import rle
from querytrack.core.ytvis_format import YTVISFormatError, validate
from querytrack.data.datasets import read_frame
from querytrack.data.ytvis import FrameReadError, YTVISDataset

H, W = 6, 8


def _mask(y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((H, W), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def _doc() -> dict[str, Any]:
    """One video of 3 frames; instance 10 (cat 7) in frames 0-1, instance 11 (cat 3) in frames 1-2."""
    a0, a1 = _mask(1, 3, 2, 5), _mask(2, 4, 3, 6)
    b1, b2 = _mask(0, 2, 0, 2), _mask(4, 6, 6, 8)
    return {
        "categories": [{"id": 7, "name": "seven"}, {"id": 3, "name": "three"}],
        "videos": [
            {"id": 5, "width": W, "height": H, "length": 3, "file_names": ["v/0.jpg", "v/1.jpg", "v/2.jpg"]}
        ],
        "annotations": [
            {
                "id": 10,
                "video_id": 5,
                "category_id": 7,
                "segmentations": [rle.encode_uncompressed(a0), rle.encode_compressed(a1), None],
                "bboxes": [[2, 1, 3, 2], [3, 2, 3, 2], None],
                "areas": [6, 6, None],
                "iscrowd": 0,
            },
            {
                "id": 11,
                "video_id": 5,
                "category_id": 3,
                "segmentations": [None, [[0, 0, 2, 0, 2, 2, 0, 2]], rle.encode_uncompressed(b2)],
                "iscrowd": 0,
            },
        ],
        "_masks": {"a0": a0, "a1": a1, "b1": b1, "b2": b2},
    }


def _write(tmp_path: Path, doc: dict[str, Any], frames: bool = True) -> Path:
    doc = {k: v for k, v in doc.items() if not k.startswith("_")}
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    if frames:
        for v in doc.get("videos", []):
            for name in v.get("file_names", []):
                (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
                Image.new("RGB", (v["width"], v["height"]), (10, 20, 30)).save(tmp_path / name)
    return path


def test_round_trip(tmp_path: Path) -> None:
    doc = _doc()
    ds = YTVISDataset(_write(tmp_path, doc), tmp_path, check_files=True)
    assert ds.num_classes == 2
    assert ds.class_names == ["three", "seven"]  # sorted by id
    assert ds.cat_id_to_label == {3: 0, 7: 1}
    assert ds.summary() == {"videos": 1, "frames": 3, "categories": 2, "instances": 2, "masks": 4}
    f0 = ds.frame_annotation(5, 0)
    assert f0.instance_ids.tolist() == [10] and f0.category_ids.tolist() == [7]
    np.testing.assert_array_equal(f0.masks[0], doc["_masks"]["a0"])
    np.testing.assert_array_equal(f0.boxes[0], [2, 1, 5, 3])
    f1 = ds.frame_annotation(5, 1)
    assert f1.instance_ids.tolist() == [10, 11]
    np.testing.assert_array_equal(f1.masks[0], doc["_masks"]["a1"])
    # polygon of a 2x2 square: pycocotools rasterises it to the top-left 2x2 pixels
    np.testing.assert_array_equal(f1.masks[1], doc["_masks"]["b1"])
    f2 = ds.frame_annotation(5, 2)
    assert f2.instance_ids.tolist() == [11]
    np.testing.assert_array_equal(f2.boxes[0], [6, 4, 8, 6])  # no bboxes field: derived from the mask
    assert read_frame(ds, ds.videos[0], 0).shape == (3, H, W)


def test_synthetic_set_is_valid(tiny_set: Path) -> None:
    for split in ("train", "valid"):
        ds = YTVISDataset(tiny_set / f"{split}.json", tiny_set / split / "JPEGImages", check_files=True)
        assert ds.has_annotations and ds.summary()["instances"] > 0


def test_test_split_without_annotations_is_valid(tmp_path: Path) -> None:
    doc = _doc()
    del doc["annotations"]
    ds = YTVISDataset(_write(tmp_path, doc), tmp_path)
    assert not ds.has_annotations and ds.frame_annotation(5, 0).masks.shape == (0, H, W)


def _problems(doc: dict[str, Any]) -> list[str]:
    return validate({k: v for k, v in doc.items() if not k.startswith("_")})


def _one(doc: dict[str, Any]) -> str:
    problems = _problems(doc)
    assert len(problems) == 1, problems
    return problems[0]


def test_valid_doc_has_no_problems() -> None:
    assert _problems(_doc()) == []


@pytest.mark.parametrize("key", ["videos", "categories"])
def test_missing_top_level_key(key: str) -> None:
    doc = _doc()
    del doc[key]
    assert f"missing top-level key '{key}'" in _one(doc)


def test_missing_video_field() -> None:
    doc = _doc()
    del doc["videos"][0]["height"]
    msg = _problems(doc)[0]
    assert "video 5" in msg and "'height'" in msg


def test_length_differs_from_file_names() -> None:
    doc = _doc()
    doc["videos"][0]["length"] = 4
    msg = _one(doc)
    assert "video 5" in msg and "'length' is 4" in msg and "3 frames" in msg


@pytest.mark.parametrize("field", ["segmentations", "bboxes", "areas"])
def test_per_frame_list_length_differs(field: str) -> None:
    doc = _doc()
    doc["annotations"][0][field] = doc["annotations"][0][field][:2]
    msg = _one(doc)
    assert "video 5, annotation 10" in msg and f"'{field}' has 2 entries" in msg and "3 frames" in msg


def test_rle_of_wrong_size() -> None:
    doc = _doc()
    doc["annotations"][0]["segmentations"][1] = rle.encode_compressed(np.zeros((H + 1, W), bool))
    msg = _one(doc)
    assert "annotation 10" in msg and "frame 1" in msg and "RLE size [7, 8]" in msg


def test_uncompressed_rle_counts_do_not_sum() -> None:
    doc = _doc()
    doc["annotations"][0]["segmentations"][0]["counts"][-1] += 1
    assert "sum to 49" in _one(doc)


def test_bad_polygon() -> None:
    doc = _doc()
    doc["annotations"][1]["segmentations"][1] = [[0, 0, 1]]
    msg = _one(doc)
    assert "annotation 11" in msg and "frame 1" in msg and "polygon" in msg


def test_category_not_in_categories() -> None:
    doc = _doc()
    doc["annotations"][1]["category_id"] = 99
    msg = _one(doc)
    assert "annotation 11" in msg and "'category_id': 99 is not in 'categories'" in msg


def test_unknown_video_id() -> None:
    doc = _doc()
    doc["annotations"][1]["video_id"] = 6
    assert "unknown video id 6" in _one(doc)


def test_empty_video() -> None:
    doc = _doc()
    doc["videos"].append({"id": 9, "width": W, "height": H, "length": 0, "file_names": []})
    msg = _one(doc)
    assert "video 9" in msg and "empty video" in msg


def test_duplicate_ids() -> None:
    doc = _doc()
    doc["annotations"][1]["id"] = 10
    doc["videos"].append(copy.deepcopy(doc["videos"][0]))
    problems = _problems(doc)
    assert any("duplicate annotation id" in p for p in problems)
    assert any("duplicate video id" in p for p in problems)


def test_bad_box() -> None:
    doc = _doc()
    doc["annotations"][0]["bboxes"][0] = [1, 2, 3]
    assert "'bboxes', frame 0" in _one(doc)


def test_every_problem_is_reported_with_the_file_name(tmp_path: Path) -> None:
    doc = _doc()
    doc["annotations"][1]["category_id"] = 99
    doc["videos"][0]["length"] = 4
    path = _write(tmp_path, doc)
    with pytest.raises(YTVISFormatError) as info:
        YTVISDataset(path, tmp_path)
    assert len(info.value.problems) == 2
    assert str(path) in str(info.value) and "2 problem(s)" in str(info.value)


def test_invalid_json_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(YTVISFormatError, match=r"(?s)bad.json.*not valid JSON"):
        YTVISDataset(bad, tmp_path)
    with pytest.raises(YTVISFormatError, match=r"(?s)nope.json.*file not found"):
        YTVISDataset(tmp_path / "nope.json", tmp_path)


def test_missing_frame_files_checked_eagerly(tmp_path: Path) -> None:
    path = _write(tmp_path, _doc())
    (tmp_path / "v" / "1.jpg").unlink()
    with pytest.raises(YTVISFormatError, match=r"video 5, frame 1: missing frame file .*v/1.jpg"):
        YTVISDataset(path, tmp_path, check_files=True)


def test_missing_frame_file_reported_lazily(tmp_path: Path) -> None:
    path = _write(tmp_path, _doc())
    (tmp_path / "v" / "2.jpg").unlink()
    ds = YTVISDataset(path, tmp_path)
    with pytest.raises(FrameReadError, match=r"v/2.jpg: video 5, frame 2: missing frame file"):
        read_frame(ds, ds.videos[0], 2)


def test_corrupt_frame_and_wrong_size(tmp_path: Path) -> None:
    path = _write(tmp_path, _doc())
    (tmp_path / "v" / "0.jpg").write_bytes(b"\xff\xd8\xff garbage")
    Image.new("RGB", (W + 2, H), (0, 0, 0)).save(tmp_path / "v" / "1.jpg")
    ds = YTVISDataset(path, tmp_path)
    with pytest.raises(FrameReadError, match=r"v/0.jpg: video 5, frame 0: cannot decode"):
        read_frame(ds, ds.videos[0], 0)
    with pytest.raises(FrameReadError, match=r"video 5, frame 1: frame is 6x10 but the video declares 6x8"):
        read_frame(ds, ds.videos[0], 1)


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _doc()
    path = _write(tmp_path, doc)
    assert main([str(path), "--check-files"]) == 0
    assert "OK" in capsys.readouterr().out
    doc["annotations"][1]["category_id"] = 99
    path = _write(tmp_path, doc)
    assert main([str(path)]) == 1
    assert "not in 'categories'" in capsys.readouterr().err
