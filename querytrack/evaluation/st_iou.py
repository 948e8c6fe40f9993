"""Spatio-temporal mask IoU between tracks: Σ_frames intersection / Σ_frames union.

Semantics follow the official YouTube-VIS evaluator (youtubevos/cocoapi ``PythonAPI/pycocotools/ytvoseval.py``,
``computeIoU.iou_seq``): frames are paired up to the shorter of the two sequences (``zip``); a frame where both
are absent is skipped; a frame where one is absent adds the other's area to the union; an empty mask behaves
like an absent one (it adds 0); IoU is 0 when the union is 0.

Instead of one ``merge`` + ``area`` call per (detection, ground truth, frame) as the official code, this makes one
``pycocotools.mask.iou`` call per frame for all pairs of a video and recovers the exact integer intersection
from the IoU: with ``iou = i / (a + b - i)``, ``i = iou (a + b) / (1 + iou)`` (rounded; exact for any realistic
frame size since the error is ~1e-9 pixels).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pycocotools import mask as mask_utils

from querytrack.core.rle import RLE, rle_areas

RleSeq = Sequence[RLE | None]


def frame_areas(seqs: Sequence[RleSeq], num_frames: int) -> np.ndarray:
    """Per-frame mask areas.

    Returns:
        ``[len(seqs), num_frames]`` int64, 0 where absent or beyond the sequence's end.
    """
    areas = np.zeros((len(seqs), num_frames), dtype=np.int64)
    idx = [(i, f) for i, seq in enumerate(seqs) for f, r in enumerate(seq) if r is not None]
    if idx:
        vals = rle_areas([seqs[i][f] for i, f in idx])  # type: ignore[misc]
        rows, cols = zip(*idx, strict=True)
        areas[list(rows), list(cols)] = vals
    return areas


def _pad(areas: np.ndarray, num_frames: int) -> np.ndarray:
    out = np.zeros((areas.shape[0], num_frames), dtype=np.int64)
    out[:, : areas.shape[1]] = areas
    return out


def intersections_and_unions(
    dt_seqs: Sequence[RleSeq],
    gt_seqs: Sequence[RleSeq],
    dt_areas: np.ndarray | None = None,
    gt_areas: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact summed intersections and unions between every detection track and every ground-truth track.

    Args:
        dt_seqs: ``D`` per-frame lists of compressed RLE (or ``None`` where absent).
        gt_seqs: ``G`` per-frame lists of compressed RLE (or ``None``).
        dt_areas: optional precomputed ``frame_areas(dt_seqs, ·)`` (``[D, ≥ max length]``).
        gt_areas: optional precomputed ``frame_areas(gt_seqs, ·)``.

    Returns:
        ``(inter, union)``, both ``[D, G]`` int64 pixel counts summed over the paired frames.
    """
    D, G = len(dt_seqs), len(gt_seqs)
    len_d = np.array([len(s) for s in dt_seqs], dtype=np.int64)
    len_g = np.array([len(s) for s in gt_seqs], dtype=np.int64)
    F = int(max(len_d.max(initial=0), len_g.max(initial=0)))
    area_d = frame_areas(dt_seqs, F) if dt_areas is None else _pad(dt_areas[:, :F], F)
    area_g = frame_areas(gt_seqs, F) if gt_areas is None else _pad(gt_areas[:, :F], F)
    inter = np.zeros((D, G), dtype=np.int64)
    if D == 0 or G == 0:
        return inter, inter.copy()
    present_d = area_d > 0  # empty masks add nothing to intersections: skip them like absent frames
    present_g = area_g > 0
    for f in np.flatnonzero(present_d.any(0) & present_g.any(0)).tolist():
        di = np.flatnonzero(present_d[:, f]).tolist()
        gi = np.flatnonzero(present_g[:, f]).tolist()
        iou = np.asarray(
            mask_utils.iou([dt_seqs[d][f] for d in di], [gt_seqs[g][f] for g in gi], [0] * len(gi))
        )
        if (iou < 0).any():
            raise ValueError(f"frame {f}: detection and ground-truth RLE 'size' differ")
        tot = area_d[di, f][:, None] + area_g[gi, f][None, :]
        inter[np.ix_(di, gi)] += np.rint(iou * tot / (1.0 + iou)).astype(np.int64)
    # union over the first min(len_d, len_g) frames = area_d + area_g - inter (one absent: the other's area).
    n = np.minimum(len_d[:, None], len_g[None, :])
    cum_d = np.concatenate([np.zeros((D, 1), np.int64), np.cumsum(area_d, axis=1)], axis=1)
    cum_g = np.concatenate([np.zeros((G, 1), np.int64), np.cumsum(area_g, axis=1)], axis=1)
    union = cum_d[np.arange(D)[:, None], n] + cum_g[np.arange(G)[None, :], n] - inter
    return inter, union


def spatio_temporal_iou(
    dt_seqs: Sequence[RleSeq],
    gt_seqs: Sequence[RleSeq],
    dt_areas: np.ndarray | None = None,
    gt_areas: np.ndarray | None = None,
) -> np.ndarray:
    """Video IoU matrix (official YouTube-VIS definition).

    Args:
        dt_seqs: ``D`` per-frame RLE lists (``None`` where absent).
        gt_seqs: ``G`` per-frame RLE lists.
        dt_areas: optional precomputed per-frame areas of ``dt_seqs``.
        gt_areas: optional precomputed per-frame areas of ``gt_seqs``.

    Returns:
        ``[D, G]`` float64; 0 where the union is empty.
    """
    inter, union = intersections_and_unions(dt_seqs, gt_seqs, dt_areas, gt_areas)
    out = np.zeros(inter.shape, dtype=np.float64)
    nz = union > 0
    out[nz] = inter[nz].astype(np.float64) / union[nz].astype(np.float64)
    return out
