"""Hand-computed AP/AR cases for the YouTube-VIS evaluator."""

from __future__ import annotations

import math

import pytest

from querytrack.evaluation import evaluate_ytvis
from querytrack.evaluation.st_iou import spatio_temporal_iou
from tests.evaluation.helpers import box, entry, make_video_gt, rle

H = W = 8
A = box(H, W, 0, 0, 2, 2)  # area 4
B = box(H, W, 4, 4, 6, 6)  # area 4, disjoint from A


def test_perfect_prediction_scores_one() -> None:
    big = box(300, 300, 0, 0, 150, 150)  # 22500 px: medium (128² < a ≤ 256²)
    small = box(300, 300, 200, 200, 210, 210)
    gt = make_video_gt([(1, [big, big, None]), (2, [None, small, small])], 300, 300)
    res = [entry(1, 0.9, [big, big, None]), entry(2, 0.8, [None, small, small])]
    m = evaluate_ytvis(gt, res)
    for k in ("AP", "AP50", "AP75", "APs", "APm", "AR10", "AR100", "ARs", "ARm"):
        assert m[k] == pytest.approx(1.0), k
    assert m["AR1"] == pytest.approx(1.0)  # one object per category: top-1 per (video, category) suffices
    assert m["APl"] == -1.0 and m["ARl"] == -1.0  # no large object: -1 as the official code
    assert m["AP/c1"] == pytest.approx(1.0) and m["AP/c2"] == pytest.approx(1.0)


def test_one_wrong_class() -> None:
    # GT: A is class 1, B is class 2. B is predicted as class 1 with a higher score than the correct A.
    gt = make_video_gt([(1, [A, A]), (2, [B, B])], H, W)
    res = [entry(1, 0.9, [A, A]), entry(1, 0.95, [B, B])]
    m = evaluate_ytvis(gt, res)
    # class 1: FP (0.95) then TP (0.9): precision envelope 0.5 at every recall threshold -> AP 0.5
    # class 2: no detection -> AP 0. Mean: 0.25 at every IoU threshold.
    assert m["AP/c1"] == pytest.approx(0.5)
    assert m["AP/c2"] == 0.0
    assert m["AP"] == pytest.approx(0.25)
    assert m["AP50"] == pytest.approx(0.25)
    assert m["AR100"] == pytest.approx(0.5)
    assert m["AR1"] == pytest.approx(0.0)  # the top-1 class-1 detection is the wrong one


def test_track_split_in_two() -> None:
    gt = make_video_gt([(1, [A, A, A, A])], H, W)
    res = [entry(1, 0.9, [A, A, None, None]), entry(1, 0.8, [None, None, A, A])]
    # each half: inter 8 / union 16 = 0.5 -> matched only at IoU 0.50; the second half is a FP there.
    assert spatio_temporal_iou([[rle(A), rle(A), None, None]], [[rle(A)] * 4])[0, 0] == 0.5
    m = evaluate_ytvis(gt, res)
    assert m["AP50"] == pytest.approx(1.0)
    assert m["AP75"] == 0.0
    assert m["AP"] == pytest.approx(0.1)  # 1 of 10 thresholds
    assert m["AR100"] == pytest.approx(0.1)


def test_object_absent_in_some_frames() -> None:
    A2 = box(H, W, 0, 2, 2, 4)  # area 4, disjoint from A
    gt_seq = [A, A, A, None, None]
    dt_seq = [A, A, None, A2, None]
    # frames 0-1 both: inter 8 union 8; frame 2 GT only: union +4; frame 3 prediction only: union +4;
    # frame 4 both absent: skipped.  IoU = 8 / 16.
    iou = spatio_temporal_iou([[rle(m) for m in dt_seq]], [[rle(m) for m in gt_seq]])
    assert iou[0, 0] == 0.5
    m = evaluate_ytvis(make_video_gt([(1, gt_seq)], H, W), [entry(1, 0.7, dt_seq)])
    assert (m["AP50"], m["AP75"]) == (pytest.approx(1.0), 0.0)


def test_empty_mask_counts_like_absent() -> None:
    import numpy as np

    empty = np.zeros((H, W), dtype=bool)
    a = spatio_temporal_iou([[rle(A), rle(empty)]], [[rle(A), None]])
    b = spatio_temporal_iou([[rle(A), None]], [[rle(A), None]])
    assert a[0, 0] == b[0, 0] == 1.0


def test_no_overlap_and_empty_union() -> None:
    assert spatio_temporal_iou([[rle(A)]], [[rle(B)]])[0, 0] == 0.0
    assert spatio_temporal_iou([[None]], [[None]])[0, 0] == 0.0


def test_category_without_gt_is_excluded() -> None:
    gt = make_video_gt([(1, [A])], H, W, num_categories=3)
    m = evaluate_ytvis(gt, [entry(1, 0.5, [A]), entry(3, 0.9, [B])])
    assert m["AP"] == pytest.approx(1.0)  # class 3 has no GT: -1, excluded from the mean
    assert math.isnan(m["AP/c3"])
