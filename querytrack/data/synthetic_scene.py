"""The synthetic scene model: categories, the generation config, and one video rendered from its own seed.

Design (what a VIS model must learn from it):

* five categories with distinct shapes *and* hue distributions (disc, square, triangle, cross, ring);
* each video draws one or two categories and several instances of each, so objects of the same category move
  together and identity must come from appearance (each instance has its own tone and stripe texture) and
  motion, not from the class;
* objects translate, change scale, rotate slowly, occlude each other (a fixed depth order per video; masks
  are the *visible* parts), and enter or leave the frame (then their frames are ``None``);
* every video is generated from its own ``numpy`` generator seeded by ``(seed, split, index)``, so a set is
  a pure function of its config.

Writing sets of such videos in the YouTube-VIS layout is :mod:`querytrack.data.synthetic`.
"""

from __future__ import annotations

import colorsys
import dataclasses
import hashlib
import json
from dataclasses import dataclass

import numpy as np
from PIL import Image

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
