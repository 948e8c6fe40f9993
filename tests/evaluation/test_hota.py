"""trackeval adapter: perfect results give 1, identity switches lower AssA, empty masks are absent by default."""

from __future__ import annotations

import numpy as np
import pytest

from querytrack.evaluation.hota import evaluate_hota
from tests.evaluation.helpers import box, entry, make_video_gt

H = W = 8
A = box(H, W, 0, 0, 3, 3)
B = box(H, W, 4, 4, 7, 7)
EMPTY = np.zeros((H, W), dtype=bool)


def test_perfect_is_one_and_gt_compressed_rle_accepted() -> None:
    gt = make_video_gt([(1, [A, A, None]), (2, [B, B, B])], H, W)  # compressed GT RLE: converted internally
    m = evaluate_hota(gt, [entry(1, 0.9, [A, A, None]), entry(2, 0.8, [B, B, B])])
    assert (
        m["HOTA"] == pytest.approx(1.0)
        and m["DetA"] == pytest.approx(1.0)
        and m["AssA"] == pytest.approx(1.0)
    )


def test_identity_switch_lowers_assa_not_deta() -> None:
    gt = make_video_gt([(1, [A, A, A, A]), (1, [B, B, B, B])], H, W)
    switched = [entry(1, 0.9, [A, A, B, B]), entry(1, 0.9, [B, B, A, A])]
    m = evaluate_hota(gt, switched)
    assert m["DetA"] == pytest.approx(1.0)
    assert m["AssA"] < 0.9


def test_empty_masks_absent_by_default() -> None:
    gt = make_video_gt([(1, [A, None])], H, W)
    res = [entry(1, 0.9, [A, EMPTY])]
    assert evaluate_hota(gt, res)["HOTA"] == pytest.approx(1.0)
    assert evaluate_hota(gt, res, empty_masks="detection")["HOTA"] < 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_skipping_absent_classes_changes_nothing(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    from querytrack.evaluation import hota
    from querytrack.testing.fake_results import make_gt, make_results

    gt = make_gt(6, num_categories=5, seed=seed, frames=(3, 6), max_objects=3)
    res = make_results(gt, seed=seed + 7, false_positives=3)  # wrong classes: some only in results
    fast = evaluate_hota(gt, res, per_category=True)
    monkeypatch.setattr(hota, "_present_classes_only", lambda base: base)
    full = evaluate_hota(gt, res, per_category=True)
    assert fast == full
    assert 0 < fast["HOTA"] < 1
