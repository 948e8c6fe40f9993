"""Validation outputs of all ranks, merged so that every video counts once.

Under DDP, Lightning gives each rank its share of the validation videos through a ``DistributedSampler``, which
pads the list by repeating its first videos until every rank has as many (3 videos on 2 ranks: rank 0 tracks
videos 0 and 2, rank 1 tracks 1 and 0). A video tracked twice would enter the results json twice, and its
duplicate tracks would count as false positives. :func:`merge_rank_outputs` keeps each video's outputs from the
first rank that tracked it, whatever the sampler did.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch.distributed as dist

T = TypeVar("T")


@dataclass
class RankOutput:
    """What one rank produced in one validation epoch.

    Attributes:
        videos: the video ids this rank tracked, in order (a video without any track is still listed).
        results: results-json entries (``{"video_id", "category_id", "score", "segmentations"}``).
        frame_items: per-frame candidates ``(video_id, frame_index, category_id, score, rle)`` (frame AP).
        gt: the ground-truth annotation file, if this rank tracked any video.
    """

    videos: list[int] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    frame_items: list[tuple[int, int, int, float, dict[str, Any]]] = field(default_factory=list)
    gt: str | None = None


def merge_rank_outputs(parts: Sequence[RankOutput]) -> RankOutput:
    """Concatenate the ranks' outputs in rank order, each video's from the first rank that tracked it."""
    owner: dict[int, int] = {}
    for rank, part in enumerate(parts):
        for video in part.videos:
            owner.setdefault(int(video), rank)
    return RankOutput(
        videos=list(owner),
        results=[
            r for rank, p in enumerate(parts) for r in p.results if owner.get(int(r["video_id"])) == rank
        ],
        frame_items=[
            i for rank, p in enumerate(parts) for i in p.frame_items if owner.get(int(i[0])) == rank
        ],
        gt=next((p.gt for p in parts if p.gt), None),
    )


def gather_rank_outputs(local: RankOutput) -> RankOutput:
    """All ranks' outputs merged (:func:`merge_rank_outputs`); ``local`` itself without a process group.

    A collective under DDP: every rank must call it.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return merge_rank_outputs([local])
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, local)
    return merge_rank_outputs(parts)


class RankZeroError(RuntimeError):
    """Raised on the other ranks when rank 0 failed in :func:`computed_on_rank_zero`."""


def computed_on_rank_zero(compute: Callable[[], T], default: T) -> T:
    """``compute()`` on rank 0, its value broadcast to every rank (``compute()`` itself without a process group).

    A collective under DDP: every rank must call it. If ``compute`` raises on rank 0, rank 0 re-raises it and
    the other ranks raise :class:`RankZeroError` with its message, instead of waiting in the broadcast.
    ``default`` is what the other ranks hold before the broadcast.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return compute()
    value, failure = default, None
    if dist.get_rank() == 0:
        try:
            value = compute()
        except Exception as e:
            failure = e
    box: list[Any] = [(value, None if failure is None else f"{type(failure).__name__}: {failure}")]
    dist.broadcast_object_list(box, src=0)
    if failure is not None:
        raise failure
    value, error = box[0]
    if error is not None:
        raise RankZeroError(f"rank 0 failed: {error}")
    return value
