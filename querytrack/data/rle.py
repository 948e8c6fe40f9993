"""Mask <-> RLE helpers around ``pycocotools.mask`` (the only RLE implementation we use).

YouTube-VIS files carry segmentations in three encodings, all handled here:

* uncompressed RLE: ``{"size": [h, w], "counts": [int, ...]}`` (the official train json),
* compressed RLE: ``{"size": [h, w], "counts": "string"}`` (results files),
* polygons: ``[[x0, y0, x1, y1, ...], ...]`` (some converted sets).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils


def encode_uncompressed(mask: np.ndarray) -> dict[str, Any]:
    """Encode a binary mask as an *uncompressed* RLE (counts list), as the official train json does.

    Args:
        mask: ``[H, W]`` bool/uint8 array.

    Returns:
        ``{"size": [H, W], "counts": [n0, n1, ...]}``, runs in column-major order starting with zeros.
    """
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return {"size": [h, w], "counts": [0]}
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0, *runs]
    return {"size": [h, w], "counts": [int(r) for r in runs]}


def encode_compressed(mask: np.ndarray) -> dict[str, Any]:
    """Encode a binary mask ``[H, W]`` as a compressed RLE with ``counts`` as ``str`` (results format)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask, dtype=np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def to_compressed(segm: Any, height: int, width: int) -> dict[str, Any]:
    """Convert any YouTube-VIS segmentation (polygon / RLE, compressed or not) to a compressed RLE.

    The returned ``counts`` may be ``bytes`` (pycocotools' own form); ``decode``/``area`` accept it.
    """
    if isinstance(segm, list):
        rles = mask_utils.frPyObjects(segm, height, width)
        return mask_utils.merge(rles)
    if isinstance(segm.get("counts"), list):
        return mask_utils.frPyObjects(segm, height, width)
    return segm


def decode(segm: Any, height: int, width: int) -> np.ndarray:
    """Decode any segmentation to a ``[H, W]`` bool array."""
    return mask_utils.decode(to_compressed(segm, height, width)).astype(bool)


def decode_many(segms: list[Any], height: int, width: int) -> np.ndarray:
    """Decode several segmentations of one frame in one pycocotools call.

    Returns:
        ``[K, H, W]`` uint8 (0/1), C-contiguous.
    """
    if not segms:
        return np.zeros((0, height, width), dtype=np.uint8)
    decoded = mask_utils.decode([to_compressed(s, height, width) for s in segms])  # [H, W, K], Fortran order
    return np.ascontiguousarray(decoded.transpose(2, 0, 1))
