"""Loading YouTube-VIS ground-truth and results files (paths or already-loaded objects)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PathOrObj = str | os.PathLike[str] | dict[str, Any] | list[dict[str, Any]]


def load_json(obj: PathOrObj) -> Any:
    """Return ``obj`` loaded from JSON when it is a path, else ``obj`` itself (never copied or mutated)."""
    if isinstance(obj, str | os.PathLike):
        with Path(obj).open() as f:
            return json.load(f)
    return obj


def load_gt(gt: PathOrObj) -> dict[str, Any]:
    """Load a YouTube-VIS ground-truth json (``videos``, ``annotations``, ``categories``)."""
    data = load_json(gt)
    if not isinstance(data, dict) or "videos" not in data or "categories" not in data:
        raise ValueError("ground truth must be a dict with 'videos' and 'categories' (YouTube-VIS format)")
    return data


def load_results(results: PathOrObj) -> list[dict[str, Any]]:
    """Load a YouTube-VIS results json (a list of track entries)."""
    data = load_json(results)
    if not isinstance(data, list):
        raise ValueError("results must be a list of {video_id, category_id, score, segmentations} entries")
    return data


def video_num_frames(video: dict[str, Any]) -> int:
    """Number of annotated frames of a video entry: ``len(file_names)``, else ``length``."""
    if "file_names" in video:
        return len(video["file_names"])
    return int(video["length"])


def write_json_atomic(obj: Any, path: str | os.PathLike[str]) -> None:
    """Write JSON to ``path`` via a temporary file in the same folder and ``os.replace`` (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with tmp.open("w") as f:
            json.dump(obj, f)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
