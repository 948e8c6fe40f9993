"""Batching: pad frames to a common size divisible by 32 and keep every size the model needs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from querytrack.types import FrameBatch, FrameSample, FrameTarget, PairBatch, PairSample


def padded_size(sizes: Sequence[tuple[int, int]], size_divisibility: int = 32) -> tuple[int, int]:
    """Smallest ``(H, W)`` that holds every ``(h, w)`` in ``sizes`` and is a multiple of ``size_divisibility``."""
    h = max(s[0] for s in sizes)
    w = max(s[1] for s in sizes)
    d = max(size_divisibility, 1)
    return (-(-h // d) * d, -(-w // d) * d)


def collate_frames(samples: Sequence[FrameSample], size_divisibility: int = 32) -> FrameBatch:
    """Pad frames (bottom/right, zeros) into one batch.

    Returns:
        A :class:`FrameBatch` with ``images`` uint8 ``[B, 3, Hp, Wp]``, ``image_sizes`` ``[B, 2]`` (h, w of the
        content), ``orig_sizes`` ``[B, 2]`` and targets whose masks are padded to ``Hp × Wp``.
    """
    if not samples:
        raise ValueError("cannot collate an empty list of frames")
    sizes = [(int(s.image.shape[-2]), int(s.image.shape[-1])) for s in samples]
    hp, wp = padded_size(sizes, size_divisibility)
    images = samples[0].image.new_zeros((len(samples), 3, hp, wp))
    targets = []
    for i, s in enumerate(samples):
        h, w = sizes[i]
        images[i, :, :h, :w] = s.image
        t = s.target
        masks = F.pad(t.masks, (0, wp - w, 0, hp - h)) if (hp, wp) != (h, w) else t.masks
        targets.append(FrameTarget(boxes=t.boxes, masks=masks, labels=t.labels, instance_ids=t.instance_ids))
    return FrameBatch(
        images=images,
        image_sizes=torch.tensor(sizes, dtype=torch.int64),
        orig_sizes=torch.tensor([s.orig_size for s in samples], dtype=torch.int64),
        targets=targets,
        video_ids=[s.video_id for s in samples],
        frame_indices=[s.frame_index for s in samples],
        file_names=[s.file_name for s in samples],
    )


def collate_pairs(samples: Sequence[PairSample], size_divisibility: int = 32) -> PairBatch:
    """Batch training pairs; key and reference frames are padded separately."""
    return PairBatch(
        key=collate_frames([s.key for s in samples], size_divisibility),
        ref=collate_frames([s.ref for s in samples], size_divisibility),
    )


class PairCollator:
    """Picklable ``collate_fn`` for :class:`~querytrack.data.datasets.PairDataset` loaders."""

    def __init__(self, size_divisibility: int = 32) -> None:
        self.size_divisibility = size_divisibility

    def __call__(self, samples: Sequence[PairSample]) -> PairBatch:
        return collate_pairs(samples, self.size_divisibility)
