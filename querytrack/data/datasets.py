"""Torch datasets over a :class:`~querytrack.data.ytvis.YTVISDataset`.

* :class:`PairDataset` — training pairs (key frame + reference frame of the same video within ±``ref_window``
  frames), augmented with one shared draw (see :mod:`querytrack.data.transforms`).
* :class:`VideoDataset` — evaluation: one lazy :class:`VideoClip` per video whose frames are decoded one at a
  time, in order, so a long video never sits in memory whole.

Randomness: a pair's reference frame and augmentation are drawn from a generator seeded by
``(seed, epoch, index)``, not from worker state, so the data order and content are reproducible across
worker counts and after a resume. The epoch travels *with the index*: the training sampler
(:class:`~querytrack.data.samplers.EpochRandomSampler`) yields ``(epoch, index)`` pairs, so persistent loader
workers, whose copy of the dataset never sees :meth:`PairDataset.set_epoch`, still draw the new epoch's frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from querytrack.core import rle
from querytrack.data.sampling_grid import SamplingGrid, sample_masks, source_columns, supports_sampling_grid
from querytrack.data.transforms import PairTransform, remove_degenerate, to_tv_sample
from querytrack.data.ytvis import FrameReadError, FrameSegmentations, VideoRecord, YTVISDataset
from querytrack.types import FrameSample, FrameTarget, PairSample

__all__ = ["PairDataset", "VideoClip", "VideoDataset", "masks_to_pixel_boxes", "read_frame"]


def read_frame(ytvis: YTVISDataset, video: VideoRecord, frame: int) -> torch.Tensor:
    """Decode frame ``frame`` of ``video`` as uint8 RGB ``[3, H, W]`` (a channels-last view, no copy).

    PIL decodes (libjpeg-turbo); torchvision's decoders are deprecated since 0.29.

    Raises:
        FrameReadError: the file is missing, cannot be decoded, or its size differs from the video's.
    """
    path = ytvis.frame_path(video, frame)
    try:
        with Image.open(path) as im:
            rgb = im if im.mode == "RGB" else im.convert("RGB")  # convert would copy an RGB image for nothing
            array = np.array(rgb)  # a writable copy (asarray would be read-only)
    except FileNotFoundError:
        raise FrameReadError(path, video.id, frame, "missing frame file") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise FrameReadError(path, video.id, frame, f"cannot decode frame ({e})") from None
    image = torch.from_numpy(array).permute(2, 0, 1)
    if tuple(image.shape[-2:]) != (video.height, video.width):
        raise FrameReadError(
            path,
            video.id,
            frame,
            f"frame is {image.shape[-2]}x{image.shape[-1]} but the video declares {video.height}x{video.width}",
        )
    return image


def _frame_dict(
    ytvis: YTVISDataset, video: VideoRecord, frame: int, sampled_masks: bool = False
) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor, FrameSegmentations]:
    """A frame and its ground truth as the v2 transform's input, with labels, instance ids and the encoded masks.

    ``sampled_masks``: a :class:`SamplingGrid` stands in for the masks (rendered after the transform by
    :func:`_render_masks`); else the masks are decoded at the video's resolution.
    """
    image = read_frame(ytvis, video, frame)
    seg = ytvis.frame_segmentations(video.id, frame)
    labels = torch.as_tensor([ytvis.cat_id_to_label[c] for c in seg.category_ids.tolist()], dtype=torch.int64)
    boxes = torch.from_numpy(seg.boxes)
    if sampled_masks:
        sample = to_tv_sample(image, boxes, None)
        sample["grid"] = SamplingGrid.identity(video.height, video.width)
    else:
        masks = rle.decode_many(seg.segmentations, seg.height, seg.width)
        sample = to_tv_sample(image, boxes, torch.from_numpy(masks))
    return sample, labels, torch.from_numpy(seg.instance_ids), seg


def _render_masks(out: dict[str, Any], seg: FrameSegmentations) -> dict[str, Any]:
    """Replace the transformed ``grid`` of ``out`` by the masks of ``seg`` sampled through it (bool)."""
    out = dict(out)
    grid = out.pop("grid")
    start, stop = source_columns(grid)
    masks = sample_masks(seg.column_bits(start, stop), len(seg.segmentations), grid, start)
    out["masks"] = masks.view(torch.bool)  # 0/1 bytes: a bool view, no conversion pass
    return out


def masks_to_pixel_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight boxes of binary masks in the YouTube-VIS convention (pixel edges: ``x2 = last column + 1``).

    The same boxes as torchvision's ``masks_to_boxes`` plus one on ``x2`` / ``y2`` (it gives the last pixel's
    index, the annotation convention its edge), from uint8 row / column maxima (``bool.any`` along a dimension
    is an order of magnitude slower on CPU).

    Args:
        masks: ``[K, H, W]`` bool/uint8, each non-empty.

    Returns:
        ``[K, 4]`` float32 absolute xyxy.
    """
    m = masks.view(torch.uint8) if masks.dtype == torch.bool else masks
    return _occupancy_boxes(m.amax(dim=2), m.amax(dim=1))


def _occupancy_boxes(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Pixel-edge xyxy boxes ``[K, 4]`` float32 from per-mask row ``[K, H]`` / column ``[K, W]`` occupancy."""
    if rows.shape[0] == 0:
        return torch.zeros((0, 4))
    h, w = rows.shape[1], cols.shape[1]
    # argmax gives the first maximal index: first occupied row / column, and (flipped) the last one.
    y1, y2 = rows.argmax(dim=1), h - rows.flip(1).argmax(dim=1)
    x1, x2 = cols.argmax(dim=1), w - cols.flip(1).argmax(dim=1)
    return torch.stack([x1, y1, x2, y2], dim=1).float()


def to_frame_sample(
    out: dict[str, Any],
    labels: torch.Tensor,
    ids: torch.Tensor,
    video: VideoRecord,
    frame: int,
    file_name: str,
    min_box_size: float,
    boxes_from_masks: bool = False,
) -> FrameSample:
    boxes = out["boxes"].as_subclass(torch.Tensor).float()
    masks = out["masks"].as_subclass(torch.Tensor)
    nonempty = None
    if masks.numel():
        m = masks.view(torch.uint8) if masks.dtype == torch.bool else masks
        rows = m.amax(dim=2)  # [K, H] row occupancy
        nonempty = rows.amax(dim=1) > 0
        if boxes_from_masks:
            # A crop clamps a box to the window while the mask keeps only its visible part: the mask's own box
            # is the right target. Empty masks keep their box and are removed below.
            boxes = torch.where(nonempty[:, None], _occupancy_boxes(rows, m.amax(dim=1)), boxes)
    boxes, masks, labels, ids = remove_degenerate(
        boxes, masks, labels, ids, min_size=min_box_size, nonempty=nonempty
    )
    masks = masks.bool()
    return FrameSample(
        image=out["image"].as_subclass(torch.Tensor),
        target=FrameTarget(boxes=boxes, masks=masks, labels=labels, instance_ids=ids),
        video_id=video.id,
        frame_index=frame,
        orig_size=(video.height, video.width),
        file_name=file_name,
    )


class PairDataset(Dataset[PairSample]):
    """Training pairs: a key frame and a reference frame of the same video.

    Args:
        ytvis: the annotations (must have ground truth).
        transform: a v2 transform over ``{"image", "boxes", "masks"}`` dicts (``None``: no augmentation).
        ref_window: the reference frame is drawn uniformly from frames ``t-k..t+k`` (clipped to the video),
            excluding ``t`` itself unless the video has one frame. Default 10 annotated frames: YouTube-VIS
            annotates every 5th frame, so ±10 spans ±~1.7 s at 30 fps — long enough for real appearance
            change, short enough that most key instances still appear in the reference frame (CrossVIS uses
            ±20, MaskTrack R-CNN the whole video; docs/method.md §6.2-6.3).
        shared_augmentation: one augmentation draw for both frames (see :mod:`querytrack.data.transforms`).
        key_frames: ``"annotated"`` uses only frames with at least one instance as key frames (every pair
            then trains the detector); ``"all"`` uses every frame.
        seed: base seed of the per-sample generators.
        min_box_size: instances whose box becomes thinner than this (pixels) after augmentation are removed
            with their masks and ids.
        boxes_from_masks: after augmentation, replace each box by the tight box of its mask. A random crop
            clamps a box to the window while the mask keeps only the visible part (6.3 % of instances of the
            synthetic set disagreed by IoU < 0.75 under the synthetic augmentation); the mask's box is what the
            annotation convention (box = extent of the visible mask) asks for. Off reproduces v2's clamped box.
        sampled_masks: when the transform only flips, resizes and crops (:func:`supports_sampling_grid`), carry
            a :class:`~querytrack.data.sampling_grid.SamplingGrid` through it instead of the masks and sample
            the decoded masks once at the output size: the same masks (bit for bit) without resizing every
            mask at source resolution. Off, or with any other transform: v2 moves the pixel masks.
    """

    def __init__(
        self,
        ytvis: YTVISDataset,
        transform: Any | None = None,
        ref_window: int = 10,
        shared_augmentation: bool = True,
        key_frames: Literal["annotated", "all"] = "annotated",
        seed: int = 0,
        min_box_size: float = 1.0,
        boxes_from_masks: bool = True,
        sampled_masks: bool = True,
    ) -> None:
        if not ytvis.has_annotations:
            raise ValueError(f"{ytvis.ann_file}: has no 'annotations'; a training set needs ground truth")
        if ref_window < 1:
            raise ValueError(f"ref_window must be >= 1, got {ref_window}")
        self.ytvis = ytvis
        self.pair_transform = PairTransform(transform, shared=shared_augmentation)
        self.ref_window = ref_window
        self.seed = seed
        self.epoch = 0
        self.min_box_size = min_box_size
        self.boxes_from_masks = boxes_from_masks
        self.sampled_masks = sampled_masks and supports_sampling_grid(transform)
        self.index: list[tuple[int, int]] = []
        for video in ytvis.videos:
            present = np.zeros(video.length, dtype=bool)
            for inst in ytvis.instances[video.id]:
                present |= np.array([s is not None for s in inst.segmentations], dtype=bool)
            frames = range(video.length) if key_frames == "all" else np.flatnonzero(present).tolist()
            self.index.extend((video.id, int(t)) for t in frames)
        if not self.index:
            raise ValueError(f"{ytvis.ann_file}: no usable key frames (no frame has an instance)")

    def __len__(self) -> int:
        return len(self.index)

    def set_epoch(self, epoch: int) -> None:
        """Change the draws of the reference frames and augmentations (called once per epoch)."""
        self.epoch = epoch

    def sample_reference(self, video: VideoRecord, key: int, rng: np.random.Generator) -> int:
        """Draw the reference frame index for key frame ``key``: uniform in ``[key-k, key+k] \\ {key}``."""
        lo, hi = max(0, key - self.ref_window), min(video.length - 1, key + self.ref_window)
        candidates = [t for t in range(lo, hi + 1) if t != key]
        return int(rng.choice(candidates)) if candidates else key

    def draw(self, item: int | tuple[int, int]) -> tuple[VideoRecord, int, int, np.random.Generator]:
        """The video, key frame and reference frame of pair ``item`` (see :meth:`__getitem__`), and the pair's
        generator, to be passed on to :meth:`augment`."""
        epoch, index = (self.epoch, item) if isinstance(item, int) else (int(item[0]), int(item[1]))
        rng = np.random.default_rng([self.seed, epoch, index])
        video_id, key = self.index[index]
        video = self.ytvis.video(video_id)
        return video, key, self.sample_reference(video, key, rng), rng

    def augment(
        self, key_in: dict[str, Any], ref_in: dict[str, Any], rng: np.random.Generator
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The pair's augmentation of two v2 sample dicts, its torch draws seeded from ``rng`` (:meth:`draw`)."""
        with torch.random.fork_rng(devices=[]):
            # Seed only the CPU generator: torch.manual_seed would also (lazily) seed CUDA, which costs ~1 ms.
            torch.default_generator.manual_seed(int(rng.integers(2**62)))
            return self.pair_transform(key_in, ref_in)

    def __getitem__(self, item: int | tuple[int, int]) -> PairSample:
        """Pair ``item``: an index (drawn for :attr:`epoch`) or an ``(epoch, index)`` pair from the sampler."""
        video, key, ref, rng = self.draw(item)
        key_in, key_labels, key_ids, key_seg = _frame_dict(self.ytvis, video, key, self.sampled_masks)
        ref_in, ref_labels, ref_ids, ref_seg = _frame_dict(self.ytvis, video, ref, self.sampled_masks)
        key_out, ref_out = self.augment(key_in, ref_in, rng)
        if self.sampled_masks:
            key_out, ref_out = _render_masks(key_out, key_seg), _render_masks(ref_out, ref_seg)
        return PairSample(
            key=to_frame_sample(
                key_out,
                key_labels,
                key_ids,
                video,
                key,
                video.file_names[key],
                self.min_box_size,
                self.boxes_from_masks,
            ),
            ref=to_frame_sample(
                ref_out,
                ref_labels,
                ref_ids,
                video,
                ref,
                video.file_names[ref],
                self.min_box_size,
                self.boxes_from_masks,
            ),
        )


@dataclass
class VideoClip:
    """A lazy video: iterating yields its frames (test-transformed :class:`FrameSample`) one at a time.

    Attributes:
        video_id: YouTube-VIS video id.
        length: number of frames.
        orig_size: ``(height, width)`` on disk.
    """

    ytvis: YTVISDataset
    video: VideoRecord
    transform: Any | None = None
    with_targets: bool = False

    @property
    def video_id(self) -> int:
        return self.video.id

    @property
    def length(self) -> int:
        return self.video.length

    @property
    def orig_size(self) -> tuple[int, int]:
        return (self.video.height, self.video.width)

    def __len__(self) -> int:
        return self.video.length

    def frame(self, t: int) -> FrameSample:
        """Decode and transform frame ``t`` (with its ground truth if ``with_targets``)."""
        video = self.video
        if self.with_targets:
            sample, labels, ids, _ = _frame_dict(self.ytvis, video, t)
        else:
            image = read_frame(self.ytvis, video, t)
            empty = torch.zeros((0, 4))
            sample = to_tv_sample(
                image, empty, torch.zeros((0, video.height, video.width), dtype=torch.uint8)
            )
            labels = ids = torch.zeros((0,), dtype=torch.int64)
        out = self.transform(sample) if self.transform is not None else sample
        return to_frame_sample(out, labels, ids, video, t, video.file_names[t], 0.0)

    def __iter__(self) -> Iterator[FrameSample]:
        for t in range(self.video.length):
            yield self.frame(t)


class VideoDataset(Dataset[VideoClip]):
    """Evaluation dataset: item ``i`` is the lazy :class:`VideoClip` of video ``i``.

    Use it with ``DataLoader(..., batch_size=None, collate_fn=lambda clip: clip)``; a distributed sampler then
    splits videos across ranks.

    Args:
        ytvis: the annotations (ground truth optional).
        transform: deterministic test-time transform (:func:`~querytrack.data.transforms.build_test_transform`).
        with_targets: also decode the ground truth of every frame.
    """

    def __init__(self, ytvis: YTVISDataset, transform: Any | None = None, with_targets: bool = False) -> None:
        self.ytvis = ytvis
        self.transform = transform
        self.with_targets = with_targets

    def __len__(self) -> int:
        return len(self.ytvis.videos)

    def __getitem__(self, index: int) -> VideoClip:
        return VideoClip(self.ytvis, self.ytvis.videos[index], self.transform, self.with_targets)
