"""A synthetic YouTube-VIS set: textured videos of moving, scaling, occluding shapes.

It makes the whole project runnable with no download: ``make run`` trains and evaluates on it, and the tests
generate tiny versions of it. The output is a real YouTube-VIS layout::

    OUT/
      train.json  valid.json          # YouTube-VIS format; valid.json *has* ground truth
      train/JPEGImages/<video>/00000.jpg, 00005.jpg, ...
      valid/JPEGImages/<video>/...
      meta.json                       # generation config + statistics (written last)

The scene model (categories, config, one rendered video) is :mod:`querytrack.data.synthetic_scene`; this
module writes sets of videos, caches them, and reports their statistics.

CLI: ``python -m querytrack.data.synthetic --out DIR`` (see ``--help``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from querytrack.core.cli import cli_main
from querytrack.core.files import cached_folder, output_folder
from querytrack.core.rle import encode_uncompressed
from querytrack.data.synthetic_scene import CATEGORIES, SyntheticConfig, render_video


@dataclass
class SplitStats:
    """What one split holds; printed by the CLI and stored in ``meta.json``."""

    videos: int = 0
    frames: int = 0
    instances: int = 0
    masks: int = 0
    empty_frames: int = 0
    occluded_masks: int = 0
    entering: int = 0
    leaving: int = 0
    per_category: dict[str, int] = field(default_factory=dict)


def _mask_bbox(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def generate_split(out: Path, split: str, num_videos: int, cfg: SyntheticConfig) -> SplitStats:
    """Write ``out/<split>/JPEGImages/...`` and ``out/<split>.json``; return its statistics."""
    stats = SplitStats(per_category={name: 0 for name, _ in CATEGORIES})
    videos: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    split_key = {"train": 1, "valid": 2}.get(split, 3)
    for index in range(num_videos):
        rng = np.random.default_rng([cfg.seed, split_key, index])
        length = int(rng.integers(cfg.min_frames, cfg.max_frames + 1))
        frames, cats, masks, full_areas = render_video(rng, cfg, length)
        video_id = index + 1
        name = f"{split}_{video_id:04d}"
        frame_dir = out / split / "JPEGImages" / name
        frame_dir.mkdir(parents=True, exist_ok=True)
        file_names = []
        for t, frame in enumerate(frames):
            file_name = f"{name}/{5 * t:05d}.jpg"
            Image.fromarray(frame).save(out / split / "JPEGImages" / file_name, quality=cfg.jpeg_quality)
            file_names.append(file_name)
        videos.append(
            {
                "id": video_id,
                "width": cfg.width,
                "height": cfg.height,
                "length": length,
                "file_names": file_names,
                "date_captured": "",
                "license": 1,
            }
        )
        present_any = [False] * length
        for o, cat in enumerate(cats):
            if all(m is None for m in masks[o]):
                continue
            segs: list[dict[str, Any] | None] = []
            boxes: list[list[float] | None] = []
            areas: list[float | None] = []
            for t, m in enumerate(masks[o]):
                if m is None:
                    segs.append(None)
                    boxes.append(None)
                    areas.append(None)
                    continue
                present_any[t] = True
                segs.append(encode_uncompressed(m))
                boxes.append(_mask_bbox(m))
                area = int(m.sum())
                areas.append(float(area))
                stats.masks += 1
                stats.occluded_masks += int(area < 0.95 * full_areas[o][t])
            visible = [t for t, m in enumerate(masks[o]) if m is not None]
            stats.entering += int(visible[0] > 0)
            stats.leaving += int(visible[-1] < length - 1)
            stats.instances += 1
            stats.per_category[CATEGORIES[cat][0]] += 1
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "video_id": video_id,
                    "category_id": cat + 1,
                    "segmentations": segs,
                    "bboxes": boxes,
                    "areas": areas,
                    "iscrowd": 0,
                    "height": cfg.height,
                    "width": cfg.width,
                    "length": 1,
                }
            )
        stats.videos += 1
        stats.frames += length
        stats.empty_frames += sum(not p for p in present_any)
    doc = {
        "info": {
            "description": f"querytrack synthetic set ({split})",
            "version": "1.0",
            "config": cfg.digest(),
        },
        "licenses": [{"id": 1, "name": "CC0", "url": ""}],
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "shape"} for i, (name, _) in enumerate(CATEGORIES)
        ],
        "videos": videos,
        "annotations": annotations,
    }
    with open(out / f"{split}.json", "w") as f:
        json.dump(doc, f)
    return stats


def generate(out_dir: str | os.PathLike[str], cfg: SyntheticConfig | None = None) -> dict[str, SplitStats]:
    """Generate the whole set into ``out_dir`` (created; existing files are overwritten)."""
    cfg = cfg or SyntheticConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stats = {
        "train": generate_split(out, "train", cfg.num_train_videos, cfg),
        "valid": generate_split(out, "valid", cfg.num_valid_videos, cfg),
    }
    meta = {
        "config": dataclasses.asdict(cfg),
        "digest": cfg.digest(),
        "stats": {k: dataclasses.asdict(v) for k, v in stats.items()},
    }
    with open(out / "meta.json", "w") as f:
        json.dump(meta, f, indent=2)
    return stats


def default_cache_dir() -> Path:
    """``$QUERYTRACK_CACHE`` or ``~/.cache/querytrack``."""
    return Path(os.environ.get("QUERYTRACK_CACHE", Path.home() / ".cache" / "querytrack"))


def ensure_synthetic(root: str | os.PathLike[str] | None = None, cfg: SyntheticConfig | None = None) -> Path:
    """Return the folder of the synthetic set for ``cfg``, generating it on first use.

    The folder is ``root/synthetic-<digest>`` (``root`` defaults to :func:`default_cache_dir`). Generation goes
    to a temporary sibling folder that is renamed into place when complete, so an interrupted generation never
    leaves a half-written set behind, and two processes racing both end with a complete set.
    """
    cfg = cfg or SyntheticConfig()
    base = Path(root) if root is not None else default_cache_dir()
    return cached_folder(base / f"synthetic-{cfg.digest()}", "meta.json", lambda tmp: generate(tmp, cfg))


def format_stats(stats: dict[str, SplitStats]) -> str:
    """A small text table of the statistics of each split."""
    cols = ["videos", "frames", "instances", "masks", "empty_frames", "occluded_masks", "entering", "leaving"]
    lines = ["split  " + " ".join(f"{c:>14}" for c in cols)]
    for split, st in stats.items():
        lines.append(f"{split:<6} " + " ".join(f"{getattr(st, c):>14}" for c in cols))
    lines.append("instances per category:")
    for split, st in stats.items():
        lines.append(f"  {split:<6} " + ", ".join(f"{k}={v}" for k, v in st.per_category.items()))
    return "\n".join(lines)


@cli_main("querytrack-synthetic")
def main(argv: list[str] | None = None) -> int:
    """CLI entry point: generate a synthetic YouTube-VIS set and print what it made."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0]
        + " --out must be absent or empty unless --overwrite; the set is built in a temporary folder and renamed "
        "when complete.",
        prog="python -m querytrack.data.synthetic",
    )
    p.add_argument("--out", type=Path, default=None, help="output folder (default: the cache, see --help)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --out once the new set is complete"
    )
    defaults = SyntheticConfig()
    for f in dataclasses.fields(SyntheticConfig):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=int, default=getattr(defaults, f.name))
    args = p.parse_args(argv)
    for low, high in (("min_frames", "max_frames"), ("min_objects", "max_objects")):
        if getattr(args, low) > getattr(args, high):
            p.error(
                f"--{high.replace('_', '-')} {getattr(args, high)} is below --{low.replace('_', '-')} "
                f"{getattr(args, low)}; give both (defaults: {getattr(defaults, low)} / {getattr(defaults, high)})"
            )
    cfg = SyntheticConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SyntheticConfig)})
    start = time.perf_counter()
    if args.out is None:
        out = ensure_synthetic(cfg=cfg)
        with open(out / "meta.json") as fh:
            meta = json.load(fh)
        stats = {k: SplitStats(**v) for k, v in meta["stats"].items()}
    else:
        out = args.out
        with output_folder(out, args.overwrite) as work:
            stats = generate(work, cfg)
    elapsed = time.perf_counter() - start
    total_frames = sum(s.frames for s in stats.values())
    print(
        f"synthetic YouTube-VIS set in {out} ({cfg.height}x{cfg.width}, seed {cfg.seed}, digest {cfg.digest()})"
    )
    print(format_stats(stats))
    cats = Counter[str]()
    for st in stats.values():
        cats.update(st.per_category)
    print(f"{total_frames} frames, {sum(cats.values())} instances, {elapsed:.1f}s")
    print(f"annotations: {out / 'train.json'}, {out / 'valid.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
