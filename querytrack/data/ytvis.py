"""The YouTube-VIS dataset: a validated annotation file (``querytrack.core.ytvis_format``) as video and instance
records, with per-frame decoding of the ground truth and frame reading.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from querytrack.core import rle
from querytrack.core.errors import UserError
from querytrack.core.files import read_json
from querytrack.core.ytvis_format import YTVISFormatError, validate


class FrameReadError(UserError, RuntimeError):
    """A frame file is missing, unreadable, or not the size its video declares."""

    def __init__(self, path: str | os.PathLike[str], video_id: int, frame_index: int, reason: str) -> None:
        self.video_id = video_id
        self.frame_index = frame_index
        super().__init__(path, f"video {video_id}, frame {frame_index}: {reason}")


@dataclass(frozen=True)
class VideoRecord:
    """One video: ``file_names[t]`` is frame ``t`` relative to the image root."""

    id: int
    width: int
    height: int
    file_names: tuple[str, ...]

    @property
    def length(self) -> int:
        return len(self.file_names)


@dataclass(frozen=True)
class InstanceRecord:
    """One object track of a video: per-frame segmentation (``None`` where absent) and box ``[x, y, w, h]``."""

    id: int
    video_id: int
    category_id: int
    segmentations: tuple[Any, ...]
    bboxes: tuple[Any, ...] | None
    iscrowd: int = 0

    def present(self, frame: int) -> bool:
        return self.segmentations[frame] is not None


@dataclass
class FrameAnnotation:
    """Decoded ground truth of one frame (original resolution).

    Attributes:
        masks: ``[K, H, W]`` uint8 (0/1; uint8 rather than bool so that v2's nearest resize needs no cast).
        boxes: ``[K, 4]`` float32 absolute xyxy (from the json ``bboxes`` or, when missing, from the mask).
        category_ids: ``[K]`` int64 dataset category ids.
        instance_ids: ``[K]`` int64 annotation ids.
    """

    masks: np.ndarray
    boxes: np.ndarray
    category_ids: np.ndarray
    instance_ids: np.ndarray


@dataclass
class FrameSegmentations:
    """Ground truth of one frame with the masks still encoded (decode with ``rle.decode_many`` / :meth:`column_bits`).

    Attributes:
        segmentations: ``K`` segmentations as in the json (RLE, compressed or not, or polygons), present.
        boxes: ``[K, 4]`` float32 absolute xyxy (from the json ``bboxes`` or, when missing, from the mask).
        category_ids: ``[K]`` int64 dataset category ids.
        instance_ids: ``[K]`` int64 annotation ids.
        height / width: the video's resolution.
    """

    segmentations: list[Any]
    boxes: np.ndarray
    category_ids: np.ndarray
    instance_ids: np.ndarray
    height: int
    width: int

    def column_bits(self, start: int, stop: int) -> np.ndarray:
        """Columns ``start..stop-1`` of all masks as bit planes ``[ceil(K / 8), stop - start, H]`` uint8
        (see ``rle.decode_column_bits``)."""
        return rle.decode_column_bits(self.segmentations, self.height, self.width, start, stop)


class YTVISDataset:
    """A validated YouTube-VIS annotation file plus the folder of its frames.

    Args:
        ann_file: path of the json (``train.json``, ``valid.json``, or a dev split).
        image_root: folder the ``file_names`` are relative to (e.g. ``train/JPEGImages``).
        check_files: also check now that every frame file exists (otherwise a missing frame is reported when
            it is read, naming the file, video and frame).
        document: the file's content when the caller has already parsed it (it is validated all the same).

    Raises:
        YTVISFormatError: listing every problem found in the file.
    """

    def __init__(
        self,
        ann_file: str | os.PathLike[str],
        image_root: str | os.PathLike[str],
        check_files: bool = False,
        *,
        document: dict[str, Any] | None = None,
    ) -> None:
        self.ann_file = Path(ann_file)
        self.image_root = Path(image_root)
        doc: Any = document
        if doc is None:
            try:
                doc = read_json(self.ann_file, "YouTube-VIS annotation file")
            except UserError as e:
                raise YTVISFormatError(self.ann_file, [e.message]) from None
        problems = validate(doc, self.ann_file)
        if problems:
            raise YTVISFormatError(self.ann_file, problems)
        self.categories: list[dict[str, Any]] = sorted(doc["categories"], key=lambda c: c["id"])
        #: dataset category id → contiguous label 0..C-1 (sorted-id order, as Mask2Former's ytvis loader).
        self.cat_id_to_label = {c["id"]: i for i, c in enumerate(self.categories)}
        self.label_to_cat_id = [c["id"] for c in self.categories]
        self.class_names = [str(c["name"]) for c in self.categories]
        self.videos = [
            VideoRecord(id=v["id"], width=v["width"], height=v["height"], file_names=tuple(v["file_names"]))
            for v in doc["videos"]
        ]
        self._video_index = {v.id: i for i, v in enumerate(self.videos)}
        self.has_annotations = "annotations" in doc
        self.instances: dict[int, list[InstanceRecord]] = {v.id: [] for v in self.videos}
        for ann in doc.get("annotations", []):
            self.instances[ann["video_id"]].append(
                InstanceRecord(
                    id=ann["id"],
                    video_id=ann["video_id"],
                    category_id=ann["category_id"],
                    segmentations=tuple(ann["segmentations"]),
                    bboxes=tuple(ann["bboxes"]) if isinstance(ann.get("bboxes"), list) else None,
                    iscrowd=int(ann.get("iscrowd", 0) or 0),
                )
            )
        if check_files:
            self.check_files()

    @property
    def num_classes(self) -> int:
        return len(self.categories)

    def subset(
        self, video_ids: Collection[int], ann_file: str | os.PathLike[str] | None = None
    ) -> YTVISDataset:
        """The same dataset restricted to ``video_ids`` (in this dataset's order), categories unchanged.

        Args:
            video_ids: the videos to keep (ids not in the dataset are ignored).
            ann_file: the json that holds exactly these videos, if there is one (validation scores against
                ``ann_file``); default: this dataset's file.
        """
        keep = {int(v) for v in video_ids}
        out = copy.copy(self)
        out.videos = [v for v in self.videos if v.id in keep]
        out._video_index = {v.id: i for i, v in enumerate(out.videos)}
        out.instances = {v.id: self.instances[v.id] for v in out.videos}
        if ann_file is not None:
            out.ann_file = Path(ann_file)
        return out

    def __len__(self) -> int:
        return len(self.videos)

    def video(self, video_id: int) -> VideoRecord:
        return self.videos[self._video_index[video_id]]

    def frame_path(self, video: VideoRecord, frame: int) -> Path:
        return self.image_root / video.file_names[frame]

    def check_files(self) -> None:
        """Raise :class:`YTVISFormatError` listing every frame file that does not exist or cannot be checked."""
        problems = []
        for v in self.videos:
            for t in range(v.length):
                path = self.frame_path(v, t)
                try:
                    if not path.is_file():
                        problems.append(f"video {v.id}, frame {t}: missing frame file {path}")
                except OSError as e:  # e.g. a name longer than the file system allows
                    problems.append(f"video {v.id}, frame {t}: cannot check frame file {path} ({e.strerror})")
        if problems:
            raise YTVISFormatError(self.ann_file, problems)

    def instances_in_frame(self, video_id: int, frame: int) -> list[InstanceRecord]:
        """Instances of ``video_id`` present (non-null segmentation) in ``frame``, crowd excluded."""
        return [a for a in self.instances[video_id] if a.present(frame) and not a.iscrowd]

    def frame_segmentations(self, video_id: int, frame: int) -> FrameSegmentations:
        """The ground truth of one frame at the video's resolution, masks left as RLE."""
        video = self.video(video_id)
        anns = self.instances_in_frame(video_id, frame)
        segms = [a.segmentations[frame] for a in anns]
        boxes = np.zeros((len(anns), 4), dtype=np.float32)
        missing = []
        for k, ann in enumerate(anns):
            box = ann.bboxes[frame] if ann.bboxes is not None else None
            if box is not None:
                x, y, bw, bh = box
                boxes[k] = (x, y, x + bw, y + bh)
            else:
                missing.append(k)
        if missing:
            boxes[missing] = rle.pixel_boxes(
                rle.compress_many([segms[k] for k in missing], video.height, video.width)
            )
        return FrameSegmentations(
            segmentations=segms,
            boxes=boxes,
            category_ids=np.array([a.category_id for a in anns], dtype=np.int64),
            instance_ids=np.array([a.id for a in anns], dtype=np.int64),
            height=video.height,
            width=video.width,
        )

    def frame_annotation(self, video_id: int, frame: int) -> FrameAnnotation:
        """Decode the ground truth of one frame at the video's resolution."""
        seg = self.frame_segmentations(video_id, frame)
        return FrameAnnotation(
            masks=rle.decode_many(seg.segmentations, seg.height, seg.width),
            boxes=seg.boxes,
            category_ids=seg.category_ids,
            instance_ids=seg.instance_ids,
        )

    def summary(self) -> dict[str, int]:
        """Counts of videos, frames, instances and annotated masks."""
        return {
            "videos": len(self.videos),
            "frames": sum(v.length for v in self.videos),
            "categories": self.num_classes,
            "instances": sum(len(a) for a in self.instances.values()),
            "masks": sum(
                sum(s is not None for s in a.segmentations) for v in self.instances.values() for a in v
            ),
        }
