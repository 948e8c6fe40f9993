"""Validation of YouTube-VIS results files against a split json (used by the submitter and the evaluator)."""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass
from numbers import Real
from typing import Any, TypeGuard

from querytrack.core.errors import UserError
from querytrack.core.rle_check import RleValid, compressed_rle_valid
from querytrack.core.ytvis_format import MAX_TRACKS_PER_VIDEO, compressed_frames_ok
from querytrack.evaluation.io import video_num_frames

REQUIRED_KEYS = ("video_id", "category_id", "score", "segmentations")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a results file.

    Attributes:
        index: position of the entry in the results list (``None`` for file-level problems).
        video_id: the entry's video id (``None`` when unknown).
        kind: short machine-readable tag, e.g. ``"unknown_video"``, ``"length"``, ``"rle_size"``.
        message: human-readable detail.
    """

    index: int | None
    video_id: Any
    kind: str
    message: str

    def __str__(self) -> str:
        where = "file" if self.index is None else f"entry {self.index}"
        return f"{where} (video {self.video_id}): {self.kind}: {self.message}"


class InvalidResultsError(UserError, ValueError):
    """Raised when a results file has problems; ``problems`` lists every one.

    The message is ``path: problem`` for one problem, else ``path: N problem(s) in results:`` followed by one
    indented line per problem (at most ``limit``).
    """

    def __init__(
        self, problems: list[Problem], limit: int = 50, path: str | os.PathLike[str] | None = None
    ) -> None:
        self.problems = problems
        if len(problems) == 1:
            message = str(problems[0])
        else:
            lines = [f"  {p}" for p in problems[:limit]]
            if len(problems) > limit:
                lines.append(f"  ... and {len(problems) - limit} more")
            message = f"{len(problems)} problem(s) in results:\n" + "\n".join(lines)
        super().__init__(path, message)


_MESSAGES = {
    "rle_format": "not an RLE dict {size: [height, width], counts} or null",
    "rle_size": "RLE size differs from the video size",
    "rle_counts": "uncompressed RLE (counts must be a compressed string)",
    "rle_invalid": "RLE counts cannot be decoded (malformed, or runs do not add up to height x width)",
}


def _frames_problem(i: int, vid: Any, kind: str, frames: list[int]) -> Problem:
    shown = ", ".join(map(str, frames[:10])) + (" ..." if len(frames) > 10 else "")
    return Problem(i, vid, kind, f"{_MESSAGES[kind]} at frame(s) {shown}")


def _is_int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_size(size: Any) -> bool:
    return isinstance(size, list | tuple) and len(size) == 2 and all(_is_int(v) for v in size)


def _uncompressed_ok(counts: list[Any], size: list[int]) -> bool:
    """Uncompressed counts: non-negative integers adding up to height x width."""
    return all(_is_int(c) and c >= 0 for c in counts) and sum(counts) == size[0] * size[1]


def _score_problem(s: Any, check_range: bool) -> str | None:
    if isinstance(s, bool) or not isinstance(s, Real):
        return f"score {s!r} is not a number"[:120]
    try:
        value = float(s)
    except OverflowError:  # an integer too large for a float
        return "score is not a finite number (too large)"
    if not math.isfinite(value):
        return f"score {s!r} is not a finite number"
    if check_range and not 0.0 <= value <= 1.0:
        return f"score {s!r} outside [0, 1]"
    return None


def _check_segmentations(
    i: int, vid: Any, segs: Any, n: int, size: list[int], require_compressed: bool, pending: list[Any] | None
) -> list[Problem]:
    """Structural checks of one entry's segmentations; compressed RLEs to decode-check go to ``pending``."""
    if not isinstance(segs, list):
        return [Problem(i, vid, "segmentations", "must be a list (one RLE or null per frame)")]
    out = []
    if len(segs) != n:
        out.append(Problem(i, vid, "length", f"{len(segs)} segmentations for a video of {n} frames"))
    if compressed_frames_ok(segs, size):
        if pending is not None:
            pending += [(i, vid, f, s) for f, s in enumerate(segs) if s is not None]
        return out
    bad: dict[str, list[int]] = defaultdict(list)
    for f, s in enumerate(segs):
        if s is None:
            continue
        if not isinstance(s, dict) or "size" not in s or "counts" not in s or not _is_size(s["size"]):
            bad["rle_format"].append(f)
            continue
        if list(s["size"]) != size:
            bad["rle_size"].append(f)
            continue
        if isinstance(s["counts"], list):
            if require_compressed:
                bad["rle_counts"].append(f)
            elif not _uncompressed_ok(s["counts"], size):
                bad["rle_invalid"].append(f)
            continue
        if not isinstance(s["counts"], str | bytes):
            bad["rle_format"].append(f)
            continue
        if pending is not None:
            pending.append((i, vid, f, s))
    out += [_frames_problem(i, vid, kind, frames) for kind, frames in bad.items()]
    return out


def _decode_problems(pending: list[Any], rle_valid: RleValid) -> list[Problem]:
    """Decode-free validity check of all pending RLEs at once (by ``rle_valid``, ``compressed_rle_valid`` by default)."""
    bad: dict[tuple[int, Any], list[int]] = defaultdict(list)
    valid = rle_valid([p[3] for p in pending])
    for (i, vid, f, _), ok in zip(pending, valid.tolist(), strict=True):
        if not ok:
            bad[i, vid].append(f)
    return [_frames_problem(i, vid, "rle_invalid", frames) for (i, vid), frames in bad.items()]


def validate_results(
    results: Any,
    split: dict[str, Any],
    max_tracks_per_video: int | None = MAX_TRACKS_PER_VIDEO,
    require_compressed: bool = True,
    check_score_range: bool = True,
    check_rle_counts: bool = True,
    rle_valid: RleValid = compressed_rle_valid,
) -> list[Problem]:
    """List everything wrong with a YouTube-VIS results list relative to a split json.

    Checks: entries are dicts with ``video_id``, ``category_id``, ``score``, ``segmentations``; the ids are
    integers; the video id is in the split; the category id is in the split's categories; the score is a finite number in [0, 1]; one
    segmentation per frame (``len == len(file_names)``); each is ``null`` or an RLE whose ``size`` is the
    video's ``[height, width]`` with decodable (compressed) counts; at most ``max_tracks_per_video`` entries per
    video.

    Args:
        results: the loaded results (should be a list).
        split: the split json (``videos``, ``categories``), already valid (``querytrack.core.ytvis_format.validate``);
            annotations are not needed.
        max_tracks_per_video: cap per video (``None`` disables the check).
        require_compressed: refuse uncompressed RLE (list counts).
        check_score_range: refuse scores outside [0, 1].
        check_rle_counts: parse every compressed string and check its runs add up to height × width
            (``pycocotools.mask.decode`` can corrupt memory on malformed strings, so this never decodes).
            It reads every character (NumPy, ``core.rle_check``; cost in ``docs/benchmarks.md``).
        rle_valid: that check (e.g. ``ParseOnce.check``, which keeps the areas for the evaluation).

    Returns:
        The problems, in entry order (empty when valid).
    """
    if not isinstance(results, list):
        return [Problem(None, None, "format", "results must be a JSON list of entries")]
    videos = {v["id"]: v for v in split["videos"]}
    cats = {c["id"] for c in split["categories"]}
    problems: list[Problem] = []
    per_video: dict[Any, list[int]] = defaultdict(list)
    pending: list[Any] | None = [] if check_rle_counts else None
    for i, r in enumerate(results):
        if not isinstance(r, dict):
            problems.append(Problem(i, None, "format", "entry is not an object"))
            continue
        vid = r.get("video_id")
        missing = [k for k in REQUIRED_KEYS if k not in r]
        if missing:
            problems.append(Problem(i, vid, "missing_key", f"missing {', '.join(missing)}"))
            continue
        if not _is_int(vid):
            problems.append(Problem(i, None, "video_id", f"video_id must be an integer, got {vid!r}"[:120]))
            continue
        if vid not in videos:
            problems.append(Problem(i, vid, "unknown_video", "video id not in the split"))
            continue
        per_video[vid].append(i)
        cat = r["category_id"]
        if not _is_int(cat):
            problems.append(
                Problem(i, vid, "category_id", f"category_id must be an integer, got {cat!r}"[:120])
            )
        elif cat not in cats:
            problems.append(Problem(i, vid, "unknown_category", f"category id {cat!r} not in split"))
        score_err = _score_problem(r["score"], check_score_range)
        if score_err:
            problems.append(Problem(i, vid, "score", score_err))
        v = videos[vid]
        size = [int(v["height"]), int(v["width"])]
        problems += _check_segmentations(
            i, vid, r["segmentations"], video_num_frames(v), size, require_compressed, pending
        )
    if pending:
        problems += _decode_problems(pending, rle_valid)
    if max_tracks_per_video is not None:
        for vid, idx in per_video.items():
            if len(idx) > max_tracks_per_video:
                problems.append(
                    Problem(
                        idx[max_tracks_per_video],
                        vid,
                        "too_many_tracks",
                        f"{len(idx)} tracks for this video (cap {max_tracks_per_video}); "
                        f"first over the cap is this entry",
                    )
                )
    problems.sort(key=lambda p: -1 if p.index is None else p.index)
    return problems
