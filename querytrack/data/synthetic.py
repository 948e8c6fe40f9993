"""A synthetic YouTube-VIS set: textured videos of moving, scaling, occluding shapes.

It makes the whole project runnable with no download: ``make run`` trains and evaluates on it, and the tests
generate tiny versions of it. The output is a real YouTube-VIS layout::

    OUT/
      train.json  valid.json          # YouTube-VIS format; valid.json *has* ground truth
      train/JPEGImages/<video>/00000.jpg, 00005.jpg, ...
      valid/JPEGImages/<video>/...
      meta.json                       # generation config + statistics (written last)

Design (what a VIS model must learn from it):

* five categories with distinct shapes *and* hue distributions (disc, square, triangle, cross, ring);
* each video draws one or two categories and several instances of each, so objects of the same category move
  together and identity must come from appearance (each instance has its own tone and stripe texture) and
  motion, not from the class;
* objects translate, change scale, rotate slowly, occlude each other (a fixed depth order per video; masks
  are the *visible* parts), and enter or leave the frame (then their frames are ``None``);
* every video is generated from its own ``numpy`` generator seeded by ``(seed, split, index)``, so a set is
  a pure function of its config.

CLI: ``python -m querytrack.data.synthetic --out DIR`` (see ``--help``).
"""

from __future__ import annotations

import argparse
import colorsys
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from querytrack.cli import cli_main, output_folder
from querytrack.data.rle import encode_uncompressed

#: (name, hue centre in [0, 1)) of each category; ids are 1-based in this order.
CATEGORIES: tuple[tuple[str, float], ...] = (
    ("disc", 0.00),
    ("square", 0.33),
    ("triangle", 0.60),
    ("cross", 0.14),
    ("ring", 0.83),
)


@dataclass(frozen=True)
class SyntheticConfig:
    """Everything that determines a synthetic set (its hash names the cache folder).

    Attributes:
        num_train_videos: videos in ``train.json``.
        num_valid_videos: videos in ``valid.json`` (with ground truth).
        min_frames / max_frames: video length range (annotated frames).
        height / width: frame size in pixels.
        min_objects / max_objects: instances per video.
        max_categories_per_video: each video draws 1..this many categories; instances share them.
        min_visible_area: a frame where fewer pixels of an object are visible annotates it as absent.
        jpeg_quality: PIL JPEG quality of the frames.
        seed: base seed.
    """

    num_train_videos: int = 64
    num_valid_videos: int = 16
    min_frames: int = 12
    max_frames: int = 24
    height: int = 128
    width: int = 192
    min_objects: int = 2
    max_objects: int = 5
    max_categories_per_video: int = 2
    min_visible_area: int = 8
    jpeg_quality: int = 92
    seed: int = 0

    def digest(self) -> str:
        """Short stable hash of the config (names the cache folder)."""
        payload = json.dumps(dataclasses.asdict(self), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:12]


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


@dataclass
class _Object:
    category: int  # 0-based index into CATEGORIES
    colour: np.ndarray  # [3] float RGB 0..255
    stripe_freq: float
    stripe_angle: float
    stripe_amp: float
    centre: np.ndarray  # [2] (x, y) at frame 0
    velocity: np.ndarray  # [2] px / frame
    radius: float
    aspect: float
    scale_rate: float
    angle: float
    spin: float


def _shape_mask(cat: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inside-test of category ``cat`` on normalised object coordinates ``u, v`` (unit radius)."""
    name = CATEGORIES[cat][0]
    if name == "disc":
        return u * u + v * v <= 1.0
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.85
    if name == "triangle":
        return (v <= 0.75) & (v >= 2.0 * np.abs(u) - 1.0)
    if name == "cross":
        return ((np.abs(u) <= 0.33) & (np.abs(v) <= 1.0)) | ((np.abs(v) <= 0.33) & (np.abs(u) <= 1.0))
    if name == "ring":
        r2 = u * u + v * v
        return (r2 <= 1.0) & (r2 >= 0.3)
    raise ValueError(f"unknown category {name!r}")


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Low-frequency colour noise + a faint texture + pixel noise; ``[H, W, 3]`` float."""
    coarse = rng.uniform(40, 215, size=(rng.integers(3, 6), rng.integers(4, 8), 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, np.pi)
    freq = rng.uniform(0.15, 0.6)
    texture = 12.0 * np.sin(freq * (xx * np.cos(theta) + yy * np.sin(theta)))
    return base + texture[..., None]


def _sample_object(rng: np.random.Generator, cat: int, cfg: SyntheticConfig, length: int) -> _Object:
    h, w = cfg.height, cfg.width
    short = min(h, w)
    hue = (CATEGORIES[cat][1] + rng.normal(0, 0.035)) % 1.0
    sat = rng.uniform(0.45, 1.0)
    val = rng.uniform(0.45, 1.0)
    colour = np.array(colorsys.hsv_to_rgb(hue, sat, val), dtype=np.float32) * 255.0
    radius = rng.uniform(0.08, 0.2) * short
    speed = rng.uniform(0.5, 0.045 * short)
    direction = rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([np.cos(direction), np.sin(direction)])
    if rng.random() < 0.3:
        # Start outside the frame and move in (enters); its motion may carry it out again.
        side = rng.integers(4)
        inside = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h])
        start = {
            0: np.array([-radius * 1.2, inside[1]]),
            1: np.array([w + radius * 1.2, inside[1]]),
            2: np.array([inside[0], -radius * 1.2]),
            3: np.array([inside[0], h + radius * 1.2]),
        }[int(side)]
        steps = rng.uniform(0.2, 0.6) * length
        velocity = (inside - start) / max(steps, 1.0)
        centre = start
    else:
        centre = np.array([rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.9) * h])
    return _Object(
        category=cat,
        colour=colour,
        stripe_freq=rng.uniform(0.8, 3.0),
        stripe_angle=rng.uniform(0, np.pi),
        stripe_amp=rng.uniform(0.1, 0.35),
        centre=centre,
        velocity=velocity,
        radius=radius,
        aspect=rng.uniform(0.75, 1.33),
        scale_rate=float(np.exp(rng.normal(0.0, 0.025))),
        angle=rng.uniform(0, 2 * np.pi),
        spin=rng.normal(0.0, 0.05),
    )


def render_video(
    rng: np.random.Generator, cfg: SyntheticConfig, length: int
) -> tuple[list[np.ndarray], list[int], list[list[np.ndarray | None]], list[list[int]]]:
    """Render one video.

    Returns:
        frames: ``length`` uint8 arrays ``[H, W, 3]``.
        categories: 0-based category per object.
        masks: ``masks[o][t]`` visible bool mask ``[H, W]`` or ``None`` when absent.
        full_areas: ``full_areas[o][t]`` in-frame area before occlusion (for statistics).
    """
    h, w = cfg.height, cfg.width
    n_cats = int(rng.integers(1, cfg.max_categories_per_video + 1))
    cats = rng.choice(len(CATEGORIES), size=n_cats, replace=False)
    n_obj = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    objects = [_sample_object(rng, int(cats[i % n_cats]), cfg, length) for i in range(n_obj)]
    depth = rng.permutation(n_obj)  # render order: back to front
    background = _background(rng, h, w)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    frames: list[np.ndarray] = []
    masks: list[list[np.ndarray | None]] = [[] for _ in objects]
    full_areas: list[list[int]] = [[] for _ in objects]
    for t in range(length):
        frame = background * rng.uniform(0.92, 1.08) + rng.normal(0, 4.0, size=(h, w, 1))
        shapes: list[np.ndarray] = [np.zeros((h, w), bool)] * n_obj
        for o in depth:
            ob = objects[o]
            cx, cy = ob.centre + ob.velocity * t
            r = ob.radius * ob.scale_rate**t
            ang = ob.angle + ob.spin * t
            dx, dy = xx - cx, yy - cy
            u = (dx * np.cos(ang) + dy * np.sin(ang)) / (r * ob.aspect)
            v = (-dx * np.sin(ang) + dy * np.cos(ang)) / (r / ob.aspect)
            inside = _shape_mask(ob.category, u, v)
            shapes[o] = inside
            if inside.any():
                stripes = 1.0 + ob.stripe_amp * np.sin(
                    ob.stripe_freq * np.pi * (u * np.cos(ob.stripe_angle) + v * np.sin(ob.stripe_angle))
                )
                shade = 1.0 - 0.25 * np.clip(u * u + v * v, 0, 1)
                frame[inside] = (ob.colour[None, :] * (stripes * shade)[inside][:, None]).astype(np.float32)
        covered = np.zeros((h, w), bool)
        for o in depth[::-1]:  # front to back: visible = shape minus what is in front
            visible = shapes[o] & ~covered
            covered |= shapes[o]
            full_areas[o].append(int(shapes[o].sum()))
            masks[o].append(visible if int(visible.sum()) >= cfg.min_visible_area else None)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames, [ob.category for ob in objects], masks, full_areas


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
    target = base / f"synthetic-{cfg.digest()}"
    if (target / "meta.json").is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".synthetic-", dir=base))
    try:
        generate(tmp, cfg)
        try:
            os.replace(tmp, target)
        except OSError:
            if not (target / "meta.json").is_file():  # lost a race with a broken target: replace it
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


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
