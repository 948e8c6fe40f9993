"""Evaluator benchmark: YouTube-VIS AP from two json paths, ours vs the official code, on generated files.

Usage::

    python benchmarks/evaluation.py [--workload dense|ytvis|realres|light|top100] [--videos N]
                                    [--official DIR] [--files DIR] [--hota]

Workloads (``--videos`` defaults per workload):

* ``dense`` (200 videos): 360p and 720p, 10-36 frames, ≤5 objects, ≤4 copies per object and ≤40 extra tracks
  per video, 70 % of them in the classes in view (a top-10-per-frame tracker).
* ``ytvis`` (450 videos): YouTube-VIS-like density: frames from 24x32 to 300x400, 7-40 frames, ~2 objects and
  ~4 predicted tracks per video (noisy copies, fragments, duplicates, wrong classes, empty masks).
* ``realres`` (25 videos): 720p, 36 frames, 10 objects and ~30 predicted tracks per video.
* ``light`` / ``top100``: fewer false positives / ~100 tracks per video at 360p.

Times (best of ``--repeat``, ours and the official interleaved) include reading both files: ``evaluate_ytvis``
is what ``querytrack-score`` runs (both files validated, every RLE string parsed, then AP); ``evaluate_ap``
skips the validation (the official code has none: it hangs or crashes on malformed strings). The 12 numbers
must be bit-identical.

"two-core bound" (Linux, two CPUs or more) asks how far both cores could take the validated evaluation: read both
files, then fork and let each process run ``evaluate_ytvis`` on half of the videos (ground truth and results),
pinned to a core of its own; merging the halves into the final AP is not counted. It is the time of no
implementation, only a lower bound on any that splits the work over two processes by video. "json read" is
reading both files alone (``load_gt`` + ``load_results`` with the garbage collector paused, as the evaluator
reads them).

``DIR`` (or ``$QUERYTRACK_OFFICIAL_YTVIS``) holds the official ``ytvos.py`` and
``ytvoseval.py`` (youtubevos/cocoapi ``PythonAPI/pycocotools``), e.g. extracted from a mirror to /tmp; they are
never copied into this repository. ``--files`` keeps the generated files for reuse.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from summary import add_summary_argument, write_summary  # benchmarks/summary.py

from querytrack.core.gc_pause import gc_paused
from querytrack.data.devsplit import split_dataset
from querytrack.evaluation import evaluate_ytvis
from querytrack.evaluation.hota import evaluate_hota
from querytrack.evaluation.io import load_gt, load_results
from querytrack.evaluation.official import official_dir, official_stats
from querytrack.evaluation.ytvis_eval import STAT_KEYS, evaluate_ap
from querytrack.testing.fake_results import make_gt, make_results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, help="default: 200 dense / 450 ytvis / 25 realres / 200 others")
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
        choices=list(WORKLOAD_VIDEOS),
        default="dense",
        help="see the module docstring",
    )
    args = parser.parse_args()
    args.videos = args.videos or WORKLOAD_VIDEOS[args.workload]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.files or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{args.workload}_{args.videos}"
        gt_path, res_path = folder / f"gt_{stem}.json", folder / f"res_{stem}.json"
        if not (gt_path.exists() and res_path.exists()):
            _generate(args, gt_path, res_path)
        _compare(args, gt_path, res_path)


WORKLOAD_VIDEOS = {"dense": 200, "ytvis": 450, "realres": 25, "light": 200, "top100": 200}


def _generate(args: argparse.Namespace, gt_path: Path, res_path: Path) -> None:
    t0 = time.perf_counter()
    n, c, w = args.videos, args.categories, args.workload
    if w == "ytvis":
        gt = make_gt(n, num_categories=c, seed=0, frames=(7, 40), max_objects=4)
        res = make_results(gt, seed=1, false_positives=3, max_copies=2)
    elif w == "realres":
        gt = make_gt(n, c, seed=0, frames=(36, 36), sizes=((720, 1280),), min_objects=10, max_objects=10)
        res = make_results(gt, seed=1, false_positives=36, fp_gt_category_prob=0.7, max_copies=2)
    else:
        sizes = ((360, 640),) if w == "top100" else ((360, 640), (720, 1280))
        gt = make_gt(n, num_categories=c, seed=0, frames=(10, 36), sizes=sizes, max_objects=5)
        fp, prob, copies = {"light": (15, 0.0, 2), "dense": (40, 0.7, 4), "top100": (180, 0.8, 4)}[w]
        res = make_results(gt, seed=1, false_positives=fp, fp_gt_category_prob=prob, max_copies=copies)
    print(
        f"[{w}] generated {len(gt['videos'])} videos, {len(gt['annotations'])} GT tracks, {len(res)} result "
        f"tracks in {time.perf_counter() - t0:.1f} s"
    )
    gt_path.write_text(json.dumps(gt))
    res_path.write_text(json.dumps(res))


def _bound_cpus() -> list[int]:
    """Two CPUs this process may run on, for the two-core bound ([] where there are fewer or no fork)."""
    if not (hasattr(os, "fork") and hasattr(os, "sched_setaffinity")):
        return []
    cpus = sorted(os.sched_getaffinity(0))
    return cpus[:2] if len(cpus) >= 2 else []


def _two_core_bound(gt_path: Path, res_path: Path, cpus: list[int]) -> float:
    """Seconds to read both files and then run ``evaluate_ytvis`` on half of the videos in each of two processes,
    each pinned to one of ``cpus`` (the library's thread counts follow the affinity)."""
    with gc_paused():
        start = time.perf_counter()
        gt, res = load_gt(gt_path), load_results(res_path)
        halves = split_dataset(gt, sorted(v["id"] for v in gt["videos"])[1::2])
        affinity = os.sched_getaffinity(0)
        read, write = os.pipe()
        pid = os.fork()
        part = 1 if pid == 0 else 0
        try:
            os.sched_setaffinity(0, {cpus[part]})
            ids = {v["id"] for v in halves[part]["videos"]}
            evaluate_ytvis(halves[part], [r for r in res if r["video_id"] in ids], per_category=False)
        finally:
            if pid == 0:  # the child says it is done, and leaves
                os.write(write, b".")
                os._exit(0)
            os.sched_setaffinity(0, affinity)
        os.read(read, 1)
        elapsed = time.perf_counter() - start
        os.waitpid(pid, 0)
        os.close(read)
        os.close(write)
    return elapsed


def _json_read(gt_path: Path, res_path: Path) -> float:
    with gc_paused():  # as the evaluator reads them
        start = time.perf_counter()
        load_gt(gt_path)
        load_results(res_path)
        return time.perf_counter() - start


def _compare(args: argparse.Namespace, gt_path: Path, res_path: Path) -> None:
    size_mb = (gt_path.stat().st_size + res_path.stat().st_size) / 1e6
    print(f"[{args.workload}] {args.videos} videos, {size_mb:.0f} MB of json")
    odir = official_dir(args.official)
    cpus = _bound_cpus()
    best = dict.fromkeys(("ytvis", "ap", "official", "bound", "json"), float("inf"))
    ours: dict[str, float] = {}
    off: list[float] | None = None
    for _ in range(args.repeat):  # interleaved, so that a change of machine load hits all three alike
        t = time.perf_counter()
        ours = evaluate_ytvis(gt_path, res_path, per_category=False)
        best["ytvis"] = min(best["ytvis"], time.perf_counter() - t)
        t = time.perf_counter()
        evaluate_ap(gt_path, res_path)
        best["ap"] = min(best["ap"], time.perf_counter() - t)
        best["json"] = min(best["json"], _json_read(gt_path, res_path))
        if cpus:
            best["bound"] = min(best["bound"], _two_core_bound(gt_path, res_path, cpus))
        if odir is not None:
            t = time.perf_counter()
            off = official_stats(gt_path, res_path, odir)
            best["official"] = min(best["official"], time.perf_counter() - t)
    print(f"querytrack evaluate_ytvis (validated): {best['ytvis']:.2f} s  AP={ours['AP']:.4f}")
    print(f"querytrack evaluate_ap (no validation): {best['ap']:.2f} s")
    print(f"json read of both files alone:          {best['json']:.2f} s")
    if cpus:
        print(f"two-core bound (see the docstring):     {best['bound']:.2f} s")
    label = f"{args.videos} videos, {args.workload}"
    figures: dict[str, float | str] = {f"evaluator s ({label}, validated)": best["ytvis"]}
    if args.hota:
        t = time.perf_counter()
        h = evaluate_hota(gt_path, res_path)
        print(f"trackeval HOTA adapter: {time.perf_counter() - t:.2f} s  HOTA={h['HOTA']:.4f}")
    if off is None:
        print(
            "official evaluator not available (--official DIR or $QUERYTRACK_OFFICIAL_YTVIS): no comparison"
        )
        write_summary(args.summary, figures)
        return
    same = [ours[k] for k in STAT_KEYS] == off
    print(f"official YTVOSeval:     {best['official']:.2f} s  AP={off[0]:.4f}")
    print(
        f"speed-up: {best['official'] / best['ytvis']:.1f}x validated, {best['official'] / best['ap']:.1f}x "
        f"AP only   12 stats bit-identical: {same}"
    )
    figures[f"evaluator speed-up vs official ({args.workload}, validated / AP only)"] = (
        f"{best['official'] / best['ytvis']:.1f} / {best['official'] / best['ap']:.1f}"
        + ("" if same else " STATS DIFFER")
    )
    if cpus:
        print(f"two-core bound: {best['official'] / best['bound']:.1f}x the official code")
        figures[f"evaluator two-core bound vs official ({args.workload})"] = best["official"] / best["bound"]
    write_summary(args.summary, figures)


if __name__ == "__main__":
    main()
