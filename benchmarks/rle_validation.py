"""Cost of validating every compressed RLE string before evaluation, on a generated 450-video file.

Usage::

    python benchmarks/rle_validation.py [--videos 450] [--workload light|dense] [--hota] [--files DIR]

``querytrack-score`` parses every compressed RLE string of the ground truth and of the results
(``querytrack.core.rle_check``, NumPy) before pycocotools sees any of them (pycocotools loops, aborts or reads
uninitialised memory on malformed strings); the evaluation then reuses the areas. This prints the time of that
parse alone (default, one thread, and two threads), of each validation run alone (ground truth, results: structure and strings), and of the whole evaluation
(``evaluate_ytvis`` from the two paths, reading included, each string parsed once), best of ``--repeat``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from querytrack.core.rle_check import compressed_rle_valid
from querytrack.core.ytvis_format import validate
from querytrack.evaluation import evaluate_ytvis, validate_results
from querytrack.testing.fake_results import make_gt, make_results


def _best(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _strings(gt: dict[str, Any], res: list[dict[str, Any]]) -> list[dict[str, Any]]:
    segs = [s for a in gt["annotations"] for s in a["segmentations"]]
    segs += [s for r in res for s in r["segmentations"]]
    return [s for s in segs if s is not None and isinstance(s["counts"], str)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=450)
    parser.add_argument("--workload", choices=["light", "dense"], default="dense")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--hota", action="store_true", help="include HOTA (trackeval) in the whole evaluation"
    )
    parser.add_argument("--files", help="folder to write (or reuse) the generated files")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.files or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        gt_path = folder / f"gt_{args.videos}_{args.workload}.json"
        res_path = folder / f"res_{args.videos}_{args.workload}.json"
        if not (gt_path.exists() and res_path.exists()):
            t = time.perf_counter()
            gt = make_gt(
                args.videos,
                num_categories=40,
                seed=0,
                frames=(10, 36),
                sizes=((360, 640), (720, 1280)),
                max_objects=5,
            )
            if args.workload == "light":
                res = make_results(gt, seed=1, false_positives=15)
            else:
                res = make_results(gt, seed=1, false_positives=40, fp_gt_category_prob=0.7, max_copies=4)
            gt_path.write_text(json.dumps(gt))
            res_path.write_text(json.dumps(res))
            print(f"generated in {time.perf_counter() - t:.1f} s")
        gt, res = json.loads(gt_path.read_text()), json.loads(res_path.read_text())
        rles = _strings(gt, res)
        mb = (gt_path.stat().st_size + res_path.stat().st_size) / 1e6
        print(
            f"{len(gt['videos'])} videos, {len(gt['annotations'])} GT tracks, {len(res)} result tracks, "
            f"{len(rles)} compressed RLE strings, {mb:.0f} MB of json"
        )
        # one call: it parses in chunks (rle_check._chunks), as the validators use it
        t_parse = _best(lambda: compressed_rle_valid(rles), args.repeat)
        t_one = _best(lambda: compressed_rle_valid(rles, workers=2), args.repeat)
        t_gt = _best(lambda: validate(gt, require_file_names=False), args.repeat)
        t_res = _best(
            lambda: validate_results(res, gt, max_tracks_per_video=None, require_compressed=False),
            args.repeat,
        )
        t_res_plain = _best(
            lambda: validate_results(
                res, gt, max_tracks_per_video=None, require_compressed=False, check_rle_counts=False
            ),
            args.repeat,
        )
        t_eval = _best(
            lambda: evaluate_ytvis(gt_path, res_path, per_category=True, hota=args.hota),
            max(1, args.repeat - 1),
        )
        print(f"RLE string parse (GT + results):         {t_parse:6.2f} s  (two threads: {t_one:.2f} s)")
        print(f"GT validation (strings included):        {t_gt:6.2f} s")
        print(
            f"results validation (strings included):   {t_res:6.2f} s  (without strings: {t_res_plain:.2f} s)"
        )
        print(f"whole evaluate_ytvis{' + HOTA' if args.hota else ''} (validation included): {t_eval:6.2f} s")
        print(
            f"string parse / whole evaluation: {t_parse / t_eval:.1%}; all validation: {(t_gt + t_res) / t_eval:.1%}"
        )


if __name__ == "__main__":
    main()
