"""Augmentation: flip golden test, crop drops degenerate instances, resize ranges, shared draws."""

from __future__ import annotations

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from querytrack.data.transforms import (
    PairTransform,
    RandomSizeCrop,
    build_test_transform,
    build_train_transform,
    remove_degenerate,
    to_tv_sample,
)


def _sample(h: int = 4, w: int = 6) -> dict:
    image = torch.arange(3 * h * w, dtype=torch.uint8).reshape(3, h, w)
    masks = torch.zeros((1, h, w), dtype=torch.bool)
    masks[0, 1:3, 0:2] = True  # rows 1-2, columns 0-1
    boxes = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    return to_tv_sample(image, boxes, masks)


def test_flip_golden_box_and_mask_move_together() -> None:
    out = v2.RandomHorizontalFlip(p=1.0)(_sample())
    # W = 6: x1' = W - x2 = 4, x2' = W - x1 = 6
    assert out["boxes"].tolist() == [[4.0, 1.0, 6.0, 3.0]]
    expected = torch.zeros((1, 4, 6), dtype=torch.bool)
    expected[0, 1:3, 4:6] = True
    assert torch.equal(out["masks"].as_subclass(torch.Tensor), expected)
    assert torch.equal(out["image"].as_subclass(torch.Tensor), _sample()["image"].flip(-1))


def test_crop_then_remove_degenerate_drops_instances_outside() -> None:
    h, w = 20, 20
    image = torch.zeros((3, h, w), dtype=torch.uint8)
    masks = torch.zeros((3, h, w), dtype=torch.bool)
    masks[0, 2:6, 2:6] = True  # inside the crop window
    masks[1, 14:18, 14:18] = True  # entirely outside
    masks[2, 8:12, 0:4] = True  # half inside (columns 0-3, crop starts at 2)
    boxes = torch.tensor([[2.0, 2.0, 6.0, 6.0], [14.0, 14.0, 18.0, 18.0], [0.0, 8.0, 4.0, 12.0]])
    labels = torch.tensor([0, 1, 2])
    ids = torch.tensor([10, 11, 12])
    sample = to_tv_sample(image, boxes, masks)
    out = {k: F.crop(v, top=0, left=2, height=12, width=10) for k, v in sample.items()}
    b, m, lab, i = remove_degenerate(
        out["boxes"].as_subclass(torch.Tensor), out["masks"].as_subclass(torch.Tensor), labels, ids
    )
    assert i.tolist() == [10, 12] and lab.tolist() == [0, 2]
    assert b.tolist() == [[0.0, 2.0, 4.0, 6.0], [0.0, 8.0, 2.0, 12.0]]
    assert m.shape == (2, 12, 10) and m[1].sum() == 8


def test_remove_degenerate_drops_empty_masks_and_thin_boxes() -> None:
    boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [1.0, 1.0, 1.5, 3.0], [0.0, 0.0, 2.0, 2.0]])
    masks = torch.zeros((3, 4, 4), dtype=torch.bool)
    masks[0, 0, 0] = masks[1, 1, 1] = True  # instance 2 has an empty mask
    b, m, ids = remove_degenerate(boxes, masks, torch.tensor([1, 2, 3]))
    assert ids.tolist() == [1] and b.shape == (1, 4) and m.shape == (1, 4, 4)


def test_random_size_crop_range() -> None:
    torch.manual_seed(0)
    t = RandomSizeCrop(5, 8)
    for _ in range(20):
        out = t(_sample(20, 30))
        h, w = out["image"].shape[-2:]
        assert 5 <= h <= 8 and 5 <= w <= 8
    assert t(_sample(4, 6))["image"].shape[-2:] == (4, 6)  # smaller than min: whole image


def test_multiscale_resize_short_side_and_cap() -> None:
    torch.manual_seed(0)
    t = build_train_transform(min_sizes=(8, 12), max_size=15, flip_prob=0.0, crop=False)
    seen = set()
    for _ in range(30):
        h, w = t(_sample(4, 6))["image"].shape[-2:]
        assert max(h, w) <= 15
        seen.add(min(h, w))
    assert seen == {8, 10}  # 12 would make the long side 18 > 15: capped to 10 x 15


def test_paper_transform_sizes() -> None:
    torch.manual_seed(0)
    t = build_train_transform()
    for _ in range(10):
        out = t(_sample(72, 128))
        h, w = out["image"].shape[-2:]
        assert 320 <= min(h, w) <= 800 and max(h, w) <= 1333
        assert out["masks"].shape[-2:] == (h, w)


def test_test_transform() -> None:
    assert build_test_transform(640, 1333)(_sample(128, 192))["image"].shape[-2:] == (640, 960)
    assert build_test_transform(360, 640)(_sample(720, 1280))["image"].shape[-2:] == (360, 640)


def test_shared_pair_draw_matches_and_unshared_differs() -> None:
    t = build_train_transform(min_sizes=(8, 12, 16, 20), max_size=100, crop=True, crop_min=4, crop_max=6)
    torch.manual_seed(0)
    shared = PairTransform(t, shared=True)
    for _ in range(20):
        k, r = shared(_sample(12, 18), _sample(12, 18))
        assert k["image"].shape == r["image"].shape
        assert torch.equal(k["image"], r["image"])  # same content + same draw → identical output
    unshared = PairTransform(t, shared=False)
    assert any(
        (lambda kr: kr[0]["image"].shape != kr[1]["image"].shape)(unshared(_sample(12, 18), _sample(12, 18)))
        for _ in range(20)
    )
