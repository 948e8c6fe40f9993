"""Datasets as downloaded: the official layouts found from the root alone, the missing-data error, custom sets.

The layouts are made from the synthetic generator's output (``tiny_set``: ``train.json`` + ``train/JPEGImages``)
with the json and frames moved to the official names.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from querytrack.checkpoints.class_map import TABLES
from querytrack.core.config_path import config_dir
from querytrack.core.errors import UserError
from querytrack.data.datamodule import YTVISDataModule
from querytrack.data.layout import DEMO_COMMAND, find_layout

CONF = config_dir()


def make_layout(tiny_set: Path, root: Path, layout: str) -> Path:
    """Copy ``tiny_set``'s training split into ``root`` in ``layout``'s official places; return ``root``.

    Each root also gets the official (unlabelled) validation json, which must not be taken for ground truth.
    """
    ann, images = {
        "ytvis19": ("train.json", "train/JPEGImages"),
        "ytvis21": ("train/instances.json", "train/JPEGImages"),
        "ovis": ("annotations_train.json", "train"),
        "ovis_annotations": ("annotations/annotations_train.json", "train"),
    }[layout]
    shutil.copytree(tiny_set / "train" / "JPEGImages", root / images)
    (root / ann).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(tiny_set / "train.json", root / ann)
    valid = json.loads((tiny_set / "valid.json").read_text())
    del valid["annotations"]
    valid_name = ann.replace("train", "valid")
    (root / valid_name).parent.mkdir(parents=True, exist_ok=True)
    (root / valid_name).write_text(json.dumps(valid))
    return root


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own ``$QUERYTRACK_CACHE`` (the held-out ground truth goes there)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("QUERYTRACK_CACHE", str(cache))
    for env in ("YTVIS19_ROOT", "YTVIS21_ROOT", "YTVIS22_ROOT", "OVIS_ROOT"):
        monkeypatch.delenv(env, raising=False)
    return cache


def data_module(data: str, *overrides: str) -> YTVISDataModule:
    """``conf/data/<data>.yaml`` composed with the paper augmentation, no loader workers."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(overrides=[f"+data={data}", "+augmentation=paper", "data.num_workers=0", *overrides])
    return instantiate(cfg.data)


def _train_ids(dm: YTVISDataModule) -> list[int]:
    assert dm.train_set is not None
    return sorted(v.id for v in dm.train_set.ytvis.videos)


def _val_ids(dm: YTVISDataModule) -> list[int]:
    assert dm.val_set is not None
    return sorted(v.id for v in dm.val_set.ytvis.videos)


@pytest.mark.parametrize(
    ("dataset", "layout"),
    [("ytvis19", "ytvis19"), ("ytvis21", "ytvis21"), ("ytvis22", "ytvis21"), ("ovis", "ovis"),
     ("ovis", "ovis_annotations"), (None, "ytvis21"), (None, "ovis")],
)  # fmt: skip
def test_each_layout_is_found_from_the_root(
    tiny_set: Path, tmp_path: Path, dataset: str, layout: str
) -> None:
    root = make_layout(tiny_set, tmp_path / "data", layout)
    found = find_layout(root, dataset)
    assert found.name == layout and found.root == root
    assert found.train_ann.read_bytes() == (tiny_set / "train.json").read_bytes()
    first = json.loads(found.train_ann.read_text())["videos"][0]["file_names"][0]
    assert (found.train_images / first).is_file()
    assert found.val_ann is None and found.val_images == found.train_images  # official valid: no ground truth
    assert str(root) in found.describe() and layout in found.describe()


def test_missing_data_is_one_line_naming_the_root_the_layouts_and_the_demo(tmp_path: Path) -> None:
    with pytest.raises(UserError) as unset:
        find_layout(None, "ytvis21")
    message = str(unset.value)
    assert "\n" not in message and message.startswith("no YouTube-VIS 2021 data: YTVIS21_ROOT is not set")
    assert "data.root=DIR" in message and "train/instances.json + train/JPEGImages/" in message
    assert DEMO_COMMAND in message and "python -m querytrack.run experiment=synthetic" in message

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError) as nothing:
        find_layout(empty, "ovis")
    message = str(nothing.value)
    assert "\n" not in message and message.startswith(f"{empty}: no OVIS layout found")
    assert "annotations_train.json + train/ or annotations/annotations_train.json + train/" in message
    assert "OVIS_ROOT" in message and DEMO_COMMAND in message

    with pytest.raises(UserError, match="no such folder") as missing:
        find_layout(tmp_path / "nowhere", "ytvis19")
    assert "train.json + train/JPEGImages/" in str(missing.value) and "\n" not in str(missing.value)

    (empty / "train").mkdir()
    (empty / "train" / "instances.json").write_text("{}")
    with pytest.raises(UserError, match=r"found train/instances\.json but not train/JPEGImages/"):
        find_layout(empty, "ytvis22")
    with pytest.raises(UserError, match=r"^no YouTube-VIS-format data: data.root is not given"):
        find_layout(None, None)


def test_a_2019_root_is_not_taken_for_2021(tiny_set: Path, tmp_path: Path) -> None:
    root = make_layout(tiny_set, tmp_path / "data", "ytvis19")
    with pytest.raises(UserError, match="no YouTube-VIS 2021 layout found"):
        find_layout(root, "ytvis21")


def test_missing_data_stops_before_loading_anything(tmp_path: Path) -> None:
    """The data module is built without looking; the first use raises the one-line error."""
    dm = data_module("ytvis21")
    assert dm.root is None
    with pytest.raises(UserError, match="YTVIS21_ROOT is not set"):
        dm.setup("fit")


@pytest.mark.parametrize(
    ("data", "layout"), [("ytvis19", "ytvis19"), ("ytvis21", "ytvis21"), ("ovis", "ovis")]
)
def test_official_layout_trains_and_validates_on_a_held_out_part(
    tiny_set: Path, tmp_path: Path, data: str, layout: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_layout(tiny_set, tmp_path / "data", layout)
    run_dir = tmp_path / "run"
    dm = data_module(data, f"data.root={root}", f"+data.holdout_dir={run_dir}")
    dm.setup("fit")
    train, held = _train_ids(dm), _val_ids(dm)
    all_ids = sorted(v["id"] for v in json.loads((tiny_set / "train.json").read_text())["videos"])
    assert len(held) == 1 and len(train) == len(all_ids) - 1  # 5 % of 4 videos: at least one
    assert not set(train) & set(held) and sorted(train + held) == all_ids
    record = json.loads((run_dir / "holdout_videos.json").read_text())
    assert record["video_ids"] == held and record["num_videos"] == 1
    assert (
        f"validation: 1 video held out of train (ids in {run_dir / 'holdout_videos.json'}"
        in capsys.readouterr().out
    )
    # Validation scores against the held-out videos' ground truth alone.
    assert dm.val_ann is not None and Path(dm.val_ann).parent == tmp_path / "cache" / "holdout"
    gt = json.loads(Path(dm.val_ann).read_text())
    assert sorted(v["id"] for v in gt["videos"]) == held
    assert {a["video_id"] for a in gt["annotations"]} <= set(held) and gt["annotations"]
    assert dm.val_set is not None and dm.val_set.ytvis.ann_file == Path(dm.val_ann)
    clip = dm.val_set[0]
    assert next(iter(clip)).image.shape[-2:] == (tiny_set_height(tiny_set), tiny_set_width(tiny_set))
    assert dm.num_classes == 5
    line = dm.describe()
    assert str(root) in line and f"layout {layout}" in line and "3 train / 1 validation videos" in line


def tiny_set_height(tiny_set: Path) -> int:
    return int(json.loads((tiny_set / "train.json").read_text())["videos"][0]["height"])


def tiny_set_width(tiny_set: Path) -> int:
    return int(json.loads((tiny_set / "train.json").read_text())["videos"][0]["width"])


def test_held_out_training_pairs_load(tiny_set: Path, tmp_path: Path) -> None:
    root = make_layout(tiny_set, tmp_path / "data", "ovis")  # frames in train/<video>/, not JPEGImages
    dm = data_module("ovis", f"data.root={root}", "data.batch_size=2", "data.holdout.count=2")
    batch = next(iter(dm.train_dataloader()))
    assert len(batch) == 2 and set(batch.key.video_ids) <= set(_train_ids(dm))
    assert len(_val_ids(dm)) == 2


def test_held_out_part_is_deterministic_and_reuses_its_cache(
    tiny_set: Path, tmp_path: Path, _cache: Path
) -> None:
    root = make_layout(tiny_set, tmp_path / "data", "ytvis21")
    first = data_module("ytvis21", f"data.root={root}", "data.holdout.count=2")
    first.setup("fit")
    assert first.holdout is not None and not first.holdout.reused
    cached = first.holdout.ground_truth
    again = data_module("ytvis21", f"data.root={root}", "data.holdout.count=2")
    again.setup("fit")
    assert again.holdout is not None and again.holdout.reused and again.holdout.ground_truth == cached
    assert _val_ids(again) == _val_ids(first) and _train_ids(again) == _train_ids(first)
    # Without the cache (another rank's or machine's) the same videos are chosen: nothing rank-dependent.
    elsewhere = data_module(
        "ytvis21", f"data.root={root}", "data.holdout.count=2", f"+data.cache_dir={tmp_path / 'c2'}"
    )
    elsewhere.setup("fit")
    assert _val_ids(elsewhere) == _val_ids(first) and elsewhere.holdout is not None
    assert elsewhere.holdout.ground_truth.read_bytes() == cached.read_bytes()
    # Another seed or size: another cache entry.
    other = data_module("ytvis21", f"data.root={root}", "data.holdout.count=2", "data.holdout.seed=7")
    other.setup("fit")
    assert other.holdout is not None and other.holdout.ground_truth != cached

    # The cached file is what is used: replace its videos by another valid choice and a new run takes it.
    from querytrack.data.devsplit import split_dataset, video_ids_checksum

    doc = json.loads((root / "train" / "instances.json").read_text())
    swapped = sorted(set(_train_ids(first)))[:2]
    _, part = split_dataset(doc, swapped)
    part["info"] = {"holdout": {"val_video_ids_sha256": video_ids_checksum(swapped)}}
    cached.write_text(json.dumps(part))
    reused = data_module("ytvis21", f"data.root={root}", "data.holdout.count=2")
    reused.setup("fit")
    assert _val_ids(reused) == swapped and not set(_train_ids(reused)) & set(swapped)
    # A damaged cache file is made again.
    cached.write_text("{not json")
    remade = data_module("ytvis21", f"data.root={root}", "data.holdout.count=2")
    remade.setup("fit")
    assert remade.holdout is not None and not remade.holdout.reused and _val_ids(remade) == _val_ids(first)


def test_a_given_validation_json_is_used_instead(tiny_set: Path, tmp_path: Path) -> None:
    root = make_layout(tiny_set, tmp_path / "data", "ytvis19")
    shutil.copyfile(tiny_set / "valid.json", root / "dev.json")
    shutil.copytree(tiny_set / "valid" / "JPEGImages", root / "valid" / "JPEGImages")
    dm = data_module(
        "ytvis19", f"data.root={root}", "data.val_ann=dev.json", "data.val_images=valid/JPEGImages"
    )
    dm.setup("fit")
    assert dm.holdout is None and dm.val_ann == str(root / "dev.json")
    assert _train_ids(dm) == sorted(
        v["id"] for v in json.loads((tiny_set / "train.json").read_text())["videos"]
    )
    assert _val_ids(dm) == sorted(
        v["id"] for v in json.loads((tiny_set / "valid.json").read_text())["videos"]
    )
    assert not (tmp_path / "cache" / "holdout").exists()
    with pytest.raises(UserError, match=r"data\.val_ann: no such file"):
        data_module("ytvis19", f"data.root={root}", "data.val_ann=missing.json").setup("fit")


def _custom_set(tiny_set: Path, root: Path) -> dict[str, Any]:
    """A YouTube-VIS-format set with three categories of its own (ids 101-103), in the 2021 layout."""
    make_layout(tiny_set, root, "ytvis21")
    doc = json.loads((root / "train" / "instances.json").read_text())
    doc["categories"] = [{"id": 101 + i, "name": n} for i, n in enumerate(("kelp", "ray", "diver"))]
    doc["annotations"] = [{**a, "category_id": 101 + a["category_id"] % 3} for a in doc["annotations"]]
    (root / "train" / "instances.json").write_text(json.dumps(doc))
    return doc


def test_custom_dataset_takes_its_classes_from_its_json(tiny_set: Path, tmp_path: Path) -> None:
    root = tmp_path / "custom"
    _custom_set(tiny_set, root)
    dm = data_module("custom", f"data.root={root}")
    assert dm.coco_class_map is None
    dm.setup("fit")
    assert dm.num_classes == 3 and dm.train_set is not None
    assert dm.train_set.ytvis.class_names == ["kelp", "ray", "diver"]
    assert dm.train_set.ytvis.label_to_cat_id == [101, 102, 103] and dm.layout.name == "ytvis21"
    with pytest.raises(UserError, match=r"^no YouTube-VIS-format data: data.root is not given"):
        data_module("custom").setup("fit")


def test_custom_dataset_with_its_own_file_names(tiny_set: Path, tmp_path: Path) -> None:
    root = tmp_path / "custom"
    shutil.copytree(tiny_set / "train" / "JPEGImages", root / "frames")
    shutil.copyfile(tiny_set / "train.json", root / "labels.json")
    dm = data_module("custom", f"data.root={root}", "data.train_ann=labels.json", "data.train_images=frames")
    dm.setup("fit")
    assert dm.layout.name == "given" and len(_train_ids(dm)) == 3 and len(_val_ids(dm)) == 1
    with pytest.raises(UserError, match=r"give data\.train_ann and data\.train_images together"):
        data_module("custom", f"data.root={root}", "data.train_ann=labels.json").setup("fit")


def test_root_defaults_to_the_environment_variable(
    tiny_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_layout(tiny_set, tmp_path / "data", "ytvis21")
    monkeypatch.setenv("YTVIS22_ROOT", str(root))
    dm = data_module("ytvis22")
    assert dm.root == str(root) and dm.layout.name == "ytvis21"
    assert data_module("ytvis22", f"data.root={tmp_path / 'other'}").root == str(tmp_path / "other")


def test_video_coco_mix_works_with_the_found_layout(tiny_set: Path, tmp_path: Path, tiny_config: Any) -> None:
    from querytrack.data.mixed import MixedPairDataset
    from querytrack.data.synthetic_coco import ANN_FILE, IMAGE_DIR, ensure_coco_images

    root = make_layout(tiny_set, tmp_path / "data", "ytvis21")
    images = ensure_coco_images(tmp_path / "coco", 4, tiny_config)
    dm = data_module("ytvis21_coco", f"data.root={root}", f"data.image_ann={images / ANN_FILE}",
                     f"data.image_root={images / IMAGE_DIR}", "data.image_category_map=name")  # fmt: skip
    dm.setup("fit")
    assert isinstance(dm.train_set, MixedPairDataset) and len(_val_ids(dm)) == 1


@pytest.mark.parametrize(
    ("data", "table"),
    [("ytvis19", "ytvis19"), ("ytvis21", "ytvis21"), ("ytvis22", "ytvis21"), ("ovis", "ovis"), ("custom", None),
     ("synthetic", None), ("ytvis19_coco", "ytvis19"), ("ytvis21_coco", "ytvis21"), ("synthetic_coco", None)],
)  # fmt: skip
def test_every_data_option_names_its_coco_class_map(data: str, table: str | None) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(overrides=[f"+data={data}", "+augmentation=paper"])
    assert cfg.data.coco_class_map == table and (table is None or table in TABLES)
