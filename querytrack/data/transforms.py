"""Training and test-time augmentation with ``torchvision.transforms.v2`` and ``tv_tensors``.

Every transform here acts on a sample ``dict`` whose entries are ``tv_tensors.Image`` (uint8 ``[3, H, W]``),
``tv_tensors.BoundingBoxes`` (absolute xyxy) and ``tv_tensors.Mask`` (bool ``[K, H, W]``); v2 moves boxes and
masks together with the image.

**Key and reference frames share one augmentation draw** (:class:`PairTransform`, ``shared=True`` by
default): both frames go through a single v2 call, which draws its random parameters once. At inference all
frames of a video share one resize and no flip, so the appearance embeddings are always compared between
frames at the same scale and orientation; independent draws would spend capacity on scale/flip invariance the
tracker never needs and would make the reference frame's boxes incomparable with the key frame's. This is also
what MaskTrack R-CNN does (one flip and one scale per pair; youtubevos/MaskTrackRCNN ``mmdet/datasets/ytvos.py``).
``shared=False`` draws independently (an ablation).

The paper's recipe (docs/method.md §4): random flip; multi-scale resize with the short side sampled from
320..800 (step 32) and the long side ≤ 1333; random crop as in QueryInst's 300-query config (with probability
½: resize the short side to one of 400/500/600, crop a random ``[384, 600]`` window, then the multi-scale
resize; hustvl/QueryInst ``configs/queryinst/queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco.py``).
Test: short side 640, long ≤ 1333 (challenge) or 360p (short 360, long ≤ 640; the R50 baseline).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2._utils import query_size

PAPER_MIN_SIZES: tuple[int, ...] = tuple(range(320, 801, 32))


class RandomSizeCrop(v2.Transform):
    """Crop a window whose height and width are drawn uniformly from ``[min_size, max_size]`` pixels.

    The window is clipped to the image (an image smaller than ``min_size`` is left whole), so the crop never
    pads. Boxes are cropped and clamped by v2; instances left empty are removed later by
    :func:`remove_degenerate`.
    """

    def __init__(self, min_size: int = 384, max_size: int = 600) -> None:
        super().__init__()
        if not 0 < min_size <= max_size:
            raise ValueError(f"need 0 < min_size <= max_size, got {min_size}, {max_size}")
        self.min_size = min_size
        self.max_size = max_size

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        h, w = query_size(flat_inputs)
        ch = int(torch.randint(min(self.min_size, h), min(self.max_size, h) + 1, ()).item())
        cw = int(torch.randint(min(self.min_size, w), min(self.max_size, w) + 1, ()).item())
        top = int(torch.randint(0, h - ch + 1, ()).item())
        left = int(torch.randint(0, w - cw + 1, ()).item())
        return {"top": top, "left": left, "height": ch, "width": cw}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(F.crop, inpt, **params)


def build_train_transform(
    min_sizes: Sequence[int] = PAPER_MIN_SIZES,
    max_size: int = 1333,
    flip_prob: float = 0.5,
    crop: bool = True,
    crop_prob: float = 0.5,
    crop_resize_sizes: Sequence[int] = (400, 500, 600),
    crop_min: int = 384,
    crop_max: int = 600,
) -> v2.Transform:
    """The training augmentation: flip, optional QueryInst crop, multi-scale resize.

    Args:
        min_sizes: short-side sizes drawn uniformly (paper: 320..800 step 32); empty: keep the size.
        max_size: cap on the long side (paper: 1333).
        flip_prob: horizontal flip probability.
        crop: enable the random crop branch (paper: on for the 300-query model, off for the R50 baseline).
        crop_prob: probability of the crop branch when ``crop``.
        crop_resize_sizes: short sides the image is resized to before cropping.
        crop_min / crop_max: crop window size range in pixels.
    """
    resize: v2.Transform = (
        v2.RandomShortestSize(min_size=list(min_sizes), max_size=max_size, antialias=True)
        if len(min_sizes)
        else v2.Identity()
    )
    steps: list[v2.Transform] = []
    if flip_prob > 0:
        steps.append(v2.RandomHorizontalFlip(p=flip_prob))
    if crop and crop_prob > 0:
        crop_branch = v2.Compose(
            [
                v2.RandomShortestSize(min_size=list(crop_resize_sizes), max_size=max_size, antialias=True),
                RandomSizeCrop(crop_min, crop_max),
                resize,
            ]
        )
        steps.append(v2.RandomChoice([crop_branch, resize], p=[crop_prob, 1.0 - crop_prob]))
    else:
        steps.append(resize)
    return v2.Compose(steps)


def build_test_transform(short_size: int = 640, max_size: int = 1333) -> v2.Transform:
    """Deterministic test-time resize: short side ``short_size``, long side ≤ ``max_size`` (360p: 360/640)."""
    return v2.Resize(size=short_size, max_size=max_size, antialias=True)


def remove_degenerate(
    boxes: torch.Tensor,
    masks: torch.Tensor,
    *others: torch.Tensor,
    min_size: float = 1.0,
    nonempty: torch.Tensor | None = None,
) -> tuple[torch.Tensor, ...]:
    """Drop instances whose box is thinner than ``min_size`` pixels or whose mask is empty.

    Args:
        boxes: ``[K, 4]`` absolute xyxy.
        masks: ``[K, H, W]`` bool or uint8.
        others: further ``[K, ...]`` tensors (labels, instance ids) filtered alike.
        nonempty: ``[K]`` bool, which masks have a pixel, when the caller knows it already.

    Returns:
        ``(boxes, masks, *others)`` restricted to the kept instances.
    """
    wh = boxes[:, 2:] - boxes[:, :2]
    keep = (wh >= min_size).all(dim=1)
    if nonempty is not None:
        keep &= nonempty
    elif masks.numel():
        keep &= masks.flatten(1).amax(dim=1) > 0
    if bool(keep.all()):
        return (boxes, masks, *others)
    return (boxes[keep], masks[keep], *(o[keep] for o in others))


class PairTransform:
    """Apply a v2 transform to the key and reference frame of a pair, with one draw or two.

    Inputs and outputs are dicts ``{"image", "boxes", "masks"}`` per frame (tv_tensors).
    """

    def __init__(self, transform: v2.Transform | None, shared: bool = True) -> None:
        self.transform = transform
        self.shared = shared

    def __call__(self, key: dict[str, Any], ref: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        if self.transform is None:
            return key, ref
        if self.shared and key["image"].shape[-2:] == ref["image"].shape[-2:]:
            out = self.transform({"key": key, "ref": ref})
            return out["key"], out["ref"]
        return self.transform(key), self.transform(ref)


def to_tv_sample(image: torch.Tensor, boxes: torch.Tensor, masks: torch.Tensor | None) -> dict[str, Any]:
    """Wrap plain tensors (uint8 ``[3, H, W]``, xyxy ``[K, 4]``, uint8/bool ``[K, H, W]``) as a v2 sample dict.

    ``masks=None`` leaves the ``"masks"`` entry out (masks that travel as a sampling grid instead).
    """
    h, w = image.shape[-2:]
    sample = {
        "image": tv_tensors.Image(image),
        "boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(h, w)),
    }
    if masks is not None:
        sample["masks"] = tv_tensors.Mask(masks)
    return sample
