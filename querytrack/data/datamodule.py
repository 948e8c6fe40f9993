"""LightningDataModules: YouTube-VIS (2019 / 2021 / OVIS, from paths) and the embedded synthetic set.

* train: :class:`~querytrack.data.datasets.PairDataset` batches (:class:`~querytrack.types.PairBatch`),
  ``batch_size`` pairs per device; Lightning adds the distributed sampler under DDP. With ``image_ann`` set,
  COCO-format image pairs (:class:`~querytrack.data.coco_images.ImagePairDataset`) are mixed in at
  ``image_ratio`` (:class:`~querytrack.data.mixed.MixedPairDataset`).
* val / test: :class:`~querytrack.data.datasets.VideoDataset` — one lazy
  :class:`~querytrack.data.datasets.VideoClip` per step (``batch_size=None``); frames are decoded as the
  tracker consumes them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from querytrack.data.coco_images import ImagePairDataset
from querytrack.data.collate import PairCollator
from querytrack.data.datasets import PairDataset, VideoClip, VideoDataset
from querytrack.data.mixed import MixedPairDataset
from querytrack.data.samplers import EpochRandomSampler
from querytrack.data.synthetic import SplitStats, default_cache_dir, ensure_synthetic, format_stats
from querytrack.data.synthetic_coco import ANN_FILE as COCO_ANN_FILE
from querytrack.data.synthetic_coco import IMAGE_DIR as COCO_IMAGE_DIR
from querytrack.data.synthetic_coco import ensure_coco_images
from querytrack.data.synthetic_scene import SyntheticConfig
from querytrack.data.transforms import build_test_transform
from querytrack.data.ytvis import YTVISDataset


def _identity(clip: VideoClip) -> VideoClip:
    return clip


class YTVISDataModule(L.LightningDataModule):
    """YouTube-VIS-format data from paths.

    Args:
        root: folder that relative paths below are resolved against (``None``: the working directory).
        train_ann / train_images: training json and its frame root.
        val_ann / val_images: evaluation json (with ground truth for local AP, e.g. a dev split) and frames.
        train_transform: v2 transform for training pairs (see :mod:`querytrack.data.transforms`).
        test_short_size / test_max_size: test-time resize (paper: 640/1333, or 360/640 for the R50 baseline),
            exposed as ``test_transform``; validation clips yield original frames and the model resizes.
        batch_size: training pairs per device.
        num_workers: loader workers per device; ``persistent_workers`` keeps them across epochs.
        pin_memory: pin host memory for faster host-to-GPU copies (ignored without CUDA).
        ref_window / shared_augmentation / boxes_from_masks: see :class:`~querytrack.data.datasets.PairDataset`.
        check_files: check every frame file exists when the annotations are loaded.
        size_divisibility: batches are padded to a multiple of this (32, as QueryInst).
        seed: base seed of the pair sampling and augmentation draws.
        image_ann / image_root: a COCO-format image set whose images join training as pseudo-video pairs
            (two augmentations of one image; ``None``: videos only); relative to the working directory, not
            ``root``.
        image_ratio: share of image pairs per epoch (``1.0``: image-level training alone).
        image_category_map: how COCO categories reach our classes: ``name`` or ``ytvis19`` / ``ytvis21`` / ``ovis``.
    """

    def __init__(
        self,
        root: str | None = None,
        train_ann: str | None = None,
        train_images: str | None = None,
        val_ann: str | None = None,
        val_images: str | None = None,
        train_transform: Any | None = None,
        test_short_size: int = 640,
        test_max_size: int = 1333,
        batch_size: int = 2,
        num_workers: int = 2,
        persistent_workers: bool = True,
        pin_memory: bool = True,
        ref_window: int = 10,
        shared_augmentation: bool = True,
        boxes_from_masks: bool = True,
        check_files: bool = False,
        size_divisibility: int = 32,
        seed: int = 0,
        image_ann: str | None = None,
        image_root: str | None = None,
        image_ratio: float = 0.5,
        image_category_map: str = "name",
    ) -> None:
        super().__init__()

        def under_root(path: str | None) -> str | None:
            return str(Path(root) / path) if (root and path and not os.path.isabs(path)) else path

        self.train_ann, self.train_images = under_root(train_ann), under_root(train_images)
        self.val_ann, self.val_images = under_root(val_ann), under_root(val_images)
        self.train_transform = train_transform
        self.test_transform = build_test_transform(test_short_size, test_max_size)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.persistent_workers = persistent_workers and num_workers > 0
        self.pin_memory = pin_memory and torch.cuda.is_available()
        self.ref_window = ref_window
        self.shared_augmentation = shared_augmentation
        self.boxes_from_masks = boxes_from_masks
        self.check_files = check_files
        self.size_divisibility = size_divisibility
        self.seed = seed
        self.image_ann, self.image_root = (
            image_ann,
            image_root,
        )  # not under root: an image set lives elsewhere
        self.image_ratio = image_ratio
        self.image_category_map = image_category_map
        self.train_set: PairDataset | MixedPairDataset | None = None
        self.val_set: VideoDataset | None = None

    def _load(self, ann: str | None, images: str | None, what: str) -> YTVISDataset:
        if ann is None or images is None:
            raise ValueError(
                f"{type(self).__name__}: set {what}_ann and {what}_images to use the {what} split"
            )
        return YTVISDataset(ann, images, check_files=self.check_files)

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit") and self.train_set is None:
            videos = PairDataset(
                self._load(self.train_ann, self.train_images, "train"),
                transform=self.train_transform,
                ref_window=self.ref_window,
                shared_augmentation=self.shared_augmentation,
                boxes_from_masks=self.boxes_from_masks,
                seed=self.seed,
            )
            self.train_set = videos
            if self.image_ann:
                if not self.image_root:
                    raise ValueError(f"{type(self).__name__}: image_ann is set but image_root is not")
                images = ImagePairDataset(
                    self.image_ann,
                    self.image_root,
                    videos.ytvis.class_names,
                    videos.ytvis.label_to_cat_id,
                    transform=self.train_transform,
                    category_map=self.image_category_map,
                    seed=self.seed,
                    boxes_from_masks=self.boxes_from_masks,
                )
                self.train_set = MixedPairDataset(videos, images, self.image_ratio, seed=self.seed)
        if stage in (None, "fit", "validate", "test", "predict") and self.val_set is None and self.val_ann:
            # Original frames: the streaming tracker resizes each frame itself and maps results back.
            self.val_set = VideoDataset(self._load(self.val_ann, self.val_images, "val"), transform=None)

    @property
    def num_classes(self) -> int:
        for ds in (self.train_set, self.val_set):
            if ds is not None:
                return ds.ytvis.num_classes
        raise RuntimeError("call setup() first")

    def set_epoch(self, epoch: int) -> None:
        """Re-draw reference frames and augmentations for ``epoch`` (deterministic per epoch)."""
        if self.train_set is not None:
            self.train_set.set_epoch(epoch)

    def train_dataloader(self) -> DataLoader[Any]:
        if self.train_set is None:
            self.setup("fit")
        assert self.train_set is not None
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            sampler=EpochRandomSampler(self.train_set, self.seed, with_epoch=True),
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers,
            pin_memory=self.pin_memory,
            collate_fn=PairCollator(self.size_divisibility),
            drop_last=True,
        )

    def _video_loader(self) -> DataLoader[Any]:
        if self.val_set is None:
            self.setup("validate")
        if self.val_set is None:
            raise ValueError(f"{type(self).__name__}: no val_ann set")
        return DataLoader(self.val_set, batch_size=None, shuffle=False, num_workers=0, collate_fn=_identity)  # type: ignore[arg-type]

    def val_dataloader(self) -> DataLoader[Any]:
        return self._video_loader()

    def test_dataloader(self) -> DataLoader[Any]:
        return self._video_loader()


class SyntheticDataModule(YTVISDataModule):
    """The embedded synthetic YouTube-VIS set, generated on first use into a cache folder.

    Args:
        root: cache folder (default ``$QUERYTRACK_CACHE`` or ``~/.cache/querytrack``); the set lives in
            ``root/synthetic-<config digest>``.
        synthetic: keyword arguments of :class:`~querytrack.data.synthetic.SyntheticConfig`.
        val_split: ``"valid"`` (default) or ``"train"``: validate on the training videos, a check that the
            model fits what it trains on (learning tests, overfitting a recipe).
        synthetic_images: also generate this many synthetic still images in COCO format
            (:mod:`querytrack.data.synthetic_coco`, same generator settings) and mix them in at ``image_ratio``
            (0: videos only).
        **kwargs: everything :class:`YTVISDataModule` takes except the paths.
    """

    def __init__(
        self,
        root: str | None = None,
        synthetic: dict[str, Any] | None = None,
        val_split: str = "valid",
        synthetic_images: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(root=None, **kwargs)
        self.synthetic_images = synthetic_images
        self.root = Path(root) if root else default_cache_dir()
        fields = {f.name for f in dataclasses.fields(SyntheticConfig)}
        unknown = set(synthetic or {}) - fields
        if unknown:
            raise ValueError(f"unknown synthetic set option(s) {sorted(unknown)}; known: {sorted(fields)}")
        self.synthetic_config = SyntheticConfig(**dict(synthetic or {}))
        folder = self.root / f"synthetic-{self.synthetic_config.digest()}"
        self.data_dir = folder
        self.train_ann, self.train_images = str(folder / "train.json"), str(folder / "train" / "JPEGImages")
        if val_split not in ("valid", "train"):
            raise ValueError(f"val_split must be 'valid' or 'train', got {val_split!r}")
        self.val_ann = str(folder / f"{val_split}.json")
        self.val_images = str(folder / val_split / "JPEGImages")

    def prepare_data(self) -> None:
        existed = (self.data_dir / "meta.json").is_file()
        folder = ensure_synthetic(self.root, self.synthetic_config)
        with open(folder / "meta.json") as f:
            stats = {k: SplitStats(**v) for k, v in json.load(f)["stats"].items()}
        verb = "using" if existed else "generated"
        print(f"synthetic YouTube-VIS set ({verb}): {folder}\n{format_stats(stats)}", flush=True)
        if self.synthetic_images:
            images = ensure_coco_images(self.root, self.synthetic_images, self.synthetic_config)
            self.image_ann, self.image_root = str(images / COCO_ANN_FILE), str(images / COCO_IMAGE_DIR)
            print(f"synthetic COCO-format images: {images} ({self.synthetic_images} images)", flush=True)

    def setup(self, stage: str | None = None) -> None:
        if not os.path.isfile(self.data_dir / "meta.json") or (self.synthetic_images and not self.image_ann):
            self.prepare_data()
        super().setup(stage)
