"""LightningDataModules: YouTube-VIS 2019 / 2021 / 2022, OVIS or a custom set (found under a root in its downloaded
layout, :mod:`querytrack.data.layout`; validated on a held-out part of train, :mod:`querytrack.data.holdout`) and
the embedded synthetic set.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.data import DataLoader

from querytrack.core.errors import UserError
from querytrack.core.files import read_json
from querytrack.core.ytvis_format import YTVISFormatError
from querytrack.data.coco_images import ImagePairDataset
from querytrack.data.collate import PairCollator
from querytrack.data.datasets import PairDataset, VideoClip, VideoDataset
from querytrack.data.holdout import Holdout, HoldoutConfig, make_holdout, write_record
from querytrack.data.layout import Layout, dataset_spec, find_layout
from querytrack.data.mixed import MixedPairDataset
from querytrack.data.samplers import EpochRandomSampler
from querytrack.data.synthetic import SplitStats, default_cache_dir, ensure_synthetic, format_stats
from querytrack.data.synthetic_coco import ANN_FILE as COCO_ANN_FILE
from querytrack.data.synthetic_coco import IMAGE_DIR as COCO_IMAGE_DIR
from querytrack.data.synthetic_coco import ensure_coco_images
from querytrack.data.synthetic_scene import SyntheticConfig
from querytrack.data.ytvis import YTVISDataset


def _identity(clip: VideoClip) -> VideoClip:
    return clip


@rank_zero_only
def _print_rank_zero(message: str) -> None:
    print(message, flush=True)


class YTVISDataModule(L.LightningDataModule):
    """YouTube-VIS-format data: found under ``root`` in its downloaded layout, or from the paths given.

    Without a labelled validation json (``val_ann=None``) validation runs on a held-out part of train
    (:mod:`querytrack.data.holdout`) and training on the rest.

    Args:
        root: the dataset root (``conf/data``: ``$YTVIS21_ROOT`` etc., or ``data.root=DIR``); the layout is looked
            for under it (:func:`~querytrack.data.layout.find_layout`) when the data is first used.
        dataset: ``ytvis19`` / ``ytvis21`` / ``ytvis22`` / ``ovis`` (the layouts to look for, and the variable the
            missing-data error names), or ``None`` for a custom YouTube-VIS-format set (any known layout).
        train_ann / train_images: give the training json and frames instead (both; relative to ``root``).
        val_ann / val_images: a labelled validation json and its frames (default: the training frames);
            ``val_ann=None``: hold out part of train.
        holdout: :class:`~querytrack.data.holdout.HoldoutConfig` fields (``fraction``, ``max_videos``, ``count``,
            ``seed``): how many training videos to hold out when ``val_ann`` is ``None``.
        holdout_dir: folder that receives ``holdout_videos.json`` (the held-out ids): the run's output folder.
        cache_dir: cache root of the held-out ground truth (default ``$QUERYTRACK_CACHE`` or
            ``~/.cache/querytrack``).
        coco_class_map: the COCO class table of this dataset (``ytvis19`` / ``ytvis21`` / ``ovis``, ``None`` for
            other categories), for initialising from a COCO checkpoint; the run reads it.
        train_transform: v2 transform for training pairs (see :mod:`querytrack.data.transforms`).
        test_short_size / test_max_size: test-time resize of this dataset (paper: 640/1333, or 360/640 for the R50
            baseline). The LightningModule reads them (``conf/train.yaml``: ``module.test_short_size:
            ${data.test_short_size}``) and resizes each frame; the data module keeps them as attributes only, as
            validation clips yield the original frames.
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
        dataset: str | None = None,
        train_ann: str | None = None,
        train_images: str | None = None,
        val_ann: str | None = None,
        val_images: str | None = None,
        holdout: Mapping[str, Any] | None = None,
        holdout_dir: str | None = None,
        cache_dir: str | None = None,
        coco_class_map: str | None = None,
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
        dataset_spec(dataset)  # an unknown name fails here, not after the data was looked for
        self.root: str | Path | None = root
        self.dataset = dataset
        self._paths = {"train_ann": train_ann, "train_images": train_images, "val_ann": val_ann,
                       "val_images": val_images}  # fmt: skip
        fields = {f.name for f in dataclasses.fields(HoldoutConfig)}
        unknown = set(holdout or {}) - fields
        if unknown:
            raise ValueError(f"unknown data.holdout option(s) {sorted(unknown)}; known: {sorted(fields)}")
        self.holdout_config = HoldoutConfig(**dict(holdout or {}))
        self.holdout_dir = holdout_dir
        self.cache_dir = cache_dir
        self.coco_class_map = coco_class_map
        self._layout: Layout | None = None
        #: The held-out validation videos (``None`` until setup, or when a validation json is given).
        self.holdout: Holdout | None = None
        self.holdout_record: Path | None = None
        self.train_transform = train_transform
        self.test_short_size, self.test_max_size = test_short_size, test_max_size
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

    @property
    def layout(self) -> Layout:
        """Where the data is (looked for on first access).

        Raises:
            UserError: the data is not there (one line: the root or its variable, the layouts looked for, and
                the demo command).
        """
        if self._layout is None:
            self._layout = find_layout(self.root, self.dataset, **self._paths)
        return self._layout

    @property
    def train_ann(self) -> str:
        return str(self.layout.train_ann)

    @property
    def val_ann(self) -> str | None:
        """The validation ground truth: the given json, the cached held-out part (after setup), or ``None``."""
        if self.layout.val_ann is not None:
            return str(self.layout.val_ann)
        return None if self.holdout is None else str(self.holdout.ground_truth)

    def _load_train(self) -> tuple[YTVISDataset, YTVISDataset | None]:
        """The training videos and, without a validation json, the held-out ones (held-out ids in a file)."""
        lay = self.layout
        if lay.val_ann is not None:
            return YTVISDataset(lay.train_ann, lay.train_images, check_files=self.check_files), None
        try:
            doc = read_json(lay.train_ann, "YouTube-VIS annotation file")
        except UserError as e:
            raise YTVISFormatError(lay.train_ann, [e.message]) from None
        full = YTVISDataset(lay.train_ann, lay.train_images, check_files=self.check_files, document=doc)
        self.holdout = make_holdout(lay.train_ann, doc, self.holdout_config, self.cache_dir)
        held = set(self.holdout.video_ids)
        where = self.holdout.ground_truth
        if self.holdout_dir is not None:
            self.holdout_record = where = write_record(self.holdout, lay.train_ann, self.holdout_dir)
        _print_rank_zero(
            f"validation: {len(held)} video{'s' if len(held) != 1 else ''} held out of train (ids in {where}"
            f"{'' if self.holdout.reused else ', made now'})"
        )
        return (
            full.subset([v.id for v in full.videos if v.id not in held]),
            full.subset(self.holdout.video_ids, ann_file=self.holdout.ground_truth),
        )

    def setup(self, stage: str | None = None) -> None:
        need_val = stage in (None, "fit", "validate", "test", "predict") and self.val_set is None
        if (stage in (None, "fit") and self.train_set is None) or (need_val and self.layout.val_ann is None):
            train, held = self._load_train()
            if held is not None and self.val_set is None:
                # Original frames: the streaming tracker resizes each frame itself and maps results back.
                self.val_set = VideoDataset(held, transform=None)
            if stage in (None, "fit") and self.train_set is None:
                self._make_train_set(train)
        if need_val and self.val_set is None and self.layout.val_ann is not None:
            val = YTVISDataset(self.layout.val_ann, self.layout.val_images, check_files=self.check_files)
            self.val_set = VideoDataset(val, transform=None)

    def _make_train_set(self, train: YTVISDataset) -> None:
        videos = PairDataset(
            train,
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

    def describe(self) -> str:
        """One line for the run's summary: root, layout, training / validation videos (sets the data up)."""
        self.setup("fit")
        assert self.train_set is not None
        n_train = len(self.train_set.ytvis)
        n_val = 0 if self.val_set is None else len(self.val_set)
        if self.holdout is not None:
            val = f"held out of train, ids in {self.holdout_record or self.holdout.ground_truth}"
        else:
            val = f"{self.val_ann}" if self.val_ann else "none"
        return f"{self.layout.describe()}: {n_train} train / {n_val} validation videos ({val})"

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
        **kwargs: everything :class:`YTVISDataModule` takes except the paths (``root``, ``dataset``,
            ``train_*``, ``val_*``; the held-out options do not apply: the set has its own labelled valid split).
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
        self._prepared = (
            False  # run.py and Lightning both call prepare_data: the second call has nothing to do
        )
        cache = Path(root) if root else default_cache_dir()
        self.root = cache
        fields = {f.name for f in dataclasses.fields(SyntheticConfig)}
        unknown = set(synthetic or {}) - fields
        if unknown:
            raise ValueError(f"unknown synthetic set option(s) {sorted(unknown)}; known: {sorted(fields)}")
        self.synthetic_config = SyntheticConfig(**dict(synthetic or {}))
        folder = cache / f"synthetic-{self.synthetic_config.digest()}"
        self.data_dir = folder
        if val_split not in ("valid", "train"):
            raise ValueError(f"val_split must be 'valid' or 'train', got {val_split!r}")
        self._layout = Layout(
            name="synthetic",
            root=folder,
            train_ann=folder / "train.json",
            train_images=folder / "train" / "JPEGImages",
            val_ann=folder / f"{val_split}.json",
            val_images=folder / val_split / "JPEGImages",
        )

    def prepare_data(self) -> None:
        existed = (self.data_dir / "meta.json").is_file()
        if self._prepared and existed:
            return
        folder = ensure_synthetic(Path(self.root or default_cache_dir()), self.synthetic_config)
        with open(folder / "meta.json") as f:
            stats = {k: SplitStats(**v) for k, v in json.load(f)["stats"].items()}
        verb = "using" if existed else "generated"
        print(f"synthetic YouTube-VIS set ({verb}): {folder}\n{format_stats(stats)}", flush=True)
        if self.synthetic_images:
            images = ensure_coco_images(
                Path(self.root or default_cache_dir()), self.synthetic_images, self.synthetic_config
            )
            self.image_ann, self.image_root = str(images / COCO_ANN_FILE), str(images / COCO_IMAGE_DIR)
            print(f"synthetic COCO-format images: {images} ({self.synthetic_images} images)", flush=True)
        self._prepared = True

    def setup(self, stage: str | None = None) -> None:
        if not os.path.isfile(self.data_dir / "meta.json") or (self.synthetic_images and not self.image_ann):
            self.prepare_data()
        super().setup(stage)
