"""Data pipeline throughput: training pair samples/s per worker vs raw JPEG decode of the same frames.

Both are measured in this process, interleaved in rounds (so machine noise hits both alike), on:

* the default synthetic set (128 x 192 frames) with the synthetic augmentation;
* YouTube-VIS-sized frames (720 x 1280, generated) with the paper augmentation, with and without crop.

"raw decode" = PIL decoding both JPEG frames of each pair (the floor any loader pays); "pairs" = the whole
``PairDataset.__getitem__`` (decode, RLE decode of the masks, shared augmentation, degenerate removal).
Goal: ratio (pairs/s ÷ raw-decode pairs/s) ≥ 0.8.

"image only" is the most any pipeline with this augmentation can reach: the pipeline's own decode of both frames
and the same v2 augmentation (one shared draw, seeded as the dataset seeds it) applied to the two images alone,
with no boxes, masks or targets (``PairDataset.draw`` / ``augment``, the dataset's own steps). Its ratio bounds the "pairs" ratio from above.

Run: ``python benchmarks/data.py`` (or ``make bench``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from summary import add_summary_argument, write_summary  # benchmarks/summary.py
from torchvision import tv_tensors

from querytrack.data.datasets import PairDataset, read_frame
from querytrack.data.synthetic import generate
from querytrack.data.synthetic_scene import SyntheticConfig
from querytrack.data.transforms import build_train_transform
from querytrack.data.ytvis import YTVISDataset


def _raw_decode(ds: PairDataset, index: int) -> None:
    video, key, ref, _ = ds.draw(index)
    for t in (key, ref):
        with Image.open(ds.ytvis.frame_path(video, t)) as im:
            np.asarray(im.convert("RGB"))


def _pairs(ds: PairDataset, index: int) -> None:
    ds[index]


def _image_only(ds: PairDataset, index: int) -> None:
    video, key, ref, rng = ds.draw(index)
    key_in, ref_in = ({"image": tv_tensors.Image(read_frame(ds.ytvis, video, t))} for t in (key, ref))
    ds.augment(key_in, ref_in, rng)


def measure(ds: PairDataset, n: int, rounds: int = 3) -> dict[str, float]:
    """Pairs/s of raw decode (``raw``), the pipeline (``pairs``) and its image-only floor (``image``), interleaving
    ``rounds`` rounds of ``n`` samples each."""
    fns = {"raw": _raw_decode, "image": _image_only, "pairs": _pairs}
    totals = dict.fromkeys(fns, 0.0)
    idx = [i % len(ds) for i in range(n)]
    _pairs(ds, 0)  # warm-up
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for i in idx:
                fn(ds, i)
            totals[name] += time.perf_counter() - start
    return {name: rounds * n / t for name, t in totals.items()}


def run(quick: bool = False) -> list[dict[str, Any]]:
    torch.set_num_threads(1)  # one loader worker = one thread
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        syn = Path(tmp) / "syn"
        generate(syn, SyntheticConfig(num_train_videos=8 if quick else 16, num_valid_videos=1))
        big = Path(tmp) / "big"
        generate(
            big,
            SyntheticConfig(
                num_train_videos=2 if quick else 4,
                num_valid_videos=1,
                min_frames=6,
                max_frames=8,
                height=720,
                width=1280,
            ),
        )
        syn_aug = build_train_transform(
            min_sizes=(96, 128, 160),
            max_size=256,
            crop_resize_sizes=(128, 144, 160),
            crop_min=96,
            crop_max=160,
        )
        cases = [
            ("synthetic 128x192, synthetic aug", syn, syn_aug),
            ("720x1280, paper aug (crop)", big, build_train_transform()),
            ("720x1280, paper aug (no crop)", big, build_train_transform(crop=False)),
        ]
        for name, root, aug in cases:
            ytvis = YTVISDataset(root / "train.json", root / "train" / "JPEGImages")
            ds = PairDataset(ytvis, transform=aug)
            n = 40 if quick else (200 if "synthetic" in name else 40)
            rate = measure(ds, n)
            rows.append(
                {
                    "case": name,
                    "raw_decode_pairs_s": rate["raw"],
                    "pairs_s": rate["pairs"],
                    "ratio": rate["pairs"] / rate["raw"],
                    "image_only_ratio": rate["image"] / rate["raw"],
                }
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer samples")
    add_summary_argument(p)
    args = p.parse_args()
    rows = run(args.quick)
    head = f"{'data pipeline (1 worker)':<36} {'raw decode pairs/s':>19} {'pairs/s':>9} {'ratio':>7}"
    print(f"{head} {'image-only ratio':>17}")
    for r in rows:
        print(
            f"{r['case']:<36} {r['raw_decode_pairs_s']:>19.1f} {r['pairs_s']:>9.1f} {r['ratio']:>7.2f}"
            f" {r['image_only_ratio']:>17.2f}"
        )
    figures: dict[str, float | str] = {}
    for r in rows:
        figures[f"data pipeline / raw decode, {r['case']}"] = r["ratio"]
        figures[f"data image-only floor / raw decode, {r['case']}"] = r["image_only_ratio"]
    write_summary(args.summary, figures)


if __name__ == "__main__":
    main()
