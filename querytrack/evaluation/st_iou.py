"""Spatio-temporal mask IoU between tracks: Σ_frames intersection / Σ_frames union.

Semantics follow the official YouTube-VIS evaluator (youtubevos/cocoapi ``PythonAPI/pycocotools/ytvoseval.py``,
``computeIoU.iou_seq``): frames are paired up to the shorter of the two sequences (``zip``); a frame where both
are absent is skipped; a frame where one is absent adds the other's area to the union; an empty mask behaves
like an absent one (it adds 0); IoU is 0 when the union is 0.

Where the official code calls ``merge`` + ``area`` once per (detection, ground truth, frame), this computes the
intersections of every requested track pair of every frame with one ``pycocotools.mask.iou`` call per ground-truth
mask (:func:`intersector`), and the unions from the per-frame areas: ``union = Σ area_d + Σ area_g - Σ inter``
over the paired frames. Every string has passed the NumPy validation (``core.rle_check``) before it reaches
pycocotools.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from pycocotools import mask as mask_utils

from querytrack.core.rle import RLE
from querytrack.core.rle_once import ParseOnce

RleSeq = Sequence[RLE | None]


class TrackTable:
    """Every track's per-frame masks, to be parsed once and indexed by position (``ParseOnce``)."""

    def __init__(self) -> None:
        self.seqs: list[list[RLE | None]] = []  # per track: compressed RLE per frame, None where absent

    def add(self, seq: list[RLE | None]) -> int:
        """Append a track (its per-frame compressed RLEs, ``None`` where absent); return its row."""
        self.seqs.append(seq)
        return len(self.seqs) - 1

    def build(self, once: ParseOnce) -> tuple[np.ndarray, np.ndarray]:
        """Parse the RLEs (``once``) and return ``(masks [T, F], lengths [T])``: each track's masks as their
        positions in ``once``, -1 where absent.

        Raises:
            ValueError: a malformed RLE string.
        """
        lengths = np.fromiter(map(len, self.seqs), dtype=np.int64, count=len(self.seqs))
        flat = [r for seq in self.seqs for r in seq]
        present = np.fromiter((r is not None for r in flat), dtype=bool, count=len(flat))
        pos = once.index([r for r in flat if r is not None])
        bad = int((~once.valid(pos)).sum())
        if bad:
            raise ValueError(f"{bad} malformed RLE string(s)")
        masks = np.full((len(self.seqs), int(lengths.max(initial=0))), -1, dtype=np.int64)
        rows = np.repeat(np.arange(len(self.seqs)), lengths)
        cols = np.arange(len(flat)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        masks[rows[present], cols[present]] = pos
        return masks, lengths


def track_intersections_and_unions(
    frame_area: np.ndarray,
    masks: np.ndarray,
    lengths: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    intersect: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Exact summed intersections and unions of track pairs ``(a[p], b[p])``.

    Args:
        frame_area: ``[T, F]`` int64 area of each track's mask in each frame, 0 where absent.
        masks: ``[T, F]`` int64 index of each track's mask in each frame, -1 where absent.
        lengths: ``[T]`` int64 number of frames of each track's sequence (frames are paired up to the shorter).
        a: ``[P]`` track indices.
        b: ``[P]`` track indices.
        intersect: ``(ma [Q], mb [Q]) -> [Q]`` int64 intersection areas of masks (same size) ``ma[q]``, ``mb[q]``.

    Returns:
        ``(inter, union)``, both ``[P]`` int64 pixel counts over the paired frames.
    """
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    paired = np.arange(masks.shape[1])[None, :] < np.minimum(lengths[a], lengths[b])[:, None]  # [P, F]
    sums = ((frame_area[a] + frame_area[b]) * paired).sum(1)
    both = paired & (frame_area[a] > 0) & (frame_area[b] > 0)  # empty masks add nothing to an intersection
    p, f = np.nonzero(both)
    inter_pf = intersect(masks[a[p], f], masks[b[p], f])
    inter = np.bincount(p, weights=inter_pf, minlength=a.size).round().astype(np.int64)
    return inter, sums - inter


def intersector(once: ParseOnce) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``intersect`` for :func:`track_intersections_and_unions` over masks given by their positions in ``once``
    (``ParseOnce.index``).

    The pairs are grouped by their second mask: one ``pycocotools.mask.iou`` call per distinct mask of ``mb``
    against all its partners. The exact integer intersection is recovered from the IoU and the areas
    (``i = iou (a + b) / (1 + iou)``, rounded: the float error is ~1e-9 pixels for any frame size).

    Raises (when called):
        ValueError: a mask is malformed, or two paired masks differ in size.
    """

    def intersect(ma: np.ndarray, mb: np.ndarray) -> np.ndarray:
        if ma.size == 0:
            return np.zeros(0, dtype=np.int64)
        if not once.valid(np.unique(np.concatenate([ma, mb]))).all():
            raise ValueError("malformed RLE string")  # never handed to pycocotools
        if (once.sizes[ma] != once.sizes[mb]).any():
            raise ValueError("masks of different sizes paired in a frame (RLE 'size' differs)")
        order = np.argsort(mb, kind="stable")
        sb = mb[order]
        starts = np.flatnonzero(np.r_[True, sb[1:] != sb[:-1]])
        ends = np.r_[starts[1:], sb.size]
        rles = once.rles
        iou = np.empty(ma.size, dtype=np.float64)
        for s, e, b in zip(starts.tolist(), ends.tolist(), sb[starts].tolist(), strict=True):
            idx = order[s:e]
            iou[idx] = mask_utils.iou([rles[i] for i in ma[idx].tolist()], [rles[b]], [0])[:, 0]
        tot = (once.areas[ma] + once.areas[mb]).astype(np.float64)
        return np.rint(iou * tot / (1.0 + iou)).astype(np.int64)

    return intersect


def spatio_temporal_iou(dt_seqs: Sequence[RleSeq], gt_seqs: Sequence[RleSeq]) -> np.ndarray:
    """Video IoU matrix (official YouTube-VIS definition) of every detection track with every ground truth.

    Args:
        dt_seqs: ``D`` per-frame lists of compressed RLE (``None`` where absent).
        gt_seqs: ``G`` per-frame lists of compressed RLE.

    Returns:
        ``[D, G]`` float64; 0 where the union is empty.
    """
    D, G = len(dt_seqs), len(gt_seqs)
    table = TrackTable()
    for seq in (*dt_seqs, *gt_seqs):
        table.add(list(seq))
    once = ParseOnce()
    masks, lengths = table.build(once)
    a, b = np.repeat(np.arange(D), G), np.tile(np.arange(D, D + G), D)
    frame_area = np.append(once.areas, 0)[masks]
    inter, union = track_intersections_and_unions(frame_area, masks, lengths, a, b, intersector(once))
    return ious_from(inter, union).reshape(D, G)


def ious_from(inter: np.ndarray, union: np.ndarray) -> np.ndarray:
    """``inter / union`` as float64, 0 where the union is 0."""
    out = np.zeros(inter.shape, dtype=np.float64)
    nz = union > 0
    out[nz] = inter[nz].astype(np.float64) / union[nz].astype(np.float64)
    return out
