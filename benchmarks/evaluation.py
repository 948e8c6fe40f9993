"""Evaluator benchmark: vectorised YouTube-VIS AP vs the official code on a generated 200-video file.

Usage::

    python benchmarks/evaluation.py [--workload light|dense|top100] [--videos 200] [--official DIR]
                                    [--files DIR] [--hota]

``DIR`` (or ``$QUERYTRACK_OFFICIAL_YTVIS``) holds the official ``ytvos.py`` and ``ytvoseval.py``
(youtubevos/cocoapi ``PythonAPI/pycocotools``), e.g. extracted from a mirror to /tmp; they are never copied into
this repository. Prints both wall times (each includes reading the two json files, which is a large shared
cost: ~0.15 / 0.3 / 1.2 s for the three workloads) and checks that the 12 numbers are bit-identical.
``--files`` keeps the generated files for reuse (generation takes 0.5-2 min).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from summary import add_summary_argument, write_summary  # benchmarks/summary.py

from querytrack.evaluation.hota import evaluate_hota
from querytrack.evaluation.official import official_dir, official_stats
from querytrack.evaluation.ytvis_eval import STAT_KEYS, evaluate_ap
from querytrack.testing.fake_results import make_gt, make_results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--categories", type=int, default=40)
    parser.add_argument("--official", help="folder with the official ytvos.py / ytvoseval.py")
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    parser.add_argument("--hota", action="store_true", help="also time the trackeval HOTA adapter")
    add_summary_argument(parser)
    parser.add_argument(
        "--files", help="folder to write (or reuse) gt.json / res.json instead of a temporary one"
    )
    parser.add_argument(
        "--workload",
        choices=["light", "dense", "top100"],
        default="dense",
        help="light: ≤15 random-category FP tracks per video, ≤2 copies per GT; dense: ≤40 FP tracks per "
        "video, 70%% in the categories in view, ≤4 copies per GT (closer to a top-10-per-frame tracker); "
        "top100: ~100 tracks per video (the challenge cap), 80%% in the categories in view, 360x640 frames",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.files or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        gt_path, res_path = folder / f"gt_{args.workload}.json", folder / f"res_{args.workload}.json"
        if not (gt_path.exists() and res_path.exists()):
            _generate(args, gt_path, res_path)
        _compare(args, gt_path, res_path)


def _generate(args: argparse.Namespace, gt_path: Path, res_path: Path) -> None:
    t0 = time.perf_counter()
    sizes = ((360, 640),) if args.workload == "top100" else ((360, 640), (720, 1280))
    gt = make_gt(
        args.videos, num_categories=args.categories, seed=0, frames=(10, 36), sizes=sizes, max_objects=5
    )
    if args.workload == "light":
        res = make_results(gt, seed=1, false_positives=15)
    elif args.workload == "dense":
        res = make_results(gt, seed=1, false_positives=40, fp_gt_category_prob=0.7, max_copies=4)
    else:
        res = make_results(gt, seed=1, false_positives=180, fp_gt_category_prob=0.8, max_copies=4)
    print(
        f"[{args.workload}] generated {len(gt['videos'])} videos, {len(gt['annotations'])} GT tracks, {len(res)} result tracks "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    gt_path.write_text(json.dumps(gt))
    res_path.write_text(json.dumps(res))


def _compare(args: argparse.Namespace, gt_path: Path, res_path: Path) -> None:
    ours_t, ours = float("inf"), None
    for _ in range(args.repeat):
        t = time.perf_counter()
        ours = evaluate_ap(gt_path, res_path).stats
        ours_t = min(ours_t, time.perf_counter() - t)
    assert ours is not None
    print(f"querytrack evaluate_ap: {ours_t:.2f} s  AP={ours['AP']:.4f} AP50={ours['AP50']:.4f}")
    figures: dict[str, float | str] = {f"evaluator s ({args.videos} videos, {args.workload})": ours_t}
    write_summary(args.summary, figures)

    if args.hota:
        t = time.perf_counter()
        h = evaluate_hota(gt_path, res_path)
        print(f"trackeval HOTA adapter: {time.perf_counter() - t:.2f} s  HOTA={h['HOTA']:.4f}")

    odir = official_dir(args.official)
    if odir is None:
        print(
            "official evaluator not available (--official DIR or $QUERYTRACK_OFFICIAL_YTVIS): no comparison"
        )
        return
    off_t, off = float("inf"), None
    for _ in range(args.repeat):
        t = time.perf_counter()
        off = official_stats(gt_path, res_path, odir)
        off_t = min(off_t, time.perf_counter() - t)
    assert off is not None
    same = [ours[k] for k in STAT_KEYS] == off
    print(f"official YTVOSeval:     {off_t:.2f} s  AP={off[0]:.4f} AP50={off[1]:.4f}")
    print(f"speed-up: {off_t / ours_t:.1f}x   12 stats bit-identical: {same}")
    figures["evaluator speed-up vs official"] = off_t / ours_t
    write_summary(args.summary, figures)


if __name__ == "__main__":
    main()
