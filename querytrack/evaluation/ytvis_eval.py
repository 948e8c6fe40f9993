"""Video AP / AR, numerically identical to the official YouTube-VIS evaluator, vectorised.

Reference semantics: youtubevos/cocoapi ``PythonAPI/pycocotools/ytvoseval.py`` (``YTVOSeval``) and ``ytvos.py``
(``loadRes``). Facts reproduced (no code copied):

* videos = sorted GT video ids; categories = sorted GT category ids; results with other categories are dropped.
* per (video, category): detections sorted by score (stable, file order breaks ties), at most 100 kept.
* IoU = spatio-temporal mask IoU (``st_iou.py``).
* IoU thresholds ``linspace(.5, .95, 10)``; recall thresholds ``linspace(0, 1, 101)``; maxDets 1, 10, 100.
* area ranges (pixels², both bounds inclusive): all [0, 1e10], small [0, 128²], medium [128², 256²],
  large [256², 1e10]. A track's area is the mean over the frames where its area is non-zero: for GT the ``areas``
  field of the json (``None``/0 skipped), for results the RLE areas; 0 when never present.
* GT with ``iscrowd`` is ignored (may be matched several times); a GT outside the area range is ignored.
* greedy COCO matching per threshold, detections by score: the best-IoU available non-ignored GT (IoU ≥ threshold;
  on equal IoU the later GT in file order wins), else the best ignored GT; matching is done once with 100
  detections and reused (truncated) for maxDets 1 and 10.
* a GT whose ``id`` is 0 counts as *unmatched* once matched (the official code stores the id as the match flag).
* unmatched detections outside the area range are ignored; precision is the monotone envelope sampled at the
  recall thresholds (0 past the last recall); -1 marks categories without non-ignored GT, excluded from means.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from querytrack.core.gc_pause import gc_paused
from querytrack.core.rle import RLE, to_compressed
from querytrack.core.rle_once import ParseOnce
from querytrack.evaluation.io import PathOrObj, load_gt, load_results
from querytrack.evaluation.st_iou import TrackTable, intersector, ious_from, track_intersections_and_unions

IOU_THRS = np.linspace(0.5, 0.95, 10)
_THRESHOLDS = np.minimum(IOU_THRS, 1 - 1e-10)  # the official matching compares with min(t, 1 - 1e-10)
REC_THRS = np.linspace(0.0, 1.0, 101)
MAX_DETS = (1, 10, 100)
AREA_RANGES = ((0.0, 1e5**2), (0.0, 128.0**2), (128.0**2, 256.0**2), (256.0**2, 1e5**2))
AREA_LABELS = ("all", "small", "medium", "large")
_AREA_LO = np.array([r[0] for r in AREA_RANGES])[:, None]  # [A, 1]
_AREA_HI = np.array([r[1] for r in AREA_RANGES])[:, None]
STAT_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


@dataclass
class _Tracks:
    """Tracks of one (video, category) group; detections sorted by score, truncated to 100.

    ``rows`` index the tracks in the evaluation's ``st_iou.TrackTable``.
    """

    rows: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    avg_areas: list[float] = field(default_factory=list)
    crowd: list[bool] = field(default_factory=list)


def _compressed_seq(segs: list[Any], height: int, width: int) -> list[RLE | None]:
    """A track's segmentations as compressed RLE (``None`` where absent); the list itself when already so."""
    if all(s is None or (type(s) is dict and type(s.get("counts")) in (str, bytes)) for s in segs):
        return segs
    return [to_compressed(s, height, width) for s in segs]


@dataclass
class APResult:
    """Accumulated evaluation.

    Attributes:
        stats: the 12 summary numbers under ``STAT_KEYS``.
        precision: ``[T=10, R=101, K, A=4, M=3]`` (-1 where undefined).
        recall: ``[T, K, A, M]``.
        cat_ids: the ``K`` category ids (sorted).
        per_category: category id -> AP (IoU .50:.95, area all, 100 dets); NaN without GT.
    """

    stats: dict[str, float]
    precision: np.ndarray
    recall: np.ndarray
    cat_ids: list[int]
    per_category: dict[int, float]


def _avg_area(areas: list[Any]) -> float:
    vals = [a for a in areas if a]
    return float(np.array(vals).mean()) if vals else 0.0


def _gt_tracks(gt: dict[str, Any], cat_set: set[int], table: TrackTable) -> dict[tuple[int, int], _Tracks]:
    """Ground-truth tracks by (video, category); ``avg_areas`` is -1 where the json has no ``areas``."""
    videos = {v["id"]: v for v in gt["videos"]}
    groups: dict[tuple[int, int], _Tracks] = defaultdict(_Tracks)
    for ann in gt.get("annotations", []):
        if ann["category_id"] not in cat_set or ann["video_id"] not in videos:
            continue
        v = videos[ann["video_id"]]
        g = groups[ann["video_id"], ann["category_id"]]
        g.rows.append(table.add(_compressed_seq(ann["segmentations"], v["height"], v["width"])))
        g.ids.append(int(ann["id"]))
        # official: mean of the json "areas" (None / 0 skipped); if absent, of the mask areas (filled later)
        g.avg_areas.append(_avg_area(ann["areas"]) if "areas" in ann else -1.0)
        g.crowd.append(bool(ann.get("iscrowd", 0)))
    return groups


def _dt_tracks(
    results: list[dict[str, Any]],
    videos: dict[int, dict[str, Any]],
    cat_set: set[int],
    max_det: int,
    table: TrackTable,
) -> dict[tuple[int, int], _Tracks]:
    """Detections by (video, category), by score (stable), at most ``max_det``; ``avg_areas`` filled later."""
    by_group: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, r in enumerate(results):
        if r["category_id"] in cat_set:
            by_group[r["video_id"], r["category_id"]].append(i)
    groups: dict[tuple[int, int], _Tracks] = {}
    for key, idx in by_group.items():
        scores = np.array([results[i]["score"] for i in idx])
        order = np.argsort(-scores, kind="mergesort")[:max_det]
        g = _Tracks()
        for o in order.tolist():
            r = results[idx[o]]
            v = videos[r["video_id"]]
            g.rows.append(table.add(_compressed_seq(r["segmentations"], v["height"], v["width"])))
            g.ids.append(idx[o] + 1)
            g.scores.append(r["score"])
            g.avg_areas.append(-1.0)
        groups[key] = g
    return groups


def _mean_nonzero_areas(area: np.ndarray) -> np.ndarray:
    """``[T]`` mean of each row's non-zero areas (0 when none), as the official ``np.mean`` of them.

    A sum of integers is exact in float64, so sum / count is bit-identical to NumPy's mean.
    """
    n = np.count_nonzero(area, axis=1)
    return np.where(n > 0, area.sum(1).astype(np.float64) / np.maximum(n, 1), 0.0)


def _group_ious(
    pairs: list[tuple[_Tracks, _Tracks]],
    frame_area: np.ndarray,
    masks: np.ndarray,
    lengths: np.ndarray,
    intersect: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> list[np.ndarray]:
    """Video IoUs of every (detections, ground truth) group, exact wherever they can reach 0.5; 0 elsewhere.

    Only IoU ≥ 0.5 can produce a match, so every pair is first screened with an upper bound from the per-frame
    areas alone: the intersection in a frame is at most the smaller area, and IoU = I / (A_d + A_g - I) grows
    with I. Pairs whose bound is below 0.5 get 0 (they match at no threshold, so the result is unchanged); the
    others, of all groups together, get their exact intersections in one batch.

    Returns:
        One ``[D, G]`` float64 matrix per group.
    """
    if not pairs:
        return []
    da = [np.asarray(dt.rows, dtype=np.int64) for dt, _ in pairs]
    ga = [np.asarray(gt.rows, dtype=np.int64) for _, gt in pairs]
    a = np.concatenate([np.repeat(d, g.size) for d, g in zip(da, ga, strict=True)])
    b = np.concatenate([np.tile(g, d.size) for d, g in zip(da, ga, strict=True)])
    paired = np.arange(masks.shape[1])[None, :] < np.minimum(lengths[a], lengths[b])[:, None]
    inter_ub = (np.minimum(frame_area[a], frame_area[b]) * paired).sum(1)
    tot = ((frame_area[a] + frame_area[b]) * paired).sum(1)
    keep = np.flatnonzero(inter_ub / np.maximum(tot - inter_ub, 1) >= IOU_THRS[0] - 1e-9)
    ious = np.zeros(a.size, dtype=np.float64)
    ious[keep] = ious_from(
        *track_intersections_and_unions(frame_area, masks, lengths, a[keep], b[keep], intersect)
    )
    sizes = [d.size * g.size for d, g in zip(da, ga, strict=True)]
    bounds = np.cumsum([0, *sizes])
    return [ious[bounds[i] : bounds[i + 1]].reshape(da[i].size, ga[i].size) for i in range(len(pairs))]


def _match(ious: np.ndarray | None, gt: _Tracks, dt: _Tracks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedy matching of one (video, category) for every area range and IoU threshold at once.

    Args:
        ious: ``[D, G]`` video IoUs, detections in score order, GT in file order (None when D or G is 0).
        gt: ground-truth tracks of the group.
        dt: detections of the group.

    Returns:
        ``matched [A, T, D]`` bool (matched to a GT with non-zero id), ``dt_ignore [A, T, D]`` bool,
        ``gt_ignore [A, G]`` bool.
    """
    D, G, A, T = len(dt.ids), len(gt.ids), len(AREA_RANGES), len(IOU_THRS)
    lo, hi = _AREA_LO, _AREA_HI
    g_area = np.array(gt.avg_areas, dtype=np.float64)
    crowd = np.array(gt.crowd, dtype=bool)
    gt_ig = crowd | (g_area < lo) | (g_area > hi)  # [A, G]
    d_area = np.array(dt.avg_areas, dtype=np.float64)
    out = (d_area < lo) | (d_area > hi)  # [A, D]
    if ious is None:  # no detection or no GT: nothing matches, detections outside the area range are ignored
        return np.zeros((A, T, D), dtype=bool), np.repeat(out[:, None, :], T, axis=1), gt_ig
    gt_nonzero_id = np.array(gt.ids) != 0
    thr = _THRESHOLDS
    if G == 1:  # the common case, without the loop: see _takes_single
        takes = _takes_single(ious[:, 0], thr, bool(crowd[0]))  # [T, D]
        matched = np.broadcast_to(takes & gt_nonzero_id[0], (A, T, D)).copy()
        dt_ig = takes[None] & gt_ig[:, :1, None]
        dt_ig |= ~matched & out[:, None, :]
        return matched, dt_ig, gt_ig
    matched = np.zeros((A, T, D), dtype=bool)
    dt_ig = np.zeros((A, T, D), dtype=bool)
    gt_taken = np.zeros((A, T, G), dtype=bool)
    for d in range(D):
        row = ious[d]
        if row.max() < thr[0]:
            continue
        cand = (row[None, :] >= thr[:, None])[None] & (~gt_taken | crowd)  # [A, T, G]
        c_reg = cand & ~gt_ig[:, None, :]
        use = np.where(c_reg.any(-1, keepdims=True), c_reg, cand & gt_ig[:, None, :])
        has = use.any(-1)
        if not has.any():
            continue
        val = np.where(use, row, -1.0)
        best = G - 1 - np.argmax(val[..., ::-1], axis=-1)  # last maximum = official tie rule
        aa, tt = np.nonzero(has)
        bb = best[aa, tt]
        gt_taken[aa, tt, bb] = True
        dt_ig[aa, tt, d] = gt_ig[aa, bb]
        matched[aa, tt, d] = gt_nonzero_id[bb]
    dt_ig |= ~matched & out[:, None, :]
    return matched, dt_ig, gt_ig


def _takes_single(iou: np.ndarray, thr: np.ndarray, crowd: bool) -> np.ndarray:
    """Which detections the greedy matching gives the group's only ground truth, per threshold.

    With one GT the greedy loop reduces to: the first detection (in score order) whose IoU reaches the
    threshold takes it, in every area range alike (an ignored GT is taken the same way, only the flags
    differ); a crowd GT is never used up, so every detection reaching the threshold takes it.

    Args:
        iou: ``[D]`` IoUs with the GT, detections in score order.
        thr: ``[T]`` thresholds.
        crowd: the GT is a crowd.

    Returns:
        ``[T, D]`` bool.
    """
    hit = iou[None, :] >= thr[:, None]
    return hit if crowd else hit & (np.cumsum(hit, axis=1) == 1)


def _first_reaching(npig: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """``[A, R]`` the smallest integer ``v ≥ 0`` with ``v / npig[a] ≥ thresholds[r]`` in float64 division.

    ``v ↦ v / n`` is non-decreasing in floating point too, so ``v / n < thr`` holds exactly for ``v`` below this
    bound: counting true positives below it counts the recalls below the threshold, with integers only.
    """
    n = npig.astype(np.float64)[:, None]
    v = np.maximum(np.ceil(thresholds[None, :] * n), 0)
    for _ in range(2):  # the product's rounding moves the bound by at most one either way
        v = np.where((v > 0) & ((v - 1) / n >= thresholds), v - 1, v)
        v = np.where(v / n < thresholds, v + 1, v)
    return v.astype(np.int64)


def _precision_recall(
    scores: np.ndarray, rank: np.ndarray, matched: np.ndarray, ignore: np.ndarray, npig: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """COCO precision at the recall thresholds and final recall of one category, every area and maxDet.

    Args:
        scores: ``[N]`` detection scores, concatenated in (video, rank) order.
        rank: ``[N]`` each detection's rank (by score) in its video.
        matched: ``[A, T, N]`` bool.
        ignore: ``[A, T, N]`` bool.
        npig: ``[A]`` number of non-ignored GT per area range.

    Returns:
        ``precision [T, R, A, M]`` and ``recall [T, A, M]``, -1 for area ranges without GT.
    """
    A, T, R, M = matched.shape[0], matched.shape[1], len(REC_THRS), len(MAX_DETS)
    precision, recall = -np.ones((T, R, A, M)), -np.ones((T, A, M))
    areas = np.flatnonzero(npig > 0)
    if areas.size == 0:
        return precision, recall
    order = np.argsort(-scores, kind="mergesort")  # a stable order of a subset is the subset of this order
    bound = _first_reaching(npig[areas], REC_THRS)  # [A', R]
    for mi, max_det in enumerate(MAX_DETS):
        o = order[rank[order] < max_det]
        nd = o.size
        if nd == 0:
            precision[:, :, areas, mi] = recall[:, areas, mi] = 0.0
            continue
        m, ig = matched[areas][:, :, o], ignore[areas][:, :, o]  # [A', T, nd]
        tp_int = np.cumsum(m & ~ig, axis=2)
        tp = tp_int.astype(np.float64)
        fp = np.cumsum(~m & ~ig, axis=2).astype(np.float64)
        pr = tp / (fp + tp + np.spacing(1))
        pr = np.maximum.accumulate(pr[..., ::-1], axis=2)[..., ::-1]
        # first index whose recall tp / npig reaches each threshold, every row in one searchsorted: rows are
        # made disjoint by integer offsets (tp ≤ nd) and the thresholds become integer bounds
        rows = tp_int.reshape(-1, nd)
        offset = (nd + 1) * np.arange(rows.shape[0])[:, None]
        keys = np.minimum(np.repeat(bound, T, axis=0), nd + 1) + offset
        inds = np.searchsorted((rows + offset).ravel(), keys.ravel(), side="left").reshape(-1, R)
        inds -= nd * np.arange(rows.shape[0])[:, None]
        ok = inds < nd
        p = np.zeros((rows.shape[0], R))
        p[ok] = pr.reshape(-1, nd)[np.nonzero(ok)[0], inds[ok]]
        precision[:, :, areas, mi] = p.reshape(areas.size, T, R).transpose(1, 2, 0)
        recall[:, areas, mi] = (tp[:, :, -1] / npig[areas][:, None]).T
    return precision, recall


def _summary(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    def mean(ap: bool, iou: float | None = None, area: str = "all", max_det: int = 100) -> float:
        a, m = [AREA_LABELS.index(area)], [MAX_DETS.index(max_det)]
        s = precision if ap else recall
        if iou is not None:
            s = s[np.where(iou == IOU_THRS)[0]]
        s = s[:, :, :, a, m] if ap else s[:, :, a, m]
        return float(np.mean(s[s > -1])) if (s > -1).any() else -1.0

    vals = [
        mean(True),
        mean(True, iou=0.5),
        mean(True, iou=0.75),
        mean(True, area="small"),
        mean(True, area="medium"),
        mean(True, area="large"),
        mean(False, max_det=1),
        mean(False, max_det=10),
        mean(False),
        mean(False, area="small"),
        mean(False, area="medium"),
        mean(False, area="large"),
    ]
    return dict(zip(STAT_KEYS, vals, strict=True))


def evaluate_ap(gt: PathOrObj, results: PathOrObj, rles: ParseOnce | None = None) -> APResult:
    """Compute the official YouTube-VIS AP/AR (see module docstring), without mutating the inputs.

    The inputs must be valid (``evaluate_ytvis`` validates both first and says what is wrong where).

    Args:
        gt: ground-truth json path or loaded dict.
        results: results json path or loaded list; every ``video_id`` must be a GT video.
        rles: the parser of the compressed RLEs; pass the one the validation used to read each string once.

    Returns:
        An ``APResult``.

    Raises:
        ValueError: a malformed RLE string, or masks of different sizes paired in a frame.
    """
    with gc_paused():
        return _evaluate_ap(load_gt(gt), load_results(results), rles if rles is not None else ParseOnce())


def _evaluate_ap(gt_d: dict[str, Any], res: list[dict[str, Any]], once: ParseOnce) -> APResult:
    vid_ids = sorted({int(v["id"]) for v in gt_d["videos"]})
    cat_ids = sorted({int(c["id"]) for c in gt_d["categories"]})
    unknown = sorted({r["video_id"] for r in res} - set(vid_ids))
    if unknown:
        raise ValueError(f"results contain video ids not in the ground truth: {unknown[:20]}")
    cat_set = set(cat_ids)
    table = TrackTable()
    gts = _gt_tracks(gt_d, cat_set, table)
    dts = _dt_tracks(res, {v["id"]: v for v in gt_d["videos"]}, cat_set, MAX_DETS[-1], table)
    masks, lengths = table.build(once)
    frame_area = np.append(once.areas, 0)[masks]  # [T, F], 0 where absent
    avg = _mean_nonzero_areas(frame_area)
    for group in (*gts.values(), *dts.values()):
        group.avg_areas = [
            a if a >= 0 else float(avg[r]) for a, r in zip(group.avg_areas, group.rows, strict=True)
        ]
    T, R, K, A, M = len(IOU_THRS), len(REC_THRS), len(cat_ids), len(AREA_RANGES), len(MAX_DETS)
    # the (video, category) groups the official evaluator visits, in its order (videos, then categories)
    empty = _Tracks()
    visits = [
        (k, gts.get((v, k)) or empty, dts.get((v, k)) or empty)
        for v in vid_ids
        for k in cat_ids
        if (v, k) in gts or (v, k) in dts  # else the official evalImg is None: contributes nothing
    ]
    both = [(d_tr, g_tr) for _, g_tr, d_tr in visits if g_tr.ids and d_tr.ids]
    ious_of = iter(_group_ious(both, frame_area, masks, lengths, intersector(once)))
    # per category, concatenated over videos in id order: scores, rank in group, matched, ignored; npig per area
    acc: dict[int, dict[str, list[Any]]] = {k: defaultdict(list) for k in cat_ids}
    npig = {k: np.zeros(A, dtype=np.int64) for k in cat_ids}
    for k, g_tr, d_tr in visits:
        ious = next(ious_of) if g_tr.ids and d_tr.ids else None
        matched, dt_ig, gt_ig = _match(ious, g_tr, d_tr)
        npig[k] += (~gt_ig).sum(axis=1)
        n = len(d_tr.ids)
        acc[k]["scores"].append(np.asarray(d_tr.scores, dtype=np.float64).reshape(n))
        acc[k]["rank"].append(np.arange(n))
        acc[k]["matched"].append(matched)
        acc[k]["ignore"].append(dt_ig)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    for ki, k in enumerate(cat_ids):
        if not acc[k]["scores"]:
            continue
        scores = np.concatenate(acc[k]["scores"])
        rank = np.concatenate(acc[k]["rank"])
        matched = np.concatenate(acc[k]["matched"], axis=2)
        ignore = np.concatenate(acc[k]["ignore"], axis=2)
        precision[:, :, ki], recall[:, ki] = _precision_recall(scores, rank, matched, ignore, npig[k])
    per_cat = {}
    for ki, k in enumerate(cat_ids):
        p = precision[:, :, ki, 0, -1]
        per_cat[k] = float(np.mean(p[p > -1])) if (p > -1).any() else float("nan")
    return APResult(_summary(precision, recall), precision, recall, cat_ids, per_cat)
