"""``querytrack-devsplit``: carve a validation split *with ground truth* out of a YouTube-VIS train json.

The official val/test ground truth is withheld, so local AP needs videos held out of train. The split is by
video (all annotations of a video go to the same side), seeded, by fraction or count. It writes
``<stem>_train_part.json`` and ``<stem>_val_part.json`` and prints + stores (``<stem>_val_part.sha256`` and the
val json's ``info.devsplit``) the sha256 of the chosen video ids, sorted, as ``json.dumps(ids)`` — so two people
can check they evaluate on the same videos.

The input is validated first (as ``querytrack-check-data`` does); bad input ends with
``querytrack-devsplit: FILE: what is wrong`` on stderr and exit code 1, and nothing is written. The three outputs
are written atomically (all complete or none replaced) and may not overwrite the input.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import random
import sys
from pathlib import Path
from typing import Any

from querytrack.core.cli import cli_main
from querytrack.core.errors import UserError
from querytrack.core.files import atomic_path, check_outputs, read_json
from querytrack.core.ytvis_format import YTVISFormatError, validate


def video_ids_checksum(video_ids: list[int]) -> str:
    """sha256 hex digest of ``json.dumps(sorted(video_ids))``."""
    return hashlib.sha256(json.dumps(sorted(int(v) for v in video_ids)).encode()).hexdigest()


def choose_val_videos(
    video_ids: list[int], seed: int, fraction: float | None, count: int | None
) -> list[int]:
    """Pick the validation videos (sorted), deterministic given ``seed`` and the set of ids.

    Args:
        video_ids: all video ids of the train json.
        seed: random seed (``random.Random(seed)`` samples from the sorted ids).
        fraction: share of videos to hold out (rounded, at least 1), or ``None``.
        count: number of videos to hold out, or ``None`` (exactly one of fraction / count).

    Returns:
        The sorted held-out ids.
    """
    if (fraction is None) == (count is None):
        raise ValueError("give exactly one of fraction or count")
    ids = sorted(int(v) for v in video_ids)
    n = count if count is not None else max(1, round(len(ids) * float(fraction)))  # type: ignore[arg-type]
    if not 0 < n < len(ids):
        raise ValueError(f"cannot hold out {n} of {len(ids)} videos")
    return sorted(random.Random(seed).sample(ids, n))


def split_dataset(data: dict[str, Any], val_ids: list[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split a YouTube-VIS dict into (train part, val part) by video; other top-level keys are copied."""
    val = set(val_ids)
    parts = []
    for keep in (lambda v: v not in val, lambda v: v in val):
        part = {k: v for k, v in data.items() if k not in ("videos", "annotations")}
        part["videos"] = [v for v in data["videos"] if keep(v["id"])]
        part["annotations"] = [a for a in data.get("annotations", []) if keep(a["video_id"])]
        parts.append(part)
    return parts[0], parts[1]


@cli_main("querytrack-devsplit")
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``querytrack-devsplit``."""
    parser = argparse.ArgumentParser(
        prog="querytrack-devsplit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("train_json", help="YouTube-VIS train json (with annotations)")
    parser.add_argument("--out-dir", help="output folder (default: next to the input)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--fraction", type=float, help="share of videos held out (default 0.1)")
    group.add_argument("--count", type=int, help="number of videos held out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    fraction = args.fraction if args.fraction is not None or args.count is not None else 0.1
    if fraction is not None and not (math.isfinite(fraction) and 0 < fraction < 1):
        parser.error(f"--fraction must be in (0, 1), got {fraction}")
    if args.count is not None and args.count < 1:
        parser.error(f"--count must be positive, got {args.count}")
    src = Path(args.train_json)
    out_dir = Path(args.out_dir) if args.out_dir else src.parent
    stem = src.stem
    outputs = [out_dir / f"{stem}_train_part.json", out_dir / f"{stem}_val_part.json"]
    digest_path = out_dir / f"{stem}_val_part.sha256"
    check_outputs([*outputs, digest_path], [src])
    data = read_json(src, "train json")
    problems = validate(data, require_file_names=False)
    if problems:
        raise YTVISFormatError(src, problems)
    try:
        val_ids = choose_val_videos([v["id"] for v in data["videos"]], args.seed, fraction, args.count)
    except ValueError as e:
        raise UserError(src, str(e)) from None
    digest = video_ids_checksum(val_ids)
    train, val = split_dataset(data, val_ids)
    info = dict(val.get("info") or {}) if isinstance(val.get("info"), dict) else {}
    info["devsplit"] = {
        "source": src.name,
        "seed": args.seed,
        "fraction": fraction,
        "count": args.count,
        "num_val_videos": len(val_ids),
        "val_video_ids_sha256": digest,
    }
    val["info"] = info
    with contextlib.ExitStack() as stack:  # every temporary file written before any output is replaced
        for part, path in zip((train, val), outputs, strict=True):
            stack.enter_context(atomic_path(path)).write_text(json.dumps(part))
        stack.enter_context(atomic_path(digest_path)).write_text(
            f"{digest}  val video ids (sorted json list)\n"
        )
    print(f"train part: {len(train['videos'])} videos, {len(train['annotations'])} annotations")
    print(f"val part:   {len(val['videos'])} videos, {len(val['annotations'])} annotations")
    print(f"sha256(sorted val video ids) = {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
