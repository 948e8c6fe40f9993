"""The vectorised evaluator equals a loop-based oracle (and the official code when available) exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from querytrack.core.rle import to_uncompressed
from querytrack.evaluation.official import ENV_VAR, official_dir, official_stats
from querytrack.evaluation.ytvis_eval import STAT_KEYS, evaluate_ap
from querytrack.testing.fake_results import make_gt, make_results
from tests.evaluation.oracle import oracle_eval


def _case(seed: int) -> tuple[dict, list]:
    gt = make_gt(6, num_categories=3, seed=seed, frames=(2, 6), crowd_prob=0.15 if seed % 2 else 0.0)
    res = make_results(gt, seed=seed + 1000, score_levels=4 if seed % 3 == 0 else 0)
    if seed % 4 == 1 and gt["annotations"]:
        gt["annotations"][0]["id"] = 0  # official quirk: a GT with id 0 never counts as matched
    if seed % 5 == 2:  # GT in uncompressed RLE, as the real train json
        for a in gt["annotations"]:
            a["segmentations"] = [None if s is None else to_uncompressed(s) for s in a["segmentations"]]
    return gt, res


@pytest.mark.parametrize("seed", range(12))
def test_matches_oracle(seed: int) -> None:
    gt, res = _case(seed)
    got = evaluate_ap(gt, res)
    want_stats, want_precision = oracle_eval(gt, res)
    assert [got.stats[k] for k in STAT_KEYS] == want_stats
    np.testing.assert_array_equal(got.precision, want_precision)


def test_inputs_not_mutated() -> None:
    gt, res = _case(3)
    before = (json.dumps(gt), json.dumps(res))
    evaluate_ap(gt, res)
    assert (json.dumps(gt), json.dumps(res)) == before


@pytest.mark.skipif(official_dir() is None, reason=f"set {ENV_VAR} to a folder with the official ytvos*.py")
@pytest.mark.parametrize("seed", range(6))
def test_matches_official(seed: int, tmp_path: Path) -> None:
    gt, res = _case(seed)
    if not res:
        pytest.skip("the official loader cannot read an empty results list")
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(res))
    want = official_stats(tmp_path / "gt.json", tmp_path / "res.json", official_dir())
    got = evaluate_ap(tmp_path / "gt.json", tmp_path / "res.json").stats
    assert [got[k] for k in STAT_KEYS] == want
