"""Tracks → YouTube-VIS results entries, and atomic results files.

A YouTube-VIS result is one entry per track: ``{"video_id", "category_id", "score", "segmentations"}`` with one
compressed RLE (``counts`` str) or ``None`` per annotated frame of the video (youtubevos/cocoapi
``PythonAPI/pycocotools/ytvos.py`` ``loadRes`` reads exactly these keys).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torch import Tensor

from querytrack.core.files import write_json_atomic
from querytrack.core.ytvis_format import MAX_TRACKS_PER_VIDEO
from querytrack.inference.stream import FrameModel, FrameResult, track_video
from querytrack.inference.track_stats import ClassRule, ScoreMode, TrackStats
from querytrack.inference.tracker import Tracker


class VideoTrackBuilder:
    """Collects per-frame tracked results of one video (RLE strings only) and emits its result entries."""

    def __init__(self) -> None:
        self.masks: dict[int, dict[int, dict[str, Any]]] = {}
        self.stats: dict[int, TrackStats] = {}
        self.num_frames_seen = 0

    def add(self, result: FrameResult) -> None:
        """Record one frame's tracked detections."""
        self.num_frames_seen = max(self.num_frames_seen, result.frame_index + 1)
        for tid, label, score, rle in zip(
            result.track_ids, result.labels, result.scores, result.rles, strict=True
        ):
            self.masks.setdefault(tid, {})[result.frame_index] = rle
            self.stats.setdefault(tid, TrackStats()).update(label, score)

    def entries(
        self,
        video_id: int,
        label_to_category: Sequence[int] | Mapping[int, int] | None = None,
        num_frames: int | None = None,
        mode: ScoreMode = "aggregate",
        class_rule: ClassRule = "majority",
        max_tracks: int = MAX_TRACKS_PER_VIDEO,
    ) -> list[dict[str, Any]]:
        """Result entries of the video, highest score first, at most ``max_tracks``.

        Args:
            video_id: YouTube-VIS video id.
            label_to_category: contiguous label → dataset category id (default: label + 1).
            num_frames: frames of the video (default: frames seen); each entry has this many segmentations.
            mode: ``"aggregate"`` (mean score, majority / score-weighted class) or ``"causal"`` (birth values).
            class_rule: class rule of the aggregate mode.
            max_tracks: cap per video (≤ 100 for the challenge); the highest-scoring tracks are kept.

        Returns:
            Entries ``{"video_id", "category_id", "score", "segmentations"}``.
        """
        if not 0 < max_tracks <= MAX_TRACKS_PER_VIDEO:
            raise ValueError(f"max_tracks must be in 1..{MAX_TRACKS_PER_VIDEO}")
        n = self.num_frames_seen if num_frames is None else num_frames
        out = []
        for tid in sorted(self.masks):
            st = self.stats[tid]
            label = st.label(mode, class_rule)
            cat = label + 1 if label_to_category is None else label_to_category[label]
            segs = [self.masks[tid].get(f) for f in range(n)]
            out.append(
                {
                    "video_id": video_id,
                    "category_id": int(cat),
                    "score": st.score(mode),
                    "segmentations": segs,
                }
            )
        return select_top_tracks(out, max_tracks)


def select_top_tracks(
    entries: list[dict[str, Any]], max_tracks: int = MAX_TRACKS_PER_VIDEO
) -> list[dict[str, Any]]:
    """Keep the ``max_tracks`` highest-scoring entries of each video (stable for equal scores)."""
    by_video: dict[Any, list[dict[str, Any]]] = {}
    for e in entries:
        by_video.setdefault(e["video_id"], []).append(e)
    out = []
    for vid_entries in by_video.values():
        out += sorted(vid_entries, key=lambda e: -e["score"])[:max_tracks]
    return out


def write_results(entries: list[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write a results json atomically (temporary file in the same folder, then ``os.replace``)."""
    write_json_atomic(entries, path)


def video_results(
    model: FrameModel,
    frames: Iterable[Tensor],
    video_id: int,
    num_frames: int | None = None,
    tracker: Tracker | None = None,
    label_to_category: Sequence[int] | Mapping[int, int] | None = None,
    mode: ScoreMode = "aggregate",
    class_rule: ClassRule = "majority",
    max_tracks: int = MAX_TRACKS_PER_VIDEO,
    **stream_kwargs: Any,
) -> list[dict[str, Any]]:
    """Stream one video through ``track_video`` and return its YouTube-VIS result entries.

    Args:
        model: a ``FrameModel``.
        frames: the video's annotated frames in order (``uint8`` ``Tensor[3, H, W]``), consumed lazily.
        video_id: YouTube-VIS video id.
        num_frames: number of annotated frames (default: frames seen).
        tracker: tracker to use (default ``Tracker()``).
        label_to_category: contiguous label → category id (default label + 1).
        mode: ``"aggregate"`` or ``"causal"`` track class / score.
        class_rule: class rule of the aggregate mode.
        max_tracks: cap per video.
        **stream_kwargs: forwarded to ``track_video`` (``resize``, ``device``, ``top_k``, ``mask_threshold``).

    Returns:
        The video's result entries.
    """
    builder = VideoTrackBuilder()
    for result in track_video(model, frames, tracker, **stream_kwargs):
        builder.add(result)
    return builder.entries(video_id, label_to_category, num_frames, mode, class_rule, max_tracks)
