"""Pair sampling invariants, lazy video iteration, collate shapes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from querytrack.data import datasets as datasets_module
from querytrack.data.collate import collate_frames, collate_pairs, padded_size
from querytrack.data.datasets import PairDataset, VideoDataset
from querytrack.data.transforms import build_test_transform, build_train_transform
from querytrack.data.ytvis import YTVISDataset


@pytest.fixture(scope="module")
def train(tiny_set: Path) -> YTVISDataset:
    return YTVISDataset(tiny_set / "train.json", tiny_set / "train" / "JPEGImages")


def _small_aug() -> object:
    return build_train_transform(
        min_sizes=(64, 80, 96), max_size=160, crop_resize_sizes=(64,), crop_min=40, crop_max=64
    )


@pytest.mark.parametrize("window", [1, 2, 10])
def test_pair_invariants(train: YTVISDataset, window: int) -> None:
    ds = PairDataset(train, transform=_small_aug(), ref_window=window)
    for i in range(len(ds)):
        pair = ds[i]
        assert pair.key.video_id == pair.ref.video_id
        video = train.video(pair.key.video_id)
        dt = abs(pair.key.frame_index - pair.ref.frame_index)
        assert (1 <= dt <= window) if video.length > 1 else dt == 0
        assert pair.key.image.shape == pair.ref.image.shape  # one shared draw
        video_instances = {a.id: train.cat_id_to_label[a.category_id] for a in train.instances[video.id]}
        for frame in (pair.key, pair.ref):
            t = frame.target
            assert t.boxes.shape == (len(t), 4) and t.masks.shape == (len(t), *frame.image.shape[-2:])
            assert t.masks.dtype == torch.bool and frame.image.dtype == torch.uint8
            for iid, label in zip(t.instance_ids.tolist(), t.labels.tolist(), strict=True):
                assert video_instances[iid] == label  # ids consistent with the video's tracks
            assert ((t.boxes[:, 2:] - t.boxes[:, :2]) >= 1).all()


def test_key_frames_annotated_have_instances_before_augmentation(train: YTVISDataset) -> None:
    ds = PairDataset(train, transform=None)
    assert all(len(ds[i].key.target) > 0 for i in range(len(ds)))
    ds_all = PairDataset(train, transform=None, key_frames="all")
    assert len(ds_all) == sum(v.length for v in train.videos) >= len(ds)


def test_pairs_deterministic_per_epoch(train: YTVISDataset) -> None:
    ds = PairDataset(train, transform=_small_aug(), seed=3)
    a = [(ds[i].ref.frame_index, tuple(ds[i].key.image.shape)) for i in range(len(ds))]
    assert a == [(ds[i].ref.frame_index, tuple(ds[i].key.image.shape)) for i in range(len(ds))]
    torch.manual_seed(123)  # global RNG state does not matter
    assert a == [(ds[i].ref.frame_index, tuple(ds[i].key.image.shape)) for i in range(len(ds))]
    ds.set_epoch(1)
    assert a != [(ds[i].ref.frame_index, tuple(ds[i].key.image.shape)) for i in range(len(ds))]


def test_frames_without_instances(tmp_path: Path) -> None:
    """Key frames with no instance (key_frames="all") and reference frames with none give empty targets."""
    import json

    import numpy as np
    from PIL import Image

    from querytrack.core.rle import encode_uncompressed

    mask = np.zeros((40, 50), dtype=bool)
    mask[5:20, 10:30] = True
    doc = {
        "categories": [{"id": 1, "name": "a"}],
        "videos": [{"id": 1, "width": 50, "height": 40, "length": 2, "file_names": ["v/0.jpg", "v/1.jpg"]}],
        "annotations": [
            {"id": 1, "video_id": 1, "category_id": 1, "segmentations": [None, encode_uncompressed(mask)]}
        ],
    }
    (tmp_path / "v").mkdir()
    for name in doc["videos"][0]["file_names"]:
        Image.new("RGB", (50, 40)).save(tmp_path / name)
    (tmp_path / "a.json").write_text(json.dumps(doc))
    ytvis = YTVISDataset(tmp_path / "a.json", tmp_path)
    assert len(PairDataset(ytvis)) == 1  # only frame 1 is annotated
    ds = PairDataset(ytvis, key_frames="all")
    pairs = {ds[i].key.frame_index: ds[i] for i in range(len(ds))}
    assert len(pairs[0].key.target) == 0 and len(pairs[0].ref.target) == 1
    assert len(pairs[1].key.target) == 1 and len(pairs[1].ref.target) == 0
    assert pairs[1].key.target.boxes.tolist() == [[10.0, 5.0, 30.0, 20.0]]
    batch = collate_pairs([pairs[0], pairs[1]])
    assert batch.key.targets[0].boxes.shape == (0, 4)
    assert batch.key.targets[0].masks.shape == (0, 64, 64)
    assert batch.ref.targets[1].labels.shape == (0,)


def test_video_dataset_is_lazy_and_ordered(train: YTVISDataset, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = datasets_module.read_frame

    def counting(ytvis, video, frame):  # type: ignore[no-untyped-def]
        calls.append(frame)
        return real(ytvis, video, frame)

    monkeypatch.setattr(datasets_module, "read_frame", counting)
    vds = VideoDataset(train, build_test_transform(96, 160))
    clip = vds[1]
    assert calls == []  # building the clip decodes nothing
    frames = iter(clip)
    first = next(frames)
    assert calls == [0] and first.frame_index == 0
    assert first.image.shape[-2:] == (96, 144) and first.orig_size == (64, 96)
    rest = [f.frame_index for f in frames]
    assert rest == list(range(1, clip.length)) and calls == list(range(clip.length))


def test_video_dataset_with_targets(train: YTVISDataset) -> None:
    clip = VideoDataset(train, build_test_transform(128, 192), with_targets=True)[0]
    f = clip.frame(0)
    assert f.target.masks.shape[-2:] == f.image.shape[-2:] == (128, 192)
    assert len(f.target) == len(train.instances_in_frame(clip.video_id, 0))


def test_collate_shapes(train: YTVISDataset) -> None:
    ds = PairDataset(train, transform=_small_aug())
    samples = [ds[i] for i in range(4)]
    batch = collate_pairs(samples)
    for frames, b in ((([s.key for s in samples]), batch.key), ([s.ref for s in samples], batch.ref)):
        hp, wp = b.images.shape[-2:]
        assert hp % 32 == 0 and wp % 32 == 0
        assert b.images.shape[:2] == (4, 3) and b.images.dtype == torch.uint8
        for i, f in enumerate(frames):
            h, w = f.image.shape[-2:]
            assert b.image_sizes[i].tolist() == [h, w]
            assert b.orig_sizes[i].tolist() == [64, 96]
            assert torch.equal(b.images[i, :, :h, :w], f.image)
            assert b.images[i, :, h:, :].sum() == 0 and b.images[i, :, :, w:].sum() == 0
            assert b.targets[i].masks.shape == (len(f.target), hp, wp)
            assert torch.equal(b.targets[i].masks[:, :h, :w], f.target.masks)
        assert b.video_ids == [f.video_id for f in frames]
    assert len(batch) == 4


def test_padded_size() -> None:
    assert padded_size([(64, 96), (70, 10)]) == (96, 96)
    assert padded_size([(1, 1)], 1) == (1, 1)
    with pytest.raises(ValueError):
        collate_frames([])


def test_epoch_random_sampler_is_a_function_of_seed_and_epoch() -> None:
    from querytrack.data.samplers import EpochRandomSampler

    s = EpochRandomSampler(range(50), seed=3)
    first = list(s)
    torch.manual_seed(999)  # the global RNG does not matter
    assert list(s) == first and sorted(first) == list(range(50))
    s.set_epoch(1)
    second = list(s)
    assert second != first
    again = EpochRandomSampler(range(50), seed=3)
    again.set_epoch(1)
    assert list(again) == second


def test_masks_to_pixel_boxes_golden() -> None:
    masks = torch.zeros((2, 6, 8), dtype=torch.bool)
    masks[0, 1:3, 2:5] = True  # rows 1-2, cols 2-4 -> (2, 1, 5, 3)
    masks[1, 5, 7] = True  # one pixel in the corner -> (7, 5, 8, 6)
    expected = torch.tensor([[2.0, 1.0, 5.0, 3.0], [7.0, 5.0, 8.0, 6.0]])
    assert torch.equal(datasets_module.masks_to_pixel_boxes(masks), expected)
    assert datasets_module.masks_to_pixel_boxes(torch.zeros((0, 6, 8), dtype=torch.bool)).shape == (0, 4)


def _box_iou_with_mask_box(ds: PairDataset) -> torch.Tensor:
    from torchvision.ops import box_iou

    ious = []
    for epoch in range(3):
        for i in range(len(ds)):
            t = ds[(epoch, i)].key.target
            if len(t):
                mask_boxes = datasets_module.masks_to_pixel_boxes(t.masks)
                ious.append(box_iou(t.boxes, mask_boxes).diagonal())
    return torch.cat(ious)


def test_boxes_follow_cropped_masks(train: YTVISDataset) -> None:
    """A crop that cuts an object clamps v2's box but not to the visible mask; the option fixes the box."""
    aug = build_train_transform(
        min_sizes=(64,), max_size=160, crop_prob=1.0, crop_resize_sizes=(96,), crop_min=32, crop_max=48
    )
    clamped = _box_iou_with_mask_box(PairDataset(train, transform=aug, boxes_from_masks=False))
    assert float(clamped.min()) < 0.75  # the defect exists without the option
    fixed = _box_iou_with_mask_box(PairDataset(train, transform=aug, boxes_from_masks=True))
    assert torch.allclose(fixed, torch.ones_like(fixed))


def test_epoch_index_pairs_equal_set_epoch(train: YTVISDataset) -> None:
    ds = PairDataset(train, transform=_small_aug(), seed=3)
    ds.set_epoch(2)
    a = ds[1]
    ds.set_epoch(0)
    b = ds[(2, 1)]
    assert a.ref.frame_index == b.ref.frame_index and torch.equal(a.key.image, b.key.image)


def test_masks_to_pixel_boxes_equal_torchvision_plus_one() -> None:
    from torchvision.ops import masks_to_boxes

    g = torch.Generator().manual_seed(0)
    masks = torch.rand((20, 9, 14), generator=g) < 0.05
    masks[:, 4, 7] = True  # every mask non-empty
    masks[0] = True
    expected = masks_to_boxes(masks).float() + torch.tensor([0.0, 0.0, 1.0, 1.0])
    assert torch.equal(datasets_module.masks_to_pixel_boxes(masks), expected)
    assert torch.equal(datasets_module.masks_to_pixel_boxes(masks.to(torch.uint8)), expected)
