"""COCO-format still images as pseudo-video training pairs (joint image training of MinVIS, IDOL, VITA, DVIS++).

:class:`ImagePairDataset` turns one annotated image into a (key, reference) pair by two independent draws of the
training augmentation; the instance ids of both frames are the image's annotation ids, so the tracking loss sees
the same objects under different scales, crops and flips. Samples are :class:`~querytrack.types.PairSample`, the
same contract as :class:`~querytrack.data.datasets.PairDataset`, so :class:`~querytrack.data.collate.PairCollator`
batches them unchanged (``video_id`` is the image id, ``frame_index`` 0). Draws are seeded by
``(seed, epoch, index)`` as for video pairs.

Categories reach our labels by name (``category_map="name"``, e.g. the synthetic stills) or through a COCO → VIS
table of :mod:`querytrack.checkpoints.class_map` (``"ytvis19"``, ``"ytvis21"``, ``"ovis"``); annotations of other
categories and crowd regions are dropped, and images left without an instance are skipped.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from querytrack.data.datasets import to_frame_sample
from querytrack.data.transforms import PairTransform, to_tv_sample
from querytrack.data.ytvis import VideoRecord
from querytrack.types import PairSample

__all__ = ["CocoFormatError", "ImagePairDataset", "ImageReadError", "coco_label_map"]


class CocoFormatError(ValueError):
    """A COCO annotation file that cannot be used (the message names the file)."""


class ImageReadError(RuntimeError):
    """An image file that is missing, undecodable or not of its declared size."""

    def __init__(self, path: str | os.PathLike[str], image_id: int, reason: str) -> None:
        super().__init__(f"{path}: image {image_id}: {reason}")


def _norm(name: str) -> str:
    return name.lower().replace("_", " ")


def coco_label_map(
    categories: Sequence[dict[str, Any]],
    category_map: str,
    class_names: Sequence[str],
    label_to_cat_id: Sequence[int],
) -> dict[int, int]:
    """``{coco category id: our label}`` for the categories that have one.

    Args:
        categories: the COCO file's ``categories``.
        category_map: ``"name"`` (same name, case and ``_`` / space insensitive) or a table of
            :data:`querytrack.checkpoints.class_map.TABLES` (COCO id → VIS category id).
        class_names / label_to_cat_id: our classes (``YTVISDataset.class_names`` / ``label_to_cat_id``).
    """
    if category_map == "name":
        ours = {_norm(n): label for label, n in enumerate(class_names)}
        return {
            int(c["id"]): ours[_norm(str(c["name"]))] for c in categories if _norm(str(c["name"])) in ours
        }
    from querytrack.checkpoints.class_map import TABLES

    if category_map not in TABLES:
        raise ValueError(f"unknown category_map {category_map!r}: use 'name' or one of {sorted(TABLES)}")
    cat_to_label = {cid: label for label, cid in enumerate(label_to_cat_id)}
    return {coco: cat_to_label[vis] for coco, vis in TABLES[category_map][1].items() if vis in cat_to_label}


class ImagePairDataset(Dataset[PairSample]):
    """Training pairs from COCO-format still images: two augmentations of one image.

    Args:
        ann_file: COCO instance annotations (``images``, ``annotations`` with ``segmentation`` as polygons or
            RLE, ``categories``).
        image_root: folder of the ``file_name`` of every image.
        class_names / label_to_cat_id: the classes of the model (of the video set it trains with).
        transform: the training v2 transform; key and reference take independent draws (``None``: identical).
        category_map: ``"name"`` or ``"ytvis19"`` / ``"ytvis21"`` / ``"ovis"`` (see :func:`coco_label_map`).
        seed / min_box_size / boxes_from_masks: as :class:`~querytrack.data.datasets.PairDataset`.

    Raises:
        CocoFormatError: the file is missing, not JSON, lacks a key, or no image keeps an instance.
    """

    def __init__(
        self,
        ann_file: str | os.PathLike[str],
        image_root: str | os.PathLike[str],
        class_names: Sequence[str],
        label_to_cat_id: Sequence[int],
        transform: Any | None = None,
        category_map: str = "name",
        seed: int = 0,
        min_box_size: float = 1.0,
        boxes_from_masks: bool = True,
    ) -> None:
        from pycocotools.coco import COCO

        self.ann_file = str(ann_file)
        self.image_root = Path(image_root)
        try:
            with open(ann_file) as f:
                doc = json.load(f)
        except FileNotFoundError:
            raise CocoFormatError(f"{ann_file}: no such file") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise CocoFormatError(f"{ann_file}: not a JSON file ({e})") from None
        missing = [
            k for k in ("images", "annotations", "categories") if not isinstance(doc, dict) or k not in doc
        ]
        if missing:
            raise CocoFormatError(f"{ann_file}: not a COCO instance file (missing {', '.join(missing)})")
        self.coco = COCO()
        self.coco.dataset = doc
        with contextlib.redirect_stdout(io.StringIO()):
            self.coco.createIndex()
        self.label_of = coco_label_map(doc["categories"], category_map, class_names, label_to_cat_id)
        self.pair_transform = PairTransform(transform, shared=False)
        self.seed = seed
        self.epoch = 0
        self.min_box_size = min_box_size
        self.boxes_from_masks = boxes_from_masks
        self.image_ids: list[int] = [
            img_id
            for img_id in sorted(self.coco.imgs)
            if any(self._usable(a) for a in self.coco.imgToAnns.get(img_id, []))
        ]
        if not self.image_ids:
            raise CocoFormatError(
                f"{ann_file}: no image has a non-crowd instance of a mapped category "
                f"(category_map={category_map!r}, our classes {list(class_names)})"
            )

    def _usable(self, ann: dict[str, Any]) -> bool:
        return bool(
            not ann.get("iscrowd", 0) and ann.get("category_id") in self.label_of and ann.get("segmentation")
        )

    def __len__(self) -> int:
        return len(self.image_ids)

    def set_epoch(self, epoch: int) -> None:
        """Change the augmentation draws (called once per epoch)."""
        self.epoch = epoch

    def _load(self, image_id: int) -> tuple[dict[str, Any], torch.Tensor, torch.Tensor, VideoRecord, str]:
        info = self.coco.imgs[image_id]
        path = self.image_root / info["file_name"]
        try:
            with Image.open(path) as im:
                array = np.array(im.convert("RGB"))
        except FileNotFoundError:
            raise ImageReadError(path, image_id, "missing image file") from None
        except (OSError, ValueError, SyntaxError) as e:
            raise ImageReadError(path, image_id, f"cannot decode image ({e})") from None
        h, w = array.shape[:2]
        if (h, w) != (info["height"], info["width"]):
            raise ImageReadError(
                path, image_id, f"image is {h}x{w} but the file declares {info['height']}x{info['width']}"
            )
        anns = [a for a in self.coco.imgToAnns[image_id] if self._usable(a)]
        masks = np.stack([self.coco.annToMask(a) for a in anns]) if anns else np.zeros((0, h, w), np.uint8)
        boxes = torch.tensor([a["bbox"] for a in anns], dtype=torch.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]  # xywh -> xyxy
        sample = to_tv_sample(torch.from_numpy(array).permute(2, 0, 1), boxes, torch.from_numpy(masks))
        labels = torch.tensor([self.label_of[a["category_id"]] for a in anns], dtype=torch.int64)
        ids = torch.tensor([a["id"] for a in anns], dtype=torch.int64)
        record = VideoRecord(id=image_id, width=w, height=h, file_names=(str(info["file_name"]),))
        return sample, labels, ids, record, str(info["file_name"])

    def __getitem__(self, item: int | tuple[int, int]) -> PairSample:
        """Pair ``item``: an index (drawn for :attr:`epoch`) or an ``(epoch, index)`` pair from the sampler."""
        epoch, index = (self.epoch, item) if isinstance(item, int) else (int(item[0]), int(item[1]))
        rng = np.random.default_rng([self.seed, epoch, index])
        sample, labels, ids, record, file_name = self._load(self.image_ids[index])
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(int(rng.integers(2**62)))
            key_out, ref_out = self.pair_transform(dict(sample), dict(sample))
        frames = [
            to_frame_sample(out, labels, ids, record, 0, file_name, self.min_box_size, self.boxes_from_masks)
            for out in (key_out, ref_out)
        ]
        return PairSample(key=frames[0], ref=frames[1])
