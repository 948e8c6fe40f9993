"""Synthetic frame/pair batches for the model tests (tiny sizes, CPU)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from querytrack.types import FrameBatch, FrameTarget, PairBatch


def make_frame_batch(
    sizes: list[tuple[int, int]],
    num_instances: list[int],
    num_classes: int = 5,
    seed: int = 0,
    ids_offset: int = 0,
) -> FrameBatch:
    """Random uint8 images padded to /32 with ``num_instances[i]`` box-shaped instances each.

    Instance ids are ``ids_offset + 100 * i + j`` (image i, instance j).
    """
    g = torch.Generator().manual_seed(seed)
    hp = max(h for h, _ in sizes)
    wp = max(w for _, w in sizes)
    hp, wp = (hp + 31) // 32 * 32, (wp + 31) // 32 * 32
    images = torch.zeros((len(sizes), 3, hp, wp), dtype=torch.uint8)
    targets = []
    for i, ((h, w), k) in enumerate(zip(sizes, num_instances, strict=True)):
        images[i, :, :h, :w] = torch.randint(0, 256, (3, h, w), generator=g, dtype=torch.uint8)
        x1 = torch.rand(k, generator=g) * w * 0.6
        y1 = torch.rand(k, generator=g) * h * 0.6
        bw = (torch.rand(k, generator=g) * 0.3 + 0.1) * w
        bh = (torch.rand(k, generator=g) * 0.3 + 0.1) * h
        boxes = torch.stack([x1, y1, (x1 + bw).clamp(max=w), (y1 + bh).clamp(max=h)], 1)
        masks = torch.zeros((k, hp, wp), dtype=torch.bool)
        for j, b in enumerate(boxes.round().long().tolist()):
            masks[j, b[1] : b[3], b[0] : b[2]] = True
            images[i, :, b[1] : b[3], b[0] : b[2]] = 40 * (j + 1)
        targets.append(
            FrameTarget(
                boxes=boxes,
                masks=masks,
                labels=torch.randint(0, num_classes, (k,), generator=g),
                instance_ids=torch.arange(k, dtype=torch.int64) + ids_offset + 100 * i,
            )
        )
    return FrameBatch(
        images=images,
        image_sizes=torch.tensor(sizes, dtype=torch.int64),
        orig_sizes=torch.tensor(sizes, dtype=torch.int64),
        targets=targets,
        video_ids=list(range(len(sizes))),
        frame_indices=[0] * len(sizes),
    )


def make_pair_batch(
    sizes: list[tuple[int, int]], key_instances: list[int], ref_instances: list[int], num_classes: int = 5
) -> PairBatch:
    """Key and reference frames whose first ``min(k, r)`` instances share ids (the rest are unmatched)."""
    key = make_frame_batch(sizes, key_instances, num_classes, seed=0)
    ref = make_frame_batch(sizes, ref_instances, num_classes, seed=1)
    for kt, rt in zip(key.targets, ref.targets, strict=True):
        n = min(len(kt), len(rt))
        rt.labels[:n] = kt.labels[:n]
        if len(rt) > n:  # extra reference instances get ids that never occur in the key frame
            rt.instance_ids[n:] += 50
    return PairBatch(key=key, ref=ref)


@pytest.fixture
def pair_factory() -> Callable[..., PairBatch]:
    return make_pair_batch


@pytest.fixture
def frame_factory() -> Callable[..., FrameBatch]:
    return make_frame_batch
