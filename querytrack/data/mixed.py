"""Video pairs and image pairs mixed at a fixed ratio, deterministic per epoch.

An epoch of :class:`MixedPairDataset` holds every video pair once plus ``round(V · r / (1 - r))`` image pairs (``V``
video pairs, ``r`` the image ratio), so a share ``r`` of the pairs comes from images; ``r = 1`` is image-level
training alone (one epoch = every image once). Image slots take the images in a fresh permutation seeded by
``(seed, epoch)``, cycling when the slots outnumber the images; the training sampler shuffles all slots together.
"""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from querytrack.data.coco_images import ImagePairDataset
from querytrack.data.datasets import PairDataset
from querytrack.data.ytvis import YTVISDataset
from querytrack.types import PairSample


class MixedPairDataset(Dataset[PairSample]):
    """YouTube-VIS pairs and COCO-format image pairs in one training set.

    Args:
        videos: the video pairs (their ``ytvis`` gives the classes).
        images: the image pairs.
        image_ratio: share of image pairs in an epoch, ``0 <= r <= 1``.
        seed: base seed of the per-epoch image permutation.
    """

    def __init__(
        self, videos: PairDataset, images: ImagePairDataset, image_ratio: float, seed: int = 0
    ) -> None:
        if not 0.0 <= image_ratio <= 1.0:
            raise ValueError(f"image_ratio must be in [0, 1], got {image_ratio}")
        self.videos = videos
        self.images = images
        self.image_ratio = image_ratio
        self.seed = seed
        self.num_video_pairs = 0 if image_ratio == 1.0 else len(videos)
        self.num_image_pairs = (
            len(images) if image_ratio == 1.0 else round(len(videos) * image_ratio / (1.0 - image_ratio))
        )
        self._perm: tuple[int, np.ndarray] | None = None

    @property
    def ytvis(self) -> YTVISDataset:
        """The video annotations (classes, category ids)."""
        return self.videos.ytvis

    def __len__(self) -> int:
        return self.num_video_pairs + self.num_image_pairs

    def set_epoch(self, epoch: int) -> None:
        self.videos.set_epoch(epoch)
        self.images.set_epoch(epoch)

    def _image_order(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, epoch, 1]).permutation(len(self.images)))
        return self._perm[1]

    def __getitem__(self, item: int | tuple[int, int]) -> PairSample:
        """Slot ``item`` (an index, or ``(epoch, index)`` from the sampler): a video pair or an image pair."""
        epoch, index = (self.videos.epoch, item) if isinstance(item, int) else (int(item[0]), int(item[1]))
        if index < self.num_video_pairs:
            return self.videos[(epoch, index)]
        slot = index - self.num_video_pairs
        return self.images[(epoch, int(self._image_order(epoch)[slot % len(self.images)]))]
