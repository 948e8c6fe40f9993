"""The NumPy RLE parser and intersections agree with pycocotools."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from querytrack.core import rle_check
from querytrack.core.gc_pause import gc_paused
from querytrack.core.rle import encode_masks, rle_areas
from querytrack.core.rle_once import ParseOnce
from querytrack.evaluation import st_iou
from querytrack.testing.fake_results import make_gt, make_results


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
            c = c[:j] + "PPPPPP0" + c[j:]  # a 7-character number (value 0)
        elif kind == 4:
            c = c[:j] + "PPPPP0" + c[j:]  # a 6-character number (value 0)
        out.append({"size": list(r["size"]), "counts": c})
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_parser_reads_what_pycocotools_reads(seed: int) -> None:
    """Well-formed strings (str or bytes): valid, with pycocotools' areas and runs that add up to the frame.
    Corrupted ones: those the parser accepts decode in pycocotools to the area the parser computed."""
    good = _masks(150, seed)
    bad = _corrupt(good, seed + 10)
    rles = good + bad + [{"size": list(r["size"]), "counts": r["counts"].encode()} for r in good[:5]]
    rles.append({"size": [30000, 30000], "counts": "00"})  # runs that do not cover the frame: invalid
    rles.append({"size": [0, 0], "counts": ""})  # empty frame, empty string: valid
    valid, area, counts, nums = rle_check._parse_numpy(rles, runs=True)
    assert valid[: len(good)].all() and valid[-1] and not valid[-2]
    assert 0 < valid[len(good) : 2 * len(good)].sum() < len(good)
    np.testing.assert_array_equal(area[: len(good)], rle_areas(good).astype(np.int64))
    np.testing.assert_array_equal(area[2 * len(good) : -2], area[:5])  # bytes read as their str
    first = np.cumsum(nums) - nums
    for s in np.flatnonzero(valid[:-1]).tolist():
        h, w = rles[s]["size"]
        assert int(counts[first[s] : first[s] + nums[s]].astype(np.int64).sum()) == h * w
        assert int(mask_utils.area(rles[s])) == area[s]


def test_pair_intersections_match_pycocotools_merge_and_area() -> None:
    """``intersector``: exact intersections for pairs in any order, repeats included; malformed strings and
    masks of different sizes are refused before pycocotools sees them."""
    rles = _masks(120, 5, pairs=True)
    a, b = np.arange(0, len(rles), 2), np.arange(1, len(rles), 2)
    a, b = np.concatenate([a, b, a[:7]]), np.concatenate([b, a, b[:7]])
    want = [
        int(mask_utils.area(mask_utils.merge([rles[i], rles[j]], True))) for i, j in zip(a, b, strict=True)
    ]
    once = ParseOnce()
    pos = once.index(rles)
    np.testing.assert_array_equal(once.areas[pos], rle_areas(rles).astype(np.int64))
    intersect = st_iou.intersector(once)
    np.testing.assert_array_equal(intersect(pos[a], pos[b]), want)
    assert intersect(pos[:0], pos[:0]).shape == (0,)
    other = once.index(_masks(1, 99))  # another frame size
    with pytest.raises(ValueError, match="sizes"):
        intersect(pos[:1], other)
    bad = once.index([{"size": [2, 2], "counts": "5"}])  # unterminated: never parsed by pycocotools
    with pytest.raises(ValueError, match="malformed"):
        intersect(pos[:1], bad)


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
    np.testing.assert_array_equal(once.valid(pos), want.valid)
    np.testing.assert_array_equal(once.areas[pos][want.valid], want.area[want.valid])
    assert [once.rles[p] for p in pos.tolist()] == rles[::-1]


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
def test_track_ious_equal_pycocotools_merge_and_area(seed: int) -> None:
    """The batched spatio-temporal IoUs equal the official per-frame ``merge`` + ``area`` sums."""
    dt, gt_seqs = _tracks(seed)
    got = st_iou.spatio_temporal_iou(dt, gt_seqs)
    want = np.zeros_like(got)
    for i, d in enumerate(dt):
        for j, g in enumerate(gt_seqs):
            inter = union = 0
            for a, b in zip(d, g, strict=False):
                if a is not None and b is not None:
                    inter += int(mask_utils.area(mask_utils.merge([a, b], True)))
                    union += int(mask_utils.area(mask_utils.merge([a, b], False)))
                elif a is not None or b is not None:
                    union += int(mask_utils.area(a if a is not None else b))
            want[i, j] = inter / union if union > 0 else 0.0
    np.testing.assert_array_equal(got, want)
    assert (got > 0).any()


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
