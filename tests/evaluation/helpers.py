"""Tiny hand-made YouTube-VIS files for golden tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from querytrack.core.rle import encode_masks


def box(h: int, w: int, y0: int, x0: int, y1: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def rle(m: np.ndarray | None) -> dict[str, Any] | None:
    return None if m is None else encode_masks(m[None])[0]


def make_video_gt(
    objects: list[tuple[int, list[np.ndarray | None]]],
    h: int,
    w: int,
    num_categories: int = 2,
    video_id: int = 1,
) -> dict[str, Any]:
    """One video; ``objects`` = [(category_id, per-frame masks or None)]."""
    n = len(objects[0][1])
    anns = []
    for i, (cat, masks) in enumerate(objects):
        anns.append(
            {
                "id": i + 1,
                "video_id": video_id,
                "category_id": cat,
                "iscrowd": 0,
                "segmentations": [rle(m) for m in masks],
                "areas": [None if m is None else int(m.sum()) for m in masks],
                "bboxes": [None] * n,
            }
        )
    return {
        "videos": [
            {
                "id": video_id,
                "height": h,
                "width": w,
                "length": n,
                "file_names": [f"v/{i}.jpg" for i in range(n)],
            }
        ],
        "annotations": anns,
        "categories": [{"id": c + 1, "name": f"c{c + 1}"} for c in range(num_categories)],
    }


def entry(cat: int, score: float, masks: list[np.ndarray | None], video_id: int = 1) -> dict[str, Any]:
    return {
        "video_id": video_id,
        "category_id": cat,
        "score": score,
        "segmentations": [rle(m) for m in masks],
    }
