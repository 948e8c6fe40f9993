"""Random YouTube-VIS ground truth and perturbed results, for tests and benchmarks (no images needed)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from querytrack.core.rle import encode_masks


def _box_mask(h: int, w: int, box: np.ndarray) -> np.ndarray:
    m = np.zeros((h, w), dtype=bool)
    x0, y0, x1, y1 = np.clip(np.round(box).astype(int), 0, [w, h, w, h])
    m[y0:y1, x0:x1] = True
    return m


def _track_masks(rng: np.random.Generator, h: int, w: int, n: int, present: np.ndarray) -> list[Any]:
    bw, bh = rng.uniform(0.1, 0.7) * w, rng.uniform(0.1, 0.7) * h
    x, y = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
    vx, vy = rng.normal(0, 0.02 * w), rng.normal(0, 0.02 * h)
    out: list[Any] = []
    for f in range(n):
        if not present[f]:
            out.append(None)
            continue
        box = np.array([x + vx * f, y + vy * f, x + vx * f + bw, y + vy * f + bh])
        out.append(_box_mask(h, w, box))
    return out


def make_gt(
    num_videos: int = 5,
    num_categories: int = 3,
    seed: int = 0,
    frames: tuple[int, int] = (3, 8),
    sizes: tuple[tuple[int, int], ...] = ((24, 32), (60, 80), (150, 200), (300, 400)),
    max_objects: int = 4,
    crowd_prob: float = 0.0,
    min_objects: int = 0,
) -> dict[str, Any]:
    """Generate a YouTube-VIS ground-truth dict with box-shaped moving masks and gaps.

    Args:
        num_videos: number of videos.
        num_categories: number of categories (ids 1..C).
        seed: random seed.
        frames: inclusive range of the number of frames per video.
        sizes: candidate (height, width) of the videos.
        max_objects: maximum objects per video.
        min_objects: minimum objects per video (drawn uniformly in ``[min_objects, max_objects]``).
        crowd_prob: probability that an annotation has ``iscrowd = 1``.

    Returns:
        ``{"videos", "annotations", "categories"}`` with compressed RLE (str counts), ``areas``, ``bboxes``.
    """
    rng = np.random.default_rng(seed)
    cats = [{"id": c + 1, "name": f"cat{c + 1}", "supercategory": "object"} for c in range(num_categories)]
    videos: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    for v in range(num_videos):
        h, w = sizes[rng.integers(len(sizes))]
        n = int(rng.integers(frames[0], frames[1] + 1))
        vid = v + 1
        videos.append(
            {
                "id": vid,
                "height": int(h),
                "width": int(w),
                "length": n,
                "file_names": [f"video{vid:04d}/{5 * f:05d}.jpg" for f in range(n)],
            }
        )
        for _ in range(int(rng.integers(min_objects, max_objects + 1))):
            present = rng.random(n) < 0.8
            if not present.any():
                present[rng.integers(n)] = True
            masks = _track_masks(rng, h, w, n, present)
            segs: list[Any] = []
            areas: list[int | None] = []
            boxes: list[list[int] | None] = []
            for m in masks:
                if m is None:
                    segs.append(None)
                    areas.append(None)
                    boxes.append(None)
                    continue
                segs.append(encode_masks(m[None])[0])
                areas.append(int(m.sum()))
                ys, xs = np.nonzero(m)
                box = (
                    [int(xs.min()), int(ys.min()), int(np.ptp(xs) + 1), int(np.ptp(ys) + 1)]
                    if m.any()
                    else None
                )
                boxes.append(box)
            anns.append(
                {
                    "id": len(anns) + 1,
                    "video_id": vid,
                    "category_id": int(rng.integers(1, num_categories + 1)),
                    "segmentations": segs,
                    "areas": areas,
                    "bboxes": boxes,
                    "iscrowd": int(rng.random() < crowd_prob),
                    "height": int(h),
                    "width": int(w),
                    "length": 1,
                }
            )
    return {
        "info": {"description": "querytrack fake"},
        "videos": videos,
        "annotations": anns,
        "categories": cats,
    }


def make_results(
    gt: dict[str, Any],
    seed: int = 0,
    false_positives: int = 3,
    score_levels: int = 0,
    fp_gt_category_prob: float = 0.0,
    max_copies: int = 2,
) -> list[Any]:
    """Perturbed predictions for ``gt``: shifted copies (some wrong class, some split in two), empty masks, FPs.

    Args:
        gt: a ground-truth dict (e.g. from ``make_gt``).
        seed: random seed.
        false_positives: maximum number of random tracks added per video.
        score_levels: if > 0, scores are rounded to this many levels (creates ties).
        fp_gt_category_prob: probability that a random track takes a category present in the video's GT
            (detectors confuse objects of the classes in view; these are the expensive pairs to evaluate).
        max_copies: maximum perturbed copies per GT track (duplicates, as a top-k detector produces).

    Returns:
        A YouTube-VIS results list.
    """
    rng = np.random.default_rng(seed)
    cats = [c["id"] for c in gt["categories"]]
    videos = {v["id"]: v for v in gt["videos"]}
    out: list[dict[str, Any]] = []

    def score() -> float:
        s = float(rng.random())
        return round(s * score_levels) / score_levels if score_levels else s

    def emit(vid: int, cat: int, masks: list[Any]) -> None:
        segs = [None if m is None else encode_masks(m[None])[0] for m in masks]
        out.append({"video_id": vid, "category_id": cat, "score": score(), "segmentations": segs})

    for ann in gt["annotations"]:
        v = videos[ann["video_id"]]
        h, w = v["height"], v["width"]
        masks = [None if s is None else mask_utils.decode(s).astype(bool) for s in ann["segmentations"]]
        for _ in range(int(rng.integers(0, max_copies + 1))):
            dy, dx = rng.integers(-h // 20, h // 20 + 1), rng.integers(-w // 20, w // 20 + 1)
            shifted = [None if m is None else np.roll(m, (dy, dx), axis=(0, 1)) for m in masks]
            shifted = [None if (m is not None and rng.random() < 0.1) else m for m in shifted]
            if rng.random() < 0.1:
                shifted = [None if m is None else np.zeros_like(m) for m in shifted[:1]] + shifted[1:]
            cat = ann["category_id"] if rng.random() < 0.8 else int(rng.choice(cats))
            if rng.random() < 0.2 and len(shifted) > 1:
                cut = int(rng.integers(1, len(shifted)))
                emit(ann["video_id"], cat, shifted[:cut] + [None] * (len(shifted) - cut))
                emit(ann["video_id"], cat, [None] * cut + shifted[cut:])
            else:
                emit(ann["video_id"], cat, shifted)
    gt_cats: dict[int, list[int]] = {}
    for ann in gt["annotations"]:
        gt_cats.setdefault(ann["video_id"], []).append(ann["category_id"])
    for vid, v in videos.items():
        h, w, n = v["height"], v["width"], len(v["file_names"])
        for _ in range(int(rng.integers(0, false_positives + 1))):
            present = rng.random(n) < 0.7
            in_view = gt_cats.get(vid)
            cat = (
                int(rng.choice(in_view))
                if in_view and rng.random() < fp_gt_category_prob
                else int(rng.choice(cats))
            )
            emit(vid, cat, _track_masks(rng, h, w, n, present))
    rng.shuffle(out)  # type: ignore[arg-type]
    return out
