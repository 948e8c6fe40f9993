"""COCO-format still images as pseudo-video pairs: generated set, pair contract, mixing ratio, data configs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from querytrack.data.coco_images import CocoFormatError, ImagePairDataset, coco_label_map
from querytrack.data.collate import collate_pairs
from querytrack.data.datasets import PairDataset
from querytrack.data.mixed import MixedPairDataset
from querytrack.data.synthetic_coco import generate_coco_images
from querytrack.data.synthetic_scene import CATEGORIES, SyntheticConfig
from querytrack.data.transforms import build_train_transform
from querytrack.data.ytvis import YTVISDataset
from querytrack.types import PairBatch

NAMES = [name for name, _ in CATEGORIES]
CAT_IDS = list(range(1, len(NAMES) + 1))
CFG = SyntheticConfig(height=64, width=96, min_objects=2, max_objects=4, seed=3)


def _transform():
    return build_train_transform(min_sizes=[48, 64, 80], max_size=160, crop=True, crop_prob=0.5,
                                 crop_resize_sizes=[64, 80], crop_min=48, crop_max=80)  # fmt: skip


@pytest.fixture(scope="module")
def coco_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("coco")
    generate_coco_images(out, 12, CFG)
    return out


def _dataset(coco_set: Path, **kw) -> ImagePairDataset:
    return ImagePairDataset(coco_set / "images.json", coco_set / "images", NAMES, CAT_IDS, **kw)


def test_generated_file_is_coco(coco_set: Path) -> None:
    from pycocotools.coco import COCO

    coco = COCO(str(coco_set / "images.json"))
    assert len(coco.imgs) == 12 and len(coco.anns) >= 12
    ann = next(iter(coco.anns.values()))
    mask = coco.annToMask(ann)
    assert mask.shape == (64, 96) and mask.sum() == ann["area"]
    x, y, w, h = ann["bbox"]
    ys, xs = np.nonzero(mask)
    assert (x, y, x + w, y + h) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_pair_identities_are_annotation_ids(coco_set: Path) -> None:
    ds = _dataset(coco_set)  # no transform: key and reference are the image itself
    doc = json.loads((coco_set / "images.json").read_text())
    pair = ds[0]
    anns = [a for a in doc["annotations"] if a["image_id"] == ds.image_ids[0]]
    assert pair.key.target.instance_ids.tolist() == [a["id"] for a in anns]
    assert pair.key.target.labels.tolist() == [a["category_id"] - 1 for a in anns]
    assert torch.equal(pair.key.image, pair.ref.image)
    assert pair.key.video_id == ds.image_ids[0] and pair.key.frame_index == pair.ref.frame_index == 0
    assert pair.key.target.masks.shape == (len(anns), 64, 96) and pair.key.target.masks.dtype == torch.bool


def test_two_augmentations_of_one_image(coco_set: Path) -> None:
    ds = _dataset(coco_set, transform=_transform(), seed=5)
    differ = 0
    for i in range(len(ds)):
        pair = ds[(0, i)]
        key, ref = pair.key.target, pair.ref.target
        ann_ids = {a["id"] for a in ds.coco.imgToAnns[ds.image_ids[i]]}
        assert set(key.instance_ids.tolist()) | set(ref.instance_ids.tolist()) <= ann_ids
        for t, img in ((key, pair.key.image), (ref, pair.ref.image)):
            assert t.masks.shape[-2:] == img.shape[-2:] and len(t.boxes) == len(t.labels) == len(
                t.instance_ids
            )
        differ += pair.key.image.shape != pair.ref.image.shape or not torch.equal(
            pair.key.image, pair.ref.image
        )
    assert differ >= len(ds) // 2  # independent draws: most pairs differ
    a, b, c = ds[(0, 3)], ds[(0, 3)], ds[(1, 3)]
    assert torch.equal(a.key.image, b.key.image) and torch.equal(a.ref.image, b.ref.image)  # deterministic
    assert not (a.key.image.shape == c.key.image.shape and torch.equal(a.key.image, c.key.image)) or not (
        a.ref.image.shape == c.ref.image.shape and torch.equal(a.ref.image, c.ref.image)
    )  # a new epoch draws anew


def test_image_and_video_pairs_share_the_batch_contract(coco_set: Path, tiny_set: Path) -> None:
    videos = PairDataset(YTVISDataset(tiny_set / "train.json", tiny_set / "train" / "JPEGImages"))
    images = _dataset(coco_set, transform=_transform())
    batch = collate_pairs([videos[0], images[0], images[1]], 32)
    assert isinstance(batch, PairBatch) and len(batch) == 3
    assert batch.key.images.dtype == torch.uint8 and batch.key.images.shape[-1] % 32 == 0


def test_polygons_crowds_and_unmapped_categories(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "im").mkdir()
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(tmp_path / "im" / "a.jpg")
    doc = {
        "images": [{"id": 7, "file_name": "a.jpg", "height": 40, "width": 50}],
        "categories": [{"id": 3, "name": "car"}, {"id": 1, "name": "person"}, {"id": 90, "name": "toothbrush"}],
        "annotations": [
            {"id": 11, "image_id": 7, "category_id": 3, "bbox": [10, 5, 20, 10], "iscrowd": 0,
             "segmentation": [[10, 5, 30, 5, 30, 15, 10, 15]], "area": 200},
            {"id": 12, "image_id": 7, "category_id": 1, "bbox": [0, 0, 5, 5], "iscrowd": 1,
             "segmentation": {"size": [40, 50], "counts": [0, 2000]}, "area": 2000},
            {"id": 13, "image_id": 7, "category_id": 90, "bbox": [0, 0, 5, 5], "iscrowd": 0,
             "segmentation": [[0, 0, 5, 0, 5, 5]], "area": 12},
        ],
    }  # fmt: skip
    (tmp_path / "a.json").write_text(json.dumps(doc))
    ds = ImagePairDataset(
        tmp_path / "a.json", tmp_path / "im", ["person", "sedan"], [1, 6], category_map="ytvis19"
    )
    target = ds[0].key.target
    assert target.instance_ids.tolist() == [11] and target.labels.tolist() == [
        1
    ]  # car -> sedan; crowd, brush out
    assert target.boxes.tolist() == [[10.0, 5.0, 30.0, 15.0]]  # the rasterised polygon covers columns 10..29
    assert int(target.masks.sum()) == 200


def test_label_map_by_table_and_by_name() -> None:
    cats = [{"id": 1, "name": "person"}, {"id": 4, "name": "motorcycle"}, {"id": 16, "name": "bird"}]
    assert coco_label_map(cats, "ytvis21", ["motorbike", "person"], [23, 26]) == {1: 1, 2: 0, 4: 0}
    assert coco_label_map(cats, "name", ["Person", "bird"], [1, 2]) == {1: 0, 16: 1}
    with pytest.raises(ValueError, match="unknown category_map"):
        coco_label_map(cats, "lvis", [], [])


@pytest.mark.parametrize(
    ("content", "match"),
    [(None, "no such file"), ("{", "not a JSON file"), ('{"images": []}', "missing annotations, categories")],
)
def test_bad_annotation_file(tmp_path: Path, content: str | None, match: str) -> None:
    path = tmp_path / "x.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CocoFormatError, match=match) as e:
        ImagePairDataset(path, tmp_path, NAMES, CAT_IDS)
    assert str(path) in str(e.value)


def test_no_usable_image_is_an_error(coco_set: Path) -> None:
    with pytest.raises(CocoFormatError, match="no image has"):
        ImagePairDataset(coco_set / "images.json", coco_set / "images", ["whale"], [39])


def test_mixing_ratio(coco_set: Path, tiny_set: Path) -> None:
    videos = PairDataset(YTVISDataset(tiny_set / "train.json", tiny_set / "train" / "JPEGImages"))
    images = _dataset(coco_set)
    n = len(videos)
    mixed = MixedPairDataset(videos, images, 0.25, seed=0)
    assert len(mixed) == n + round(n / 3) and mixed.ytvis is videos.ytvis
    slots = [mixed[(0, i)] for i in range(len(mixed))]
    from_images = [s for s in slots if s.key.file_name.endswith(".jpg") and "/" not in s.key.file_name]
    assert len(from_images) == round(n / 3)
    only = MixedPairDataset(videos, images, 1.0, seed=0)  # image-level training: every image once per epoch
    assert len(only) == len(images)
    assert sorted(only[(2, i)].key.video_id for i in range(len(only))) == images.image_ids
    with pytest.raises(ValueError, match="image_ratio"):
        MixedPairDataset(videos, images, 1.5)


def test_synthetic_coco_datamodule(tmp_path: Path) -> None:
    from querytrack.data.datamodule import SyntheticDataModule
    from tests.data.test_datamodule import TINY

    dm = SyntheticDataModule(root=str(tmp_path), synthetic=TINY, synthetic_images=6, image_ratio=0.5, batch_size=2,
                             num_workers=0, test_short_size=96, test_max_size=128)  # fmt: skip
    dm.setup("fit")
    assert isinstance(dm.train_set, MixedPairDataset) and dm.train_set.num_image_pairs == len(
        dm.train_set.videos
    )
    assert dm.num_classes == 5
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, PairBatch) and len(batch) == 2


def test_data_configs_compose() -> None:
    from tests.hydra_config import compose_config

    y21, y19, syn = (compose_config(f"data={d}") for d in ("ytvis21_coco", "ytvis19_coco", "synthetic_coco"))
    assert y21.data.image_category_map == "ytvis21" and y21.data.image_ann.endswith(
        "instances_train2017.json"
    )
    assert y21.data.dataset == "ytvis21" and y21.data.image_ratio == 0.5
    assert y19.data.image_category_map == "ytvis19" and y19.data.dataset == "ytvis19"
    assert syn.data.synthetic_images == 256 and syn.data.image_category_map == "name"
