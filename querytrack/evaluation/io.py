"""Loading YouTube-VIS ground-truth and results files (paths or already-loaded objects)."""

from __future__ import annotations

import os
from typing import Any

from querytrack.core.errors import UserError
from querytrack.core.files import read_json

PathOrObj = str | os.PathLike[str] | dict[str, Any] | list[dict[str, Any]]


def _name(obj: PathOrObj) -> str | None:
    return str(obj) if isinstance(obj, str | os.PathLike) else None


def load_json(obj: PathOrObj, what: str = "file") -> Any:
    """Return ``obj`` loaded from JSON when it is a path, else ``obj`` itself (never copied or mutated).

    Raises:
        UserError: the path cannot be read as JSON (see ``querytrack.core.files.read_json``).
    """
    if isinstance(obj, str | os.PathLike):
        return read_json(obj, what)
    return obj


def load_gt(gt: PathOrObj) -> dict[str, Any]:
    """Load a YouTube-VIS ground-truth json (``videos``, ``annotations``, ``categories``).

    Raises:
        UserError: unreadable, or not an object with ``videos`` and ``categories``.
    """
    data = load_json(gt, "ground-truth file")
    if not isinstance(data, dict) or "videos" not in data or "categories" not in data:
        got = type(data).__name__ if not isinstance(data, dict) else "an object without them"
        raise UserError(
            _name(gt),
            f"ground truth must be a JSON object with 'videos' and 'categories' (YouTube-VIS format), got {got}",
        )
    return data


def load_results(results: PathOrObj) -> list[dict[str, Any]]:
    """Load a YouTube-VIS results json (a list of track entries).

    Raises:
        UserError: unreadable, or not a list.
    """
    data = load_json(results, "results file")
    if not isinstance(data, list):
        raise UserError(
            _name(results),
            "results must be a JSON list of {video_id, category_id, score, segmentations} entries, "
            f"got {'an object' if isinstance(data, dict) else type(data).__name__}",
        )
    return data


def video_num_frames(video: dict[str, Any]) -> int:
    """Number of annotated frames of a video entry: ``len(file_names)``, else ``length``."""
    if "file_names" in video:
        return len(video["file_names"])
    return int(video["length"])
