"""``querytrack-score GT.json RESULTS.json [--out metrics.json]``: official-equivalent YouTube-VIS metrics.

Both files are validated first (the ground truth as ``querytrack-check-data`` does, every compressed RLE string
of both included). Bad input ends with ``querytrack-score: FILE: what is wrong`` on stderr and exit code 1.
``--out`` is written atomically and may not be one of the inputs.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from querytrack.core.cli import cli_main
from querytrack.core.files import check_outputs, write_json_atomic
from querytrack.evaluation import STAT_KEYS, evaluate_ytvis


def format_table(metrics: dict[str, float]) -> str:
    """A plain-text table: the 12 official stats, then the other metrics (per-category AP, HOTA)."""
    rows = [(k, metrics[k]) for k in STAT_KEYS if k in metrics]
    rows += [(k, v) for k, v in metrics.items() if k not in STAT_KEYS]
    width = max(len(k) for k, _ in rows)
    lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ------"]
    for k, v in rows:
        val = "   nan" if math.isnan(v) else f"{100 * v:6.2f}" if v >= 0 else "    -1"
        lines.append(f"{k:<{width}}  {val}")
    return "\n".join(lines)


@cli_main("querytrack-score")
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``querytrack-score``; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="querytrack-score", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("gt", help="YouTube-VIS ground-truth json (e.g. a split made by querytrack-devsplit)")
    parser.add_argument("results", help="YouTube-VIS results json")
    parser.add_argument(
        "--out", help="write all metrics (fractions, not percent) to this json (not an input)"
    )
    parser.add_argument("--no-hota", action="store_true", help="skip HOTA/DetA/AssA (trackeval)")
    parser.add_argument("--no-per-category", action="store_true", help="skip per-category AP")
    parser.add_argument("--lenient", action="store_true", help="drop malformed entries instead of failing")
    parser.add_argument("--check-rle", action="store_true", help=argparse.SUPPRESS)  # now always on
    args = parser.parse_args(argv)
    if args.out:
        check_outputs([args.out], [args.gt, args.results])
    t0 = time.perf_counter()
    metrics = evaluate_ytvis(
        args.gt,
        args.results,
        per_category=not args.no_per_category,
        hota=not args.no_hota,
        strict=not args.lenient,
    )
    print(format_table(metrics))
    print(f"(values in %, evaluated in {time.perf_counter() - t0:.1f} s)")
    if args.out:
        write_json_atomic({k: None if math.isnan(v) else v for k, v in metrics.items()}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
