"""``querytrack-submit RESULTS.json --split SPLIT.json --out submission.zip``: validate, then zip for the server.

The YouTube-VIS challenge server expects a zip with ``results.json`` at its root. Nothing is written when the
file is invalid; every problem is printed with its entry index and video id.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from pathlib import Path

from querytrack.evaluation.validate import MAX_TRACKS_PER_VIDEO, Problem, validate_results


def check_submission(
    results_path: str | os.PathLike[str], split_path: str | os.PathLike[str], max_tracks: int
) -> list[Problem]:
    """Validate a results file against a split json (see ``validate_results``); returns the problems."""
    try:
        results = json.loads(Path(results_path).read_text())
    except json.JSONDecodeError as e:
        return [Problem(None, None, "json", f"results file is not valid JSON: {e}")]
    split = json.loads(Path(split_path).read_text())
    return validate_results(results, split, max_tracks_per_video=max_tracks)


def write_zip(results_path: str | os.PathLike[str], out: str | os.PathLike[str]) -> None:
    """Write ``out`` (atomically) holding the results file as ``results.json`` at the zip root."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.write(results_path, arcname="results.json")
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            tmp.unlink()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``querytrack-submit``; exit code 0 when the zip was written, 1 when refused."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", help="YouTube-VIS results json")
    parser.add_argument("--split", required=True, help="the target split json (videos + categories)")
    parser.add_argument("--out", required=True, help="output zip path")
    parser.add_argument(
        "--max-tracks", type=int, default=MAX_TRACKS_PER_VIDEO, help="tracks allowed per video"
    )
    args = parser.parse_args(argv)
    problems = check_submission(args.results, args.split, args.max_tracks)
    if problems:
        print(f"refused: {len(problems)} problem(s) in {args.results}", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    write_zip(args.results, args.out)
    print(f"wrote {args.out} (results.json at the root)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
