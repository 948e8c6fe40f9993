"""Reference oracle: a deliberately plain, loop-based re-statement of the official YouTube-VIS evaluation.

Written from the algorithm description (youtubevos/cocoapi ``PythonAPI/pycocotools/ytvoseval.py``), on dense
decoded masks, with no vectorisation, to check ``querytrack.evaluation.ytvis_eval`` against. Slow; tiny data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

IOU_THRS = np.linspace(0.5, 0.95, 10)
REC_THRS = np.linspace(0.0, 1.0, 101)
MAX_DETS = [1, 10, 100]
AREAS = [[0, 1e10], [0, 128**2], [128**2, 256**2], [256**2, 1e10]]


def _dense(seg: Any, h: int, w: int) -> np.ndarray | None:
    if not seg:
        return None
    if isinstance(seg, list):
        rle = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
    elif isinstance(seg["counts"], list):
        rle = mask_utils.frPyObjects(seg, h, w)
    else:
        rle = seg
    return mask_utils.decode(rle).astype(bool)


def _mean_nonzero(vals: list[Any]) -> float:
    v = [a for a in vals if a]
    return float(np.mean(v)) if v else 0.0


def video_iou(d: list[np.ndarray | None], g: list[np.ndarray | None]) -> float:
    inter = union = 0
    for dm, gm in zip(d, g, strict=False):
        if dm is not None and gm is not None:
            inter += int((dm & gm).sum())
            union += int((dm | gm).sum())
        elif gm is not None:
            union += int(gm.sum())
        elif dm is not None:
            union += int(dm.sum())
    return inter / union if union > 0 else 0.0


def oracle_eval(gt: dict[str, Any], res: list[dict[str, Any]]) -> tuple[list[float], np.ndarray]:
    videos = {v["id"]: v for v in gt["videos"]}
    vids = sorted(videos)
    cats = sorted(c["id"] for c in gt["categories"])
    G: dict[tuple[int, int], list[dict[str, Any]]] = {}
    D: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for a in gt["annotations"]:
        v = videos[a["video_id"]]
        masks = [_dense(s, v["height"], v["width"]) for s in a["segmentations"]]
        G.setdefault((a["video_id"], a["category_id"]), []).append(
            {"id": a["id"], "crowd": a.get("iscrowd", 0), "area": _mean_nonzero(a["areas"]), "m": masks}
        )
    for i, r in enumerate(res):
        if r["category_id"] not in cats:
            continue
        v = videos[r["video_id"]]
        masks = [_dense(s, v["height"], v["width"]) for s in r["segmentations"]]
        areas = [int(m.sum()) if m is not None else None for m in masks]
        D.setdefault((r["video_id"], r["category_id"]), []).append(
            {"id": i + 1, "score": r["score"], "area": _mean_nonzero(areas), "m": masks}
        )
    T, R, K, A, M = len(IOU_THRS), len(REC_THRS), len(cats), len(AREAS), len(MAX_DETS)
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    for ki, k in enumerate(cats):
        for ai, (lo, hi) in enumerate(AREAS):
            per_video = []
            for v in vids:
                gts = G.get((v, k), [])
                dts = D.get((v, k), [])
                if not gts and not dts:
                    continue
                dts = [dts[i] for i in np.argsort([-d["score"] for d in dts], kind="mergesort")][:100]
                ign = [bool(g["crowd"]) or g["area"] < lo or g["area"] > hi for g in gts]
                order = np.argsort(ign, kind="mergesort")
                gts = [gts[i] for i in order]
                ign = [ign[i] for i in order]
                ious = [[video_iou(d["m"], g["m"]) for g in gts] for d in dts]
                dm = np.zeros((T, len(dts)))
                di = np.zeros((T, len(dts)), dtype=bool)
                for ti, t in enumerate(IOU_THRS):
                    taken = [False] * len(gts)
                    for j, _d in enumerate(dts):
                        best, m = min(t, 1 - 1e-10), -1
                        for gi, g in enumerate(gts):
                            if taken[gi] and not g["crowd"]:
                                continue
                            if m > -1 and not ign[m] and ign[gi]:
                                break
                            if ious[j][gi] < best:
                                continue
                            best, m = ious[j][gi], gi
                        if m > -1:
                            taken[m] = True
                            di[ti, j] = ign[m]
                            dm[ti, j] = gts[m]["id"]
                for j, d in enumerate(dts):
                    if d["area"] < lo or d["area"] > hi:
                        di[:, j] |= dm[:, j] == 0
                per_video.append(([d["score"] for d in dts], dm, di, sum(not x for x in ign)))
            npig = sum(p[3] for p in per_video)
            if not per_video or npig == 0:
                continue
            for mi, md in enumerate(MAX_DETS):
                sc = np.array([s for p in per_video for s in p[0][:md]], dtype=float)
                dm = np.concatenate([p[1][:, :md] for p in per_video], axis=1)
                di = np.concatenate([p[2][:, :md] for p in per_video], axis=1)
                o = np.argsort(-sc, kind="mergesort")
                dm, di = dm[:, o], di[:, o]
                for ti in range(T):
                    tp = np.cumsum((dm[ti] != 0) & ~di[ti]).astype(float)
                    fp = np.cumsum((dm[ti] == 0) & ~di[ti]).astype(float)
                    n = len(tp)
                    rc = tp / npig
                    pr = list(tp / (fp + tp + np.spacing(1)))
                    recall[ti, ki, ai, mi] = rc[-1] if n else 0
                    for i in range(n - 1, 0, -1):
                        pr[i - 1] = max(pr[i - 1], pr[i])
                    q = np.zeros(R)
                    for ri, r in enumerate(REC_THRS):
                        idx = int(np.searchsorted(rc, r, side="left"))
                        if idx < n:
                            q[ri] = pr[idx]
                    precision[ti, :, ki, ai, mi] = q

    def mean(s: np.ndarray) -> float:
        return float(np.mean(s[s > -1])) if (s > -1).any() else -1.0

    t50, t75 = [0], [5]
    stats = [
        mean(precision[:, :, :, [0], [2]]),
        mean(precision[t50][:, :, :, [0], [2]]),
        mean(precision[t75][:, :, :, [0], [2]]),
        mean(precision[:, :, :, [1], [2]]),
        mean(precision[:, :, :, [2], [2]]),
        mean(precision[:, :, :, [3], [2]]),
        mean(recall[:, :, [0], [0]]),
        mean(recall[:, :, [0], [1]]),
        mean(recall[:, :, [0], [2]]),
        mean(recall[:, :, [1], [2]]),
        mean(recall[:, :, [2], [2]]),
        mean(recall[:, :, [3], [2]]),
    ]
    return stats, precision
