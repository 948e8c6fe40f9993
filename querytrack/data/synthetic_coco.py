"""Synthetic still images in COCO format (the image counterpart of :mod:`querytrack.data.synthetic`).

Each image is a one-frame render of the synthetic video generator (same five categories, shapes, tones and
stripes), written as ``OUT/images/<id>.jpg`` with ``OUT/images.json`` in COCO instance format: compressed-RLE
``segmentation``, ``bbox`` as absolute xywh, ``area``, ``iscrowd`` 0, annotation ids unique in the file. Generation is
deterministic from ``(seed, index)``.

CLI::

    python -m querytrack.data.synthetic_coco --out /tmp/coco_syn --num-images 64
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from querytrack.core.files import cached_folder
from querytrack.core.rle import encode_compressed
from querytrack.data.synthetic import default_cache_dir
from querytrack.data.synthetic_scene import CATEGORIES, SyntheticConfig, render_video

ANN_FILE = "images.json"
IMAGE_DIR = "images"


def _bbox_xywh(mask: np.ndarray) -> list[float]:
    ys, xs = np.nonzero(mask)
    return [float(xs.min()), float(ys.min()), float(xs.max() + 1 - xs.min()), float(ys.max() + 1 - ys.min())]


def generate_coco_images(
    out_dir: str | os.PathLike[str], num_images: int, cfg: SyntheticConfig
) -> dict[str, Any]:
    """Write ``num_images`` synthetic stills and their COCO json into ``out_dir``; return the json document.

    Args:
        out_dir: output folder (created).
        num_images: how many images.
        cfg: the synthetic generator's configuration (size, objects per image, seed, JPEG quality).
    """
    out = Path(out_dir)
    (out / IMAGE_DIR).mkdir(parents=True, exist_ok=True)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index in range(num_images):
        rng = np.random.default_rng([cfg.seed, 4, index])  # 4: distinct from the video splits' streams
        frames, cats, masks, _ = render_video(rng, cfg, 1)
        image_id = index + 1
        file_name = f"{image_id:06d}.jpg"
        Image.fromarray(frames[0]).save(out / IMAGE_DIR / file_name, quality=cfg.jpeg_quality)
        images.append({"id": image_id, "file_name": file_name, "height": cfg.height, "width": cfg.width})
        for o, cat in enumerate(cats):
            m = masks[o][0]
            if m is None:
                continue
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": cat + 1,
                    "segmentation": encode_compressed(m),
                    "bbox": _bbox_xywh(m),
                    "area": float(m.sum()),
                    "iscrowd": 0,
                }
            )
    doc = {
        "info": {"description": "querytrack synthetic still images (COCO format)", "config": cfg.digest()},
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i + 1, "name": name, "supercategory": "shape"} for i, (name, _) in enumerate(CATEGORIES)
        ],
    }
    with open(out / ANN_FILE, "w") as f:
        json.dump(doc, f)
    return doc


def ensure_coco_images(root: str | os.PathLike[str] | None, num_images: int, cfg: SyntheticConfig) -> Path:
    """The folder of the synthetic COCO set for ``(num_images, cfg)`` under ``root``, generated on first use
    (into a temporary folder renamed into place, so an interrupted run never leaves half a set)."""
    base = Path(root) if root is not None else default_cache_dir()
    return cached_folder(
        base / f"synthetic-coco-{cfg.digest()}-{num_images}",
        ANN_FILE,
        lambda tmp: generate_coco_images(tmp, num_images, cfg),
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: write a synthetic COCO-format image set."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], prog="python -m querytrack.data.synthetic_coco"
    )
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--num-images", type=int, default=64)
    defaults = SyntheticConfig()
    for name in ("height", "width", "seed", "min_objects", "max_objects"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(defaults, name))
    args = p.parse_args(argv)
    cfg = dataclasses.replace(
        defaults, **{n: getattr(args, n) for n in ("height", "width", "seed", "min_objects", "max_objects")}
    )
    doc = generate_coco_images(args.out, args.num_images, cfg)
    print(f"{len(doc['images'])} images, {len(doc['annotations'])} instances: {args.out / ANN_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
