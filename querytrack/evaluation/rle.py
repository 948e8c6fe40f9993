"""Run-length-encoding helpers shared by the evaluator, the validator and the result writer.

All masks are COCO RLE dicts ``{"size": [h, w], "counts": ...}`` (column-major runs, pycocotools convention).
*Compressed* RLE has ``counts`` as a ``str`` (or ``bytes``); *uncompressed* RLE has ``counts`` as a list of ints.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from querytrack.data import rle as data_rle
from querytrack.data.rle import compressed_rle_valid

RLE = dict[str, Any]

__all__ = [
    "RLE",
    "compressed_rle_valid",
    "encode_masks",
    "rle_area",
    "rle_areas",
    "to_compressed",
    "to_uncompressed",
]


def encode_masks(masks: np.ndarray) -> list[RLE]:
    """Encode binary masks as compressed RLE with ``str`` counts (JSON-ready).

    Args:
        masks: ``[M, H, W]`` bool or uint8 (fastest when each mask is stored column-major, e.g. the
            transposed view ``paste_masks`` returns).

    Returns:
        ``M`` RLE dicts, ``counts`` decoded to ``str``.
    """
    if masks.shape[0] == 0:
        return []
    arr = masks.view(np.uint8) if masks.dtype == bool else masks.astype(np.uint8)
    # [M, H, W] -> [H, W, M] Fortran order; free when each mask is already stored column-major
    arr = np.asfortranarray(np.moveaxis(arr, 0, -1))
    rles = mask_utils.encode(arr)
    for rle in rles:
        rle["counts"] = rle["counts"].decode("ascii")
    return rles


def to_compressed(seg: Any, height: int, width: int) -> RLE | None:
    """Normalise one YouTube-VIS segmentation (polygon list, uncompressed or compressed RLE) to compressed RLE.

    Mirrors how the official evaluator reads ground truth (youtubevos/cocoapi
    ``PythonAPI/pycocotools/ytvos.py``, ``annToRLE``): polygons are merged into one RLE, uncompressed RLE is
    converted with ``frPyObjects``, compressed RLE is kept. Falsy segmentations (``None``, ``[]``) mean absent.

    Args:
        seg: the segmentation of one frame.
        height: video height (used for polygons).
        width: video width (used for polygons).

    Returns:
        A compressed RLE dict, or ``None`` when the object is absent in the frame.
    """
    if not seg:
        return None
    return data_rle.to_compressed(seg, height, width)


def to_uncompressed(rle: RLE) -> RLE:
    """Convert a compressed RLE to uncompressed (list counts), the form trackeval's GT loader accepts.

    Args:
        rle: compressed or uncompressed RLE.

    Returns:
        ``{"size": [h, w], "counts": [int, ...]}``; counts start with the number of leading zeros.
    """
    if isinstance(rle["counts"], list):
        return {"size": list(rle["size"]), "counts": list(rle["counts"])}
    h, w = rle["size"]
    flat = mask_utils.decode(rle).ravel(order="F").astype(np.int8)
    n = flat.size
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate(([0], change, [n]))
    counts = np.diff(bounds).tolist()
    if n and flat[0] == 1:
        counts = [0, *counts]
    return {"size": [int(h), int(w)], "counts": [int(c) for c in counts]}


def rle_areas(rles: list[RLE]) -> np.ndarray:
    """Areas of many RLEs.

    ``pycocotools.mask.area`` (2.0.11 with NumPy 2) raises ``OverflowError`` for lists longer than 255 (it
    builds a ``uint8`` array from the list length), so the list is processed in chunks of 255.

    Returns:
        ``[len(rles)]`` uint32.
    """
    if not rles:
        return np.zeros(0, dtype=np.uint32)
    return np.concatenate([mask_utils.area(rles[i : i + 255]) for i in range(0, len(rles), 255)])


def rle_area(rle: RLE | None) -> int:
    """Foreground pixel count of one RLE (0 for ``None``)."""
    if rle is None:
        return 0
    return int(mask_utils.area(rle))
