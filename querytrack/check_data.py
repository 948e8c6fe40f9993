"""``querytrack-check-data ANN.json [--images ROOT] [--check-files]``: validate a YouTube-VIS json (and its frames).

Every problem is listed on stderr, naming the video, annotation, field and frame (``querytrack.core.ytvis_format``);
exit code 1. Writes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from querytrack.core.cli import cli_main
from querytrack.data.ytvis import YTVISDataset


@cli_main("querytrack-check-data")
def main(argv: list[str] | None = None) -> int:
    """CLI: validate a YouTube-VIS json (and optionally its frame files); exit 1 listing the problems on stderr."""
    p = argparse.ArgumentParser(
        prog="querytrack-check-data",
        description="Validate a YouTube-VIS json. Problems go to stderr as 'querytrack-check-data: FILE: ...' "
        "(every problem listed, naming video, annotation, field and frame); exit code 1. Writes nothing.",
    )
    p.add_argument("ann_file", type=Path)
    p.add_argument("--images", type=Path, default=None, help="frame root (default: beside the json)")
    p.add_argument("--check-files", action="store_true", help="also check every frame file exists")
    args = p.parse_args(argv)
    root = args.images or args.ann_file.parent
    ds = YTVISDataset(args.ann_file, root, check_files=args.check_files)
    print(f"{args.ann_file}: OK " + ", ".join(f"{k}={v}" for k, v in ds.summary().items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
