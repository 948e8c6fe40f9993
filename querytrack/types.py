"""Dataclasses at the boundaries between data, model, losses and inference.

Conventions used everywhere in querytrack:

* Images are ``uint8`` RGB tensors ``[3, H, W]`` (batched ``[B, 3, H, W]``). The detector normalises them
  (ImageNet mean/std in 0-255 units, as QueryInst's data preprocessor); the data side never does.
* Boxes are **absolute xyxy** pixel coordinates in the frame the tensor lives in (after resize/crop for
  training samples, original frame size for results).
* Masks are ``bool`` tensors ``[K, H, W]`` aligned with the image they belong to.
* ``labels`` are *contiguous* class indices ``0..C-1``; ``querytrack.data.ytvis.YTVISDataset`` maps them to
  and from the dataset's category ids.
* ``instance_ids`` are the dataset's annotation ids (one per object track in YouTube-VIS), so the same
  object carries the same id in the key and the reference frame of a pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class FrameTarget:
    """Ground truth of one frame.

    Attributes:
        boxes: ``Tensor[K, 4]`` float32, absolute xyxy in the (augmented) image.
        masks: ``Tensor[K, H, W]`` bool, same spatial size as the image.
        labels: ``Tensor[K]`` int64, contiguous class index ``0..C-1``.
        instance_ids: ``Tensor[K]`` int64, dataset annotation (track) id, consistent across frames.
    """

    boxes: Tensor
    masks: Tensor
    labels: Tensor
    instance_ids: Tensor

    def __len__(self) -> int:
        return int(self.labels.numel())

    @staticmethod
    def empty(height: int, width: int) -> FrameTarget:
        """A target with no instances for an image of ``height`` × ``width``."""
        return FrameTarget(
            boxes=torch.zeros((0, 4), dtype=torch.float32),
            masks=torch.zeros((0, height, width), dtype=torch.bool),
            labels=torch.zeros((0,), dtype=torch.int64),
            instance_ids=torch.zeros((0,), dtype=torch.int64),
        )

    def to(self, device: torch.device | str) -> FrameTarget:
        return FrameTarget(
            boxes=self.boxes.to(device),
            masks=self.masks.to(device),
            labels=self.labels.to(device),
            instance_ids=self.instance_ids.to(device),
        )


@dataclass
class FrameSample:
    """One (augmented) frame with its ground truth.

    Attributes:
        image: ``Tensor[3, H, W]`` uint8 RGB after augmentation.
        target: ground truth in the augmented image's coordinates.
        video_id: YouTube-VIS video id.
        frame_index: index of the frame in the video's ``file_names``.
        orig_size: ``(height, width)`` of the frame on disk.
        file_name: path of the frame relative to the image root (for error messages).
    """

    image: Tensor
    target: FrameTarget
    video_id: int
    frame_index: int
    orig_size: tuple[int, int]
    file_name: str = ""


@dataclass
class PairSample:
    """A training pair: the key frame gets all losses, the reference frame gives identities."""

    key: FrameSample
    ref: FrameSample


@dataclass
class FrameBatch:
    """Frames padded into one tensor.

    Attributes:
        images: ``Tensor[B, 3, Hp, Wp]`` uint8, zero-padded at the bottom/right; ``Hp, Wp`` are multiples of
            the size divisibility (32).
        image_sizes: ``Tensor[B, 2]`` int64 ``(h, w)`` of the valid (un-padded, resized) content.
        orig_sizes: ``Tensor[B, 2]`` int64 ``(h, w)`` of the frames on disk.
        targets: one ``FrameTarget`` per image (masks have the padded size ``Hp × Wp``).
        video_ids: YouTube-VIS video id per image.
        frame_indices: frame index per image.
        file_names: frame file per image (for error messages).
    """

    images: Tensor
    image_sizes: Tensor
    orig_sizes: Tensor
    targets: list[FrameTarget]
    video_ids: list[int]
    frame_indices: list[int]
    file_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def to(self, device: torch.device | str) -> FrameBatch:
        return FrameBatch(
            images=self.images.to(device, non_blocking=True),
            image_sizes=self.image_sizes.to(device),
            orig_sizes=self.orig_sizes.to(device),
            targets=[t.to(device) for t in self.targets],
            video_ids=list(self.video_ids),
            frame_indices=list(self.frame_indices),
            file_names=list(self.file_names),
        )


@dataclass
class PairBatch:
    """A batch of training pairs: ``key.targets[i]`` and ``ref.targets[i]`` come from the same video."""

    key: FrameBatch
    ref: FrameBatch

    def __len__(self) -> int:
        return len(self.key)

    def to(self, device: torch.device | str) -> PairBatch:
        return PairBatch(key=self.key.to(device), ref=self.ref.to(device))


def make_rois(batch_idx: Tensor, boxes: Tensor) -> Tensor:
    """RoIs in torchvision's format (``roi_align``), the one place they are built.

    Args:
        batch_idx: ``Tensor[M]`` integer image of each box in its batch.
        boxes: ``Tensor[M, 4]`` absolute xyxy.

    Returns:
        ``Tensor[M, 5]`` ``(batch_index, x1, y1, x2, y2)`` in the dtype of ``boxes``.
    """
    return torch.cat([batch_idx.to(boxes.dtype)[:, None], boxes], dim=1)
