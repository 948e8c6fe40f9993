"""``querytrack-submit RESULTS.json --split SPLIT.json --out submission.zip``: validate, then zip for the server.

The YouTube-VIS challenge server expects a zip with ``results.json`` at its root. Nothing is written when the
file is invalid: every problem is printed to stderr (``querytrack-submit: RESULTS.json: entry I (video V): ...``)
and the exit code is 1. The zip is written atomically and ``--out`` may not be one of the inputs.
"""

from __future__ import annotations

import argparse
import os
import sys
import zipfile
from pathlib import Path

from querytrack.core.cli import cli_main
from querytrack.core.errors import UserError
from querytrack.core.files import atomic_path, check_outputs, read_json
from querytrack.core.ytvis_format import MAX_TRACKS_PER_VIDEO, YTVISFormatError, validate
from querytrack.evaluation.validate import InvalidResultsError, Problem, validate_results


def check_submission(
    results_path: str | os.PathLike[str], split_path: str | os.PathLike[str], max_tracks: int
) -> list[Problem]:
    """Validate a results file against a split json (see ``validate_results``); returns the problems.

    Raises:
        UserError: either file cannot be read as JSON, or the results are not a list.
        YTVISFormatError: the split is not a valid YouTube-VIS file.
    """
    results = read_json(results_path, "results file")
    if not isinstance(results, list):
        raise UserError(results_path, f"results must be a JSON list of entries, got {type(results).__name__}")
    split = read_json(split_path, "split file")
    problems = validate(split, require_file_names=False)
    if problems:
        raise YTVISFormatError(split_path, problems)
    return validate_results(results, split, max_tracks_per_video=max_tracks)


def write_zip(results_path: str | os.PathLike[str], out: str | os.PathLike[str]) -> None:
    """Write ``out`` (atomically) holding the results file as ``results.json`` at the zip root."""
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(results_path, arcname="results.json")


@cli_main("querytrack-submit")
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``querytrack-submit``; exit code 0 when the zip was written, 1 when refused."""
    parser = argparse.ArgumentParser(
        prog="querytrack-submit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("results", help="YouTube-VIS results json")
    parser.add_argument("--split", required=True, help="the target split json (videos + categories)")
    parser.add_argument("--out", required=True, help="output zip path (not an input)")
    parser.add_argument(
        "--max-tracks", type=int, default=MAX_TRACKS_PER_VIDEO, help="tracks allowed per video"
    )
    args = parser.parse_args(argv)
    check_outputs([args.out], [args.results, args.split])
    problems = check_submission(args.results, args.split, args.max_tracks)
    if problems:
        raise InvalidResultsError(problems, path=args.results)
    write_zip(args.results, args.out)
    print(f"wrote {Path(args.out)} (results.json at the root)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
