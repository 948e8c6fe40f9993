"""The C-backed RLE parser and intersections agree with the NumPy ones and with pycocotools."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from querytrack.core import rle_check, rle_parse_c
from querytrack.core.gc_pause import gc_paused
from querytrack.core.rle import encode_masks, rle_areas
from querytrack.core.rle_once import ParseOnce
from querytrack.evaluation import st_iou
from querytrack.evaluation.mask_runs import MaskRuns
from querytrack.evaluation.ytvis_eval import evaluate_ap
from querytrack.testing.fake_results import make_gt, make_results

needs_c = pytest.mark.skipif(not rle_parse_c.available(), reason="pycocotools exports no rleFrString")


def _masks(n: int, seed: int, pairs: bool = False) -> list[dict]:
    """Random masks of random sizes (1x1 up to 40x60), some empty or full; ``pairs``: two per size."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        h, w = rng.integers(1, 40), rng.integers(1, 60)
        for _ in range(2 if pairs else 1):
            p = rng.choice([0.0, 1.0, rng.random()])
            out += encode_masks((rng.random((h, w)) < p)[None])
    return out


def _corrupt(rles: list[dict], seed: int) -> list[dict]:
    """Each mask altered one way: a character replaced (in or out of range), cut, extended, a long number..."""
    rng = np.random.default_rng(seed)
    out = []
    for r in rles:
        c, kind = r["counts"], int(rng.integers(7))
        j = int(rng.integers(len(c)))
        if kind == 0:
            c = c[:j] + chr(int(rng.integers(40, 130))) + c[j + 1 :]
        elif kind == 1:
            c = c[:j]
        elif kind == 2:
            c = c + chr(int(rng.integers(48, 112)))
        elif kind == 3:
            c = c[:j] + "PPPPPP0" + c[j:]  # a 7-character number (value 0): parsed by NumPy, same answer
        elif kind == 4:
            c = c[:j] + "PPPPP0" + c[j:]  # 6 characters: the C path
        out.append({"size": list(r["size"]), "counts": c})
    return out


@needs_c
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_c_parser_equals_numpy_parser(seed: int) -> None:
    good = _masks(150, seed)
    rles = good + _corrupt(good, seed + 10)
    rles.append({"size": [30000, 30000], "counts": "0" + "0"})  # over 2^29 pixels: NumPy path, invalid
    rles.append({"size": [0, 0], "counts": ""})  # empty frame, empty string
    for r in good[:5]:
        rles.append({"size": list(r["size"]), "counts": r["counts"].encode()})  # bytes counts
    v_c, a_c, c_c, n_c = rle_check._parse_chunk(rles)
    v_n, a_n, c_n, n_n = rle_check._parse_numpy(rles)
    np.testing.assert_array_equal(v_c, v_n)
    assert v_c[: len(good)].all() and 0 < v_c[len(good) :].sum() < len(rles) - len(good)
    first_c, first_n = np.cumsum(n_c) - n_c, np.cumsum(n_n) - n_n
    for s in np.flatnonzero(v_c).tolist():
        np.testing.assert_array_equal(
            c_c[first_c[s] : first_c[s] + n_c[s]], c_n[first_n[s] : first_n[s] + n_n[s]]
        )
        assert a_c[s] == a_n[s]
    np.testing.assert_array_equal(a_c[: len(good)], rle_areas(good).astype(np.int64))


def test_pair_intersections_match_pycocotools() -> None:
    rles = _masks(120, 5, pairs=True)
    parsed = rle_check.parse_compressed(rles)
    a, b = np.arange(0, len(rles), 2), np.arange(1, len(rles), 2)
    want_iou = np.array([mask_utils.iou([rles[i]], [rles[j]], [0])[0, 0] for i, j in zip(a, b, strict=True)])
    want_inter = [
        int(mask_utils.area(mask_utils.merge([rles[i], rles[j]], True))) for i, j in zip(a, b, strict=True)
    ]
    runs = MaskRuns.from_parsed(parsed)
    np.testing.assert_array_equal(runs.intersections(a, b), want_inter)
    np.testing.assert_array_equal(runs.intersections(b, a), want_inter)  # either mask may walk its runs
    np.testing.assert_array_equal(runs.area, rle_areas(rles).astype(np.int64))
    if rle_parse_c.available():
        table = rle_parse_c.rle_table(
            parsed.counts, parsed.first, parsed.nums, np.array([r["size"] for r in rles])
        )
        np.testing.assert_array_equal(rle_parse_c.pair_ious(table, a, b), want_iou)


@pytest.mark.skipif(not rle_parse_c.available(), reason="pycocotools exports no rleIou")
@pytest.mark.parametrize("workers", [1, 2])
def test_pair_ious_grouped_by_mask_keep_the_pair_order(workers: int) -> None:
    """Pairs sharing a ``b`` mask are computed in one call per ``b`` (on one or two threads): every IoU still
    lands at its own pair, whatever the order and repetition of the pairs."""
    g = np.random.default_rng(4)
    blobs = g.random((60, 30, 40)) < g.random((60, 1, 1))  # one frame size, densities from empty to full
    rles = encode_masks(blobs) + _masks(4, 9)  # and 4 of other sizes (IoU -1 with the rest)
    parsed = rle_check.parse_compressed(rles)
    table = rle_parse_c.rle_table(
        parsed.counts, parsed.first, parsed.nums, np.array([r["size"] for r in rles])
    )
    a, b = g.integers(0, 64, 300), g.integers(0, 7, 300)  # ~43 pairs per b mask, repeats included
    want = np.array([mask_utils.iou([rles[i]], [rles[j]], [0])[0, 0] for i, j in zip(a, b, strict=True)])
    np.testing.assert_array_equal(rle_parse_c.pair_ious(table, a, b, workers=workers), want)
    assert rle_parse_c.pair_ious(table, a[:0], b[:0], workers=workers).shape == (0,)


def test_parse_once_parses_each_string_once(monkeypatch: pytest.MonkeyPatch) -> None:
    rles = _masks(40, 6) + _corrupt(_masks(10, 7), 8)
    calls: list[int] = []
    real = rle_check.parse_chunks

    def counting(batch: list[dict], workers: int | None = None) -> list[rle_check.ParsedRles]:
        calls.append(len(batch))
        return real(batch, workers)

    monkeypatch.setattr("querytrack.core.rle_once.parse_chunks", counting)
    once = ParseOnce()
    np.testing.assert_array_equal(once.check(rles[:30]), rle_check.compressed_rle_valid(rles[:30]))
    np.testing.assert_array_equal(once.check(rles), rle_check.compressed_rle_valid(rles))
    pos = once.index(rles[::-1])
    assert calls == [30, len(rles) - 30]  # the second batch parsed only the new strings, the third nothing
    assert np.array_equal(once.index([rles[3], rles[3]]), [pos[-4], pos[-4]])
    want = rle_check.parse_compressed(rles[::-1])
    got = once.parsed(pos)
    np.testing.assert_array_equal(got.valid, want.valid)
    np.testing.assert_array_equal(once.areas[pos][want.valid], want.area[want.valid])
    ok = np.flatnonzero(want.valid)
    for s in ok.tolist():
        np.testing.assert_array_equal(
            got.counts[got.first[s] : got.first[s] + got.nums[s]],
            want.counts[want.first[s] : want.first[s] + want.nums[s]],
        )


def _tracks(seed: int) -> tuple[list[list], list[list]]:
    gt = make_gt(4, num_categories=2, seed=seed, frames=(3, 6), sizes=((24, 32), (60, 80)), max_objects=4)
    res = make_results(gt, seed=seed + 1, false_positives=3)
    by_video: dict[int, tuple[list, list]] = {}
    for a in gt["annotations"]:
        by_video.setdefault(a["video_id"], ([], []))[1].append(a["segmentations"])
    for r in res:
        by_video.setdefault(r["video_id"], ([], []))[0].append(r["segmentations"])
    vid = max(by_video, key=lambda v: len(by_video[v][0]) * len(by_video[v][1]))
    return by_video[vid]


@pytest.mark.parametrize("seed", [0, 3])
def test_numpy_fallback_gives_the_same_ious_and_ap(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    dt, gt_seqs = _tracks(seed)
    gt = make_gt(8, num_categories=3, seed=seed, frames=(3, 8), max_objects=4)
    res = make_results(gt, seed=seed + 1, false_positives=4, max_copies=3)
    with_c = st_iou.spatio_temporal_iou(dt, gt_seqs), evaluate_ap(gt, res).stats
    monkeypatch.setattr(rle_parse_c, "available", lambda: False)
    without = st_iou.spatio_temporal_iou(dt, gt_seqs), evaluate_ap(gt, res).stats
    np.testing.assert_array_equal(with_c[0], without[0])
    assert with_c[1] == without[1]
    assert (with_c[0] > 0).any()


def test_gc_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError
    assert gc.isenabled()
