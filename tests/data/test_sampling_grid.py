"""Masks carried as a sampling grid through v2 equal, bit for bit, masks moved by v2 as pixels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from querytrack.data.datasets import PairDataset
from querytrack.data.sampling_grid import (
    SamplingGrid,
    sample_masks,
    source_columns,
    supports_sampling_grid,
    unpack_bits,
)
from querytrack.data.transforms import RandomSizeCrop, build_train_transform
from querytrack.data.ytvis import YTVISDataset


def _random_masks(k: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """``[H, W, K]`` uint8 Fortran-ordered masks (pycocotools' layout) of random blobs."""
    g = np.random.default_rng(seed)
    masks = (g.random((k, h, w)) < 0.3).astype(np.uint8)
    masks[:, : h // 3, : w // 4] = 1  # a solid corner block so that resizes keep some structure
    return np.asfortranarray(masks.transpose(1, 2, 0))


def _both(transform: Any, masks: np.ndarray, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(v2 on the pixel masks, masks sampled through the grid), with one random draw."""
    h, w, k = masks.shape
    image = tv_tensors.Image(torch.zeros((3, h, w), dtype=torch.uint8))
    pixels = tv_tensors.Mask(torch.from_numpy(np.ascontiguousarray(masks.transpose(2, 0, 1))))
    torch.manual_seed(seed)
    expected = transform({"image": image, "masks": pixels})["masks"].as_subclass(torch.Tensor)
    torch.manual_seed(seed)
    grid = transform({"image": image, "grid": SamplingGrid.identity(h, w)})["grid"]
    start, stop = source_columns(grid)
    window = masks.transpose(2, 1, 0)[:, start:stop]  # [K, Wc, H], only the columns the grid reads
    return expected, sample_masks(_pack(window), k, grid, start)


def _pack(masks: np.ndarray) -> np.ndarray:
    """``[K, ...]`` 0/1 uint8 -> bit planes ``[ceil(K / 8), ...]`` (mask k = bit k % 8 of plane k // 8)."""
    planes = np.zeros((-(-len(masks) // 8), *masks.shape[1:]), dtype=np.uint8)
    for k, m in enumerate(masks):
        planes[k // 8] |= m << (k % 8)
    return planes


@pytest.mark.parametrize(
    "transform",
    [
        v2.RandomHorizontalFlip(p=1.0),
        v2.RandomVerticalFlip(p=1.0),
        v2.Resize((61, 100)),  # down in one axis, up in the other, not integer ratios
        v2.Resize((94, 144)),  # exactly x2 (torch's special case)
        v2.Resize(40, max_size=50),  # int size with a cap
        v2.Resize((30, 70), interpolation=v2.InterpolationMode.NEAREST_EXACT),
        v2.RandomShortestSize(min_size=[20, 33, 64, 90], max_size=130),
        v2.Compose([RandomSizeCrop(10, 40), v2.RandomShortestSize(min_size=[17, 50], max_size=90)]),
        build_train_transform(
            min_sizes=(30, 41, 77), max_size=120, crop_resize_sizes=(50, 60), crop_min=20, crop_max=45
        ),
        build_train_transform(),
    ],
    ids=lambda t: type(t).__name__,
)
def test_grid_masks_equal_v2_pixel_masks(transform: Any) -> None:
    masks = _random_masks(11, 47, 72)  # two bit planes, the second one partly used
    for seed in range(8):
        expected, sampled = _both(transform, masks, seed)
        assert sampled.dtype == expected.dtype == torch.uint8 and sampled.is_contiguous()
        assert torch.equal(sampled, expected)


def test_no_instances() -> None:
    masks = np.zeros((20, 30, 0), dtype=np.uint8, order="F")
    expected, sampled = _both(v2.Resize((11, 17)), masks, 0)
    assert sampled.shape == expected.shape == (0, 11, 17)


def test_grid_shape_follows_the_canvas() -> None:
    grid = SamplingGrid.identity(8, 12)
    assert grid.shape == (0, 8, 12) and grid.numel() == 0
    out = F.crop(F.resize(grid, [16, 24]), top=2, left=3, height=5, width=7)
    assert isinstance(out, SamplingGrid) and out.shape == (0, 5, 7)
    assert out.rows.tolist() == [1, 1, 2, 2, 3] and out.cols.tolist() == [1, 2, 2, 3, 3, 4, 4]
    assert F.horizontal_flip(out).cols.tolist() == [4, 4, 3, 3, 2, 2, 1]
    with pytest.raises(ValueError, match="padding crop"):
        F.crop(grid, top=-1, left=0, height=4, width=4)


def test_supports_sampling_grid() -> None:
    assert supports_sampling_grid(None)
    assert supports_sampling_grid(build_train_transform()) and supports_sampling_grid(
        build_train_transform(crop=False)
    )
    assert supports_sampling_grid(v2.RandomApply([v2.RandomHorizontalFlip()]))
    assert not supports_sampling_grid(v2.Compose([v2.RandomHorizontalFlip(), v2.RandomRotation(10)]))
    assert not supports_sampling_grid(v2.RandomCrop(10, pad_if_needed=True))
    assert not supports_sampling_grid(v2.ColorJitter(0.1))


@pytest.fixture(scope="module")
def train(tiny_set: Path) -> YTVISDataset:
    return YTVISDataset(tiny_set / "train.json", tiny_set / "train" / "JPEGImages")


@pytest.mark.parametrize("boxes_from_masks", [True, False])
@pytest.mark.parametrize(
    "aug",
    [
        dict(min_sizes=(64, 80, 96), max_size=160, crop_resize_sizes=(64,), crop_min=40, crop_max=64),
        dict(
            min_sizes=(48, 61), max_size=160, crop_prob=1.0, crop_resize_sizes=(96,), crop_min=32, crop_max=48
        ),
    ],
)
def test_pair_samples_identical_with_and_without_grid(
    train: YTVISDataset, aug: dict[str, Any], boxes_from_masks: bool
) -> None:
    transform = build_train_transform(**aug)
    grid = PairDataset(train, transform=transform, boxes_from_masks=boxes_from_masks)
    pixels = PairDataset(train, transform=transform, boxes_from_masks=boxes_from_masks, sampled_masks=False)
    assert grid.sampled_masks and not pixels.sampled_masks
    for epoch in range(3):
        for i in range(len(grid)):
            a, b = grid[(epoch, i)], pixels[(epoch, i)]
            for fa, fb in ((a.key, b.key), (a.ref, b.ref)):
                assert torch.equal(fa.image, fb.image)
                for name in ("boxes", "masks", "labels", "instance_ids"):
                    x, y = getattr(fa.target, name), getattr(fb.target, name)
                    assert x.dtype == y.dtype and torch.equal(x, y), name


def test_unsupported_transform_moves_pixel_masks(train: YTVISDataset) -> None:
    ds = PairDataset(train, transform=v2.Compose([v2.RandomRotation(5), v2.Resize((48, 72))]))
    assert not ds.sampled_masks
    t = ds[0].key.target
    assert t.masks.shape[-2:] == (48, 72) and t.masks.dtype == torch.bool


def test_unpack_bits() -> None:
    masks = torch.from_numpy(_random_masks(13, 5, 7).transpose(2, 0, 1).copy())  # [13, 5, 7]
    planes = torch.from_numpy(_pack(masks.numpy()))
    assert planes.shape == (2, 5, 7)
    out = unpack_bits(planes, 13)
    assert out.dtype == torch.uint8 and torch.equal(out, masks)
    assert unpack_bits(torch.zeros((0, 5, 4), dtype=torch.uint8), 0).shape == (0, 5, 4)
