"""A held-out part of train to validate on, made on first use, the same on every rank and every run.

The official YouTube-VIS / OVIS validation ground truth is withheld and the challenge servers stopped taking
submissions at the end of 2025, so a held-out part of train is where a user scores. Its size is a fraction of the
training videos (default 5 %, at least 1) capped at ``max_videos`` (default 300), or an exact ``count``:

* 5 % leaves 95 % of the videos to train on (YouTube-VIS 2021: 2985 train videos, 149 held out; 2019: 2238,
  112; OVIS: 607, 30), while 100-150 videos with their ~4k annotated frames are enough for a stable AP;
* the cap keeps one validation pass of a larger custom set near the cost of an official one (YouTube-VIS 2021
  valid has 421 videos, 2019 302, OVIS 140).

The videos are :func:`~querytrack.data.devsplit.choose_val_videos` of the sorted training video ids with the
given seed (the same rule as ``querytrack-devsplit``), so every rank of a DDP job computes the same set without
talking to the others. The first run writes the held-out ground truth (the training json restricted to those
videos) to ``$QUERYTRACK_CACHE/holdout/<key>.json``, where ``<key>`` hashes the training json's bytes, the seed
and the number of videos: a later run with the same data and settings reuses it (and its video ids) even if
the selection rule ever changed; an edited training json gets a new key. It goes to the cache rather than next
to the data because dataset folders are often read-only or shared, and it must not be mistaken for an official
file. Files are written atomically under unique temporary names, so ranks racing to write the same file all
end with one complete copy.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from querytrack.core.errors import UserError
from querytrack.core.files import sha256_file, write_json_atomic
from querytrack.data.devsplit import choose_val_videos, split_dataset, video_ids_checksum
from querytrack.data.synthetic import default_cache_dir

#: The held-out defaults (``data.holdout`` in the configs).
DEFAULT_FRACTION = 0.05
DEFAULT_MAX_VIDEOS = 300
#: File written beside the run's outputs naming the held-out videos.
RECORD_NAME = "holdout_videos.json"


@dataclass(frozen=True)
class HoldoutConfig:
    """How many training videos to hold out.

    Attributes:
        fraction: share of the training videos (rounded, at least 1); ignored when ``count`` is set.
        max_videos: cap on the number from ``fraction`` (``None``: no cap).
        count: exact number of videos (overrides ``fraction`` / ``max_videos``), e.g. 2 for a smoke run.
        seed: seed of the selection.
    """

    fraction: float = DEFAULT_FRACTION
    max_videos: int | None = DEFAULT_MAX_VIDEOS
    count: int | None = None
    seed: int = 0

    def size(self, num_videos: int) -> int:
        """Videos to hold out of ``num_videos``.

        Raises:
            ValueError: a bad setting, or fewer than 2 videos (nothing would be left to train on).
        """
        if self.count is not None:
            n = int(self.count)
        else:
            if not 0 < float(self.fraction) < 1:
                raise ValueError(f"data.holdout.fraction must be in (0, 1), got {self.fraction}")
            n = max(1, round(num_videos * float(self.fraction)))
            if self.max_videos is not None:
                n = min(n, int(self.max_videos))
        if not 0 < n < num_videos:
            raise ValueError(
                f"cannot hold out {n} of {num_videos} training videos (data.holdout: at least 1, and at least "
                "one video left to train on)"
            )
        return n


@dataclass(frozen=True)
class Holdout:
    """The held-out videos of one training json.

    Attributes:
        video_ids: the held-out video ids, sorted.
        checksum: sha256 of ``json.dumps(video_ids)`` (as ``querytrack-devsplit`` prints).
        ground_truth: the cached json with the held-out videos' annotations (what validation scores against).
        reused: whether the cache already held it.
    """

    video_ids: list[int]
    checksum: str
    ground_truth: Path
    reused: bool


def _cached_ids(path: Path, train_ids: set[int]) -> list[int] | None:
    """The video ids of a cached held-out json, or ``None`` when it is missing or not a usable one."""
    try:
        doc = json.loads(path.read_text())
        ids = sorted(int(v["id"]) for v in doc["videos"])
        info = doc["info"]["holdout"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not ids or not set(ids) < train_ids or info.get("val_video_ids_sha256") != video_ids_checksum(ids):
        return None
    return ids


def make_holdout(
    train_ann: str | os.PathLike[str],
    document: dict[str, Any],
    config: HoldoutConfig,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Holdout:
    """Choose (or reuse) the held-out videos of a training json and make sure their ground truth is cached.

    Args:
        train_ann: the training json (its bytes key the cache).
        document: its parsed content (validated YouTube-VIS).
        config: the held-out size and seed.
        cache_dir: the cache root (default ``$QUERYTRACK_CACHE`` or ``~/.cache/querytrack``); files go to
            ``<cache_dir>/holdout/``.

    Raises:
        UserError: too few videos for the size asked, or the cache cannot be written.
    """
    train_ids = [int(v["id"]) for v in document["videos"]]
    try:
        n = config.size(len(train_ids))
    except ValueError as e:
        raise UserError(train_ann, str(e)) from None
    source_sha = sha256_file(train_ann)
    key = hashlib.sha256(json.dumps([source_sha, int(config.seed), n]).encode()).hexdigest()[:16]
    path = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "holdout" / f"{key}.json"
    ids = _cached_ids(path, set(train_ids))
    if ids is not None:
        return Holdout(ids, video_ids_checksum(ids), path, reused=True)
    ids = choose_val_videos(train_ids, int(config.seed), None, n)
    checksum = video_ids_checksum(ids)
    _, held = split_dataset(document, ids)
    info = dict(held["info"]) if isinstance(held.get("info"), dict) else {}
    info["holdout"] = {
        "source": str(train_ann),
        "source_sha256": source_sha,
        "seed": int(config.seed),
        "num_val_videos": n,
        "val_video_ids_sha256": checksum,
    }
    held["info"] = info
    write_json_atomic(held, path)
    return Holdout(ids, checksum, path, reused=False)


def write_record(
    holdout: Holdout, train_ann: str | os.PathLike[str], out_dir: str | os.PathLike[str]
) -> Path:
    """Write ``<out_dir>/holdout_videos.json`` (the held-out ids, their checksum, the source and ground truth).

    Idempotent: every rank may call it; the content depends only on the held-out set.
    """
    path = Path(out_dir) / RECORD_NAME
    record = {
        "source": str(train_ann),
        "ground_truth": str(holdout.ground_truth),
        "num_videos": len(holdout.video_ids),
        "video_ids_sha256": holdout.checksum,
        "video_ids": holdout.video_ids,
    }
    write_json_atomic(record, path)
    return path
