"""The YouTube-VIS file format (2019, 2021 and OVIS share the schema): its validator and its limits.

Pure Python + NumPy, shared by the dataset (``querytrack.data.ytvis``), the evaluator and ``querytrack-check-data``. Every problem in a
file is reported as a :class:`YTVISFormatError` whose message names the file, the video (and annotation) id,
the field and, where it applies, the frame; all problems found are listed at once, so a user fixes a file in
one pass. Nothing deep inside torch ever sees malformed data.

Schema (fields we rely on)::

    categories:  [{id, name}]
    videos:      [{id, width, height, length, file_names: [str] * length}]
    annotations: [{id, video_id, category_id, segmentations: [RLE | polygon | None] * length,
                   bboxes: [[x, y, w, h] | None] * length (optional), areas (optional), iscrowd (optional)}]

Test/valid files without ground truth have no ``annotations`` key: that is valid.

CLI: ``querytrack-check-data ANN.json [--images ROOT] [--check-files]`` (``querytrack.check_data``).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from typing import Any, TypeGuard

from querytrack.core.errors import UserError
from querytrack.core.rle_check import RleValid, compressed_rle_valid

MAX_REPORTED = 50
#: Largest accepted frame side: pycocotools stores run lengths as uint32, so height * width must stay below 2**32.
MAX_SIDE = 65535


class YTVISFormatError(UserError, ValueError):
    """A YouTube-VIS file (or one of its frames) is malformed. ``problems`` lists every finding.

    The message is ``path: problem`` for one problem, else ``path: N problem(s) ...`` followed by one indented
    line per problem (at most ``MAX_REPORTED``).
    """

    def __init__(self, path: str | os.PathLike[str], problems: Sequence[str]) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            shown = self.problems[:MAX_REPORTED]
            more = len(self.problems) - len(shown)
            lines = [f"{len(self.problems)} problem(s) in YouTube-VIS data:"]
            lines += [f"  - {p}" for p in shown]
            if more:
                lines.append(f"  ... and {more} more")
            message = "\n".join(lines)
        super().__init__(path, message)


#: Tracks a results file may hold per video: the official evaluator keeps 100 per (video, category); the
#: challenge caps at 100.
MAX_TRACKS_PER_VIDEO = 100


def _is_int(x: Any) -> TypeGuard[int]:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_finite_number(x: Any) -> bool:
    """A JSON number (not a bool) that is finite; huge integers count as finite only if a float holds them."""
    if isinstance(x, bool) or not isinstance(x, int | float):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


_FLOAT_MAX = sys.float_info.max


def _finite_numbers(values: Sequence[Any]) -> bool:
    """Fast check: every value is a JSON number (int or float, not bool) that a float holds finitely."""
    return all(
        (type(v) is int or type(v) is float) and -_FLOAT_MAX <= v <= _FLOAT_MAX  # NaN fails the comparison
        for v in values
    )


def compressed_frames_ok(segs: Sequence[Any], size: list[int]) -> bool:
    """Fast path of the validators: every frame is null or ``{"size": size (two ints), "counts": str}``."""
    return all(
        s is None
        or (
            type(s) is dict
            and type(s.get("counts")) is str
            and (z := s.get("size")) == size
            and type(z[0]) is int is type(z[1])
        )
        for s in segs
    )


def _boxes_ok(boxes: list[Any]) -> bool:
    """Fast path: every box is null or four finite numbers with non-negative width and height."""
    return all(
        b is None or (type(b) is list and len(b) == 4 and _finite_numbers(b) and b[2] >= 0 and b[3] >= 0)
        for b in boxes
    )


def _areas_ok(areas: list[Any]) -> bool:
    """Fast path: every area is null or a finite number ≥ 0."""
    return all(a is None or ((type(a) is int or type(a) is float) and 0 <= a <= _FLOAT_MAX) for a in areas)


def _frame_list(frames: list[int]) -> str:
    return ", ".join(map(str, frames[:10])) + (" ..." if len(frames) > 10 else "")


def rle_size_problem(size: Any, h: int, w: int) -> str | None:
    """What is wrong with an RLE ``size`` field for a ``h x w`` video, or ``None``."""
    if not isinstance(size, list | tuple) or len(size) != 2 or not all(_is_int(s) for s in size):
        return f"RLE size must be [height, width], got {size!r}"[:120]
    if list(size) != [h, w]:
        return f"RLE size {list(size)} differs from the video size [{h}, {w}]"
    return None


def _check_segmentation(segm: Any, h: int, w: int) -> str | None:
    """Return a description of what is wrong with one segmentation (compressed strings are checked later)."""
    if isinstance(segm, dict):
        size = segm.get("size")
        counts = segm.get("counts")
        if size is None or counts is None:
            return "RLE lacks 'size' or 'counts'"
        err = rle_size_problem(size, h, w)
        if err:
            return err
        if isinstance(counts, list):
            if any(not _is_int(c) or c < 0 for c in counts):
                return "uncompressed RLE counts must be non-negative integers"
            if sum(counts) != h * w:
                return f"uncompressed RLE counts sum to {sum(counts)}, expected height*width = {h * w}"
        elif not isinstance(counts, str | bytes):
            return f"RLE counts must be a list or a string, got {type(counts).__name__}"
        return None
    if isinstance(segm, list):
        if not segm:
            return "empty polygon list"
        for poly in segm:
            if not isinstance(poly, list) or len(poly) < 6 or len(poly) % 2:
                return "each polygon must be a flat list of at least 3 (x, y) points (an even number of coordinates)"
            if not all(_is_finite_number(c) for c in poly):
                return "polygon coordinates must be finite numbers"
        return None
    return f"segmentation must be an RLE dict, a polygon list or null, got {type(segm).__name__}"


def _box_problem(box: Any) -> str | None:
    if not isinstance(box, list) or len(box) != 4 or not all(_is_finite_number(c) for c in box):
        return "expected [x, y, w, h] (finite numbers) or null"
    if box[2] < 0 or box[3] < 0:
        return f"negative box size {box[2]} x {box[3]}"
    return None


def _video_problem(video: dict[str, Any], require_file_names: bool) -> str | None:
    """What is wrong with a video entry whose ``id`` is valid, or ``None``."""
    missing = [k for k in ("width", "height") if k not in video]
    if "file_names" not in video and (require_file_names or "length" not in video):
        missing.append("file_names")
    if missing:
        return f"missing field(s) {', '.join(repr(k) for k in missing)}"
    h, w = video["height"], video["width"]
    if not (_is_int(h) and _is_int(w) and 0 < h <= MAX_SIDE and 0 < w <= MAX_SIDE):
        return f"fields 'height'/'width' must be integers in 1..{MAX_SIDE}, got {h!r}/{w!r}"[:160]
    if "file_names" not in video:
        if not _is_int(video["length"]) or video["length"] <= 0:
            return f"field 'length' must be a positive integer, got {video['length']!r}"[:160]
        return None
    names = video["file_names"]
    if not isinstance(names, list) or any(not isinstance(n, str) for n in names):
        return "field 'file_names' must be a list of strings"
    if not names:
        return "field 'file_names': empty video (no frames)"
    return None


def validate(
    doc: Any,
    path: str | os.PathLike[str] = "<memory>",
    require_file_names: bool = True,
    rle_valid: RleValid = compressed_rle_valid,
) -> list[str]:
    """Check a loaded YouTube-VIS document; return the list of problems (empty when valid).

    Everything a later step relies on is checked here, so that nothing downstream (pycocotools, trackeval,
    torch) ever sees malformed data: ids are integers, sizes are in range, per-frame lists have one entry per
    frame, polygons / boxes / areas are finite, and every compressed RLE string parses and covers exactly
    ``height x width`` pixels (without decoding it: ``querytrack.core.rle_check.compressed_rle_valid``).

    Args:
        doc: the loaded json.
        path: its path (unused; problems name videos, annotations, fields and frames).
        require_file_names: videos need ``file_names``; when False a positive ``length`` may stand in
            (ground truth for evaluation only).
        rle_valid: the check of the compressed strings (e.g. ``ParseOnce.check``, which keeps the areas).
    """
    problems: list[str] = []
    if not isinstance(doc, dict):
        return [f"top level must be an object, got {type(doc).__name__}"]
    for key in ("videos", "categories"):
        if key not in doc:
            problems.append(f"missing top-level key '{key}'")
        elif not isinstance(doc[key], list):
            problems.append(f"top-level '{key}' must be a list")
    if problems:
        return problems

    cat_ids: set[int] = set()
    for i, cat in enumerate(doc["categories"]):
        if not isinstance(cat, dict) or not _is_int(cat.get("id")) or "name" not in cat:
            problems.append(f"categories[{i}]: needs an integer 'id' and a 'name'")
            continue
        if cat["id"] in cat_ids:
            problems.append(f"categories[{i}]: duplicate category id {cat['id']}")
        cat_ids.add(cat["id"])

    sizes: dict[int, tuple[int, int, int]] = {}
    for i, video in enumerate(doc["videos"]):
        if not isinstance(video, dict):
            problems.append(f"videos[{i}]: must be an object")
            continue
        vid = video.get("id")
        if "id" not in video:
            problems.append(f"videos[{i}]: missing field(s) 'id'")
            continue
        if not _is_int(vid):
            problems.append(f"videos[{i}]: field 'id' must be an integer, got {vid!r}"[:160])
            continue
        where = f"video {vid}"
        if vid in sizes:
            problems.append(f"{where}: duplicate video id")
            continue
        err = _video_problem(video, require_file_names)
        if err:
            problems.append(f"{where}: {err}")
            continue
        n = len(video["file_names"]) if "file_names" in video else int(video["length"])
        if "file_names" in video and "length" in video and video["length"] != n:
            problems.append(
                f"{where}: field 'length' is {video['length']!r} but 'file_names' lists {n} frames"[:160]
            )
        sizes[vid] = (video["height"], video["width"], n)

    annotations = doc.get("annotations", [])
    if not isinstance(annotations, list):
        return [*problems, "top-level 'annotations' must be a list"]
    ann_ids: set[int] = set()
    pending: list[tuple[str, int, dict[str, Any]]] = []  # compressed RLEs to parse: (where, frame, rle)
    for i, ann in enumerate(annotations):
        if not isinstance(ann, dict):
            problems.append(f"annotations[{i}]: must be an object")
            continue
        aid, vid = ann.get("id"), ann.get("video_id")
        where = (
            f"video {vid}, annotation {aid}"
            if _is_int(aid) and _is_int(vid)
            else f"annotations[{i}] (video {vid!r})"[:80]
        )
        missing = [k for k in ("id", "video_id", "category_id", "segmentations") if k not in ann]
        if missing:
            problems.append(f"{where}: missing field(s) {', '.join(repr(k) for k in missing)}")
            continue
        if not _is_int(aid):
            problems.append(f"{where}: field 'id' must be an integer")
            continue
        if aid in ann_ids:
            problems.append(f"{where}: duplicate annotation id")
        ann_ids.add(aid)
        if not _is_int(vid) or vid not in sizes:
            problems.append(f"{where}: field 'video_id': unknown video id {vid!r}"[:160])
            continue
        cat = ann["category_id"]
        if not _is_int(cat) or cat not in cat_ids:
            problems.append(f"{where}: field 'category_id': {cat!r} is not in 'categories'"[:160])
        if ann.get("iscrowd", 0) not in (0, 1, None):  # bools compare equal to 0 / 1
            problems.append(f"{where}: field 'iscrowd' must be 0 or 1, got {ann['iscrowd']!r}"[:160])
        h, w, length = sizes[vid]
        for field_name in ("segmentations", "bboxes", "areas"):
            values = ann.get(field_name)
            if values is None and field_name != "segmentations":
                continue
            if not isinstance(values, list):
                problems.append(f"{where}: field '{field_name}' must be a list")
            elif len(values) != length:
                problems.append(
                    f"{where}: field '{field_name}' has {len(values)} entries but the video has {length} frames"
                )
        segs = ann["segmentations"]
        if isinstance(segs, list) and compressed_frames_ok(segs[:length], [h, w]):
            pending += [(where, t, segm) for t, segm in enumerate(segs[:length]) if segm is not None]
        elif isinstance(segs, list):
            for t, segm in enumerate(segs[:length]):
                if segm is None:
                    continue
                err = _check_segmentation(segm, h, w)
                if err:
                    problems.append(f"{where}: field 'segmentations', frame {t}: {err}")
                elif isinstance(segm, dict) and isinstance(segm["counts"], str | bytes):
                    pending.append((where, t, segm))
        boxes = ann.get("bboxes")
        if isinstance(boxes, list) and not _boxes_ok(boxes[:length]):
            for t, box in enumerate(boxes[:length]):
                err = None if box is None else _box_problem(box)
                if err:
                    problems.append(f"{where}: field 'bboxes', frame {t}: {err}")
        areas = ann.get("areas")
        if isinstance(areas, list) and not _areas_ok(areas[:length]):
            bad = [t for t, a in enumerate(areas[:length]) if a is not None and not _area_ok(a)]
            if bad:
                problems.append(
                    f"{where}: field 'areas', frame(s) {_frame_list(bad)}: must be null or a finite number >= 0"
                )
    problems += _rle_string_problems(pending, rle_valid)
    return problems


def _area_ok(a: Any) -> bool:
    return _is_finite_number(a) and a >= 0


def _rle_string_problems(
    pending: list[tuple[str, int, dict[str, Any]]],
    rle_valid: RleValid = compressed_rle_valid,
) -> list[str]:
    """Parse every pending compressed RLE string (in chunks, by pycocotools' C parser where exact, inside
    ``compressed_rle_valid``); one problem per annotation."""
    bad: dict[str, list[int]] = {}
    valid = rle_valid([p[2] for p in pending])
    for (where, t, _), ok in zip(pending, valid.tolist(), strict=True):
        if not ok:
            bad.setdefault(where, []).append(t)
    return [
        f"{where}: field 'segmentations', frame(s) {_frame_list(frames)}: compressed RLE counts cannot be "
        "decoded (malformed string, or runs that do not add up to height x width)"
        for where, frames in bad.items()
    ]
