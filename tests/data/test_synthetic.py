"""The synthetic set: deterministic, valid, and holding what a VIS model must learn from."""

from __future__ import annotations

import dataclasses
import filecmp
import json
from collections import Counter
from pathlib import Path

import pytest

from querytrack.data.synthetic import ensure_synthetic, generate, main
from querytrack.data.synthetic_scene import SyntheticConfig
from querytrack.data.ytvis import YTVISDataset

SMALL = SyntheticConfig(
    num_train_videos=12, num_valid_videos=2, min_frames=8, max_frames=10, height=64, width=96
)


def test_deterministic(tmp_path: Path, tiny_config: SyntheticConfig, tiny_set: Path) -> None:
    generate(tmp_path / "again", tiny_config)
    for name in ("train.json", "valid.json"):
        assert (tmp_path / "again" / name).read_text() == (tiny_set / name).read_text()
    first = json.loads((tiny_set / "train.json").read_text())["videos"][0]["file_names"][0]
    assert filecmp.cmp(
        tmp_path / "again" / "train" / "JPEGImages" / first,
        tiny_set / "train" / "JPEGImages" / first,
        shallow=False,
    )
    generate(tmp_path / "other", dataclasses.replace(tiny_config, seed=2))
    assert (tmp_path / "other" / "train.json").read_text() != (tiny_set / "train.json").read_text()


def test_valid_split_has_ground_truth(tiny_set: Path, tiny_config: SyntheticConfig) -> None:
    ds = YTVISDataset(tiny_set / "valid.json", tiny_set / "valid" / "JPEGImages", check_files=True)
    assert ds.has_annotations and len(ds) == tiny_config.num_valid_videos
    assert all(v.length >= tiny_config.min_frames for v in ds.videos)


def test_content_is_hard_enough(tmp_path: Path) -> None:
    """Same-category instances share videos; objects get occluded, enter and leave; sizes change."""
    stats = generate(tmp_path, SMALL)["train"]
    assert stats.occluded_masks > 0 and stats.entering > 0 and stats.leaving > 0
    assert sum(v > 0 for v in stats.per_category.values()) >= 4
    doc = json.loads((tmp_path / "train.json").read_text())
    per_video = Counter((a["video_id"], a["category_id"]) for a in doc["annotations"])
    assert max(per_video.values()) >= 2  # several instances of one category in one video
    areas = [a for ann in doc["annotations"] for a in ann["areas"] if a is not None]
    assert min(areas) < 0.25 * max(areas)


def test_ensure_synthetic_generates_once(tmp_path: Path, tiny_config: SyntheticConfig) -> None:
    folder = ensure_synthetic(tmp_path, tiny_config)
    assert folder.name == f"synthetic-{tiny_config.digest()}" and (folder / "meta.json").is_file()
    stamp = (folder / "train.json").stat().st_mtime_ns
    assert ensure_synthetic(tmp_path, tiny_config) == folder
    assert (folder / "train.json").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]  # no temporary folder left behind


def test_cli_prints_statistics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "--out",
                str(tmp_path),
                "--num-train-videos",
                "2",
                "--num-valid-videos",
                "1",
                "--height",
                "48",
                "--width",
                "64",
                "--min-frames",
                "3",
                "--max-frames",
                "4",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "train" in out and "valid" in out and "instances" in out and "occluded_masks" in out
    assert len(json.loads((tmp_path / "valid.json").read_text())["videos"]) == 1


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--max-frames", "8"], "--max-frames 8 is below --min-frames 12"),
        (["--min-objects", "9"], "--min-objects"),
    ],
)
def test_cli_inverted_range_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], named: str
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--out", str(tmp_path / "out"), *flags])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err and "internal error" not in err
    assert not (tmp_path / "out").exists()
