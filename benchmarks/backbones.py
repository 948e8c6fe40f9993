"""Backbones side by side: parameters, CPU inference time and peak memory of a 360p frame, ResNet / Swin / ViT.

Usage::

    python benchmarks/backbones.py [--backbones r50 swin_l vit_small_patch14_dinov2 ...] [--reps 3] [--threads 2]

For each backbone: the paper-size detector (6 stages, 256 channels, 300 queries, 40 classes, random weights: no
download), in eval mode, one 360 x 640 frame (padded to 384 x 640). Each backbone runs in a fresh process, so
its memory figures are its own: "weights" is the peak resident memory up to the built model, "peak" the highest
resident memory over the forward passes (``ru_maxrss``), "activations" their difference. The time is the minimum
over ``--reps`` forward passes after one warm-up ("backbone+neck" alone and the whole detector). The processes
run one after another, so other load on the machine can move one row and not the others: compare ratios
within a row first.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

DEFAULT = [
    "r50",
    "swin_l",
    "vit_small_patch14_dinov2",
    "vit_base_patch14_dinov2",
    "vit_large_patch14_dinov2",
    "vit_large_patch16_dinov3",
]


def _rss_mib() -> float:
    """This process's peak resident memory so far (Linux ``ru_maxrss`` is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _millions(module: nn.Module) -> float:
    """Parameters of ``module`` in millions."""
    return sum(p.numel() for p in module.parameters()) / 1e6


def measure(backbone: str, reps: int, threads: int, height: int, width: int) -> dict[str, float | str]:
    """One backbone's row (run in its own process by ``main``)."""
    import torch

    from querytrack.modeling import build_detector

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    det = build_detector(backbone, num_queries=300, num_classes=40).eval()
    weights = _rss_mib()
    hp, wp = -(-height // 32) * 32, -(-width // 32) * 32
    images = torch.randint(0, 256, (1, 3, hp, wp), dtype=torch.uint8)
    sizes = torch.tensor([[height, width]])
    times: dict[str, list[float]] = {"backbone+neck": [], "detector": []}
    with torch.inference_mode():
        for rep in range(reps + 1):
            for name, fn in (
                ("backbone+neck", lambda: det.extract_features(images, sizes)),
                ("detector", lambda: det(images, sizes)),
            ):
                t0 = time.perf_counter()
                fn()
                if rep:  # the first round is the warm-up
                    times[name].append((time.perf_counter() - t0) * 1000)
    peak = _rss_mib()
    return {
        "backbone": backbone,
        "neck": type(det.neck).__name__,
        "backbone M": _millions(det.backbone),
        "neck M": _millions(det.neck),
        "detector M": _millions(det),
        "backbone+neck ms": min(times["backbone+neck"]),
        "detector ms": min(times["detector"]),
        "weights MiB": weights,
        "peak MiB": peak,
        "activations MiB": peak - weights,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbones", nargs="+", default=DEFAULT)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--one", help=argparse.SUPPRESS)  # internal: measure this backbone and print its json row
    p.add_argument("--summary", help="write the headline figures to this json file (make bench)")
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.reps, args.threads, args.height, args.width)))
        return
    rows = []
    for name in args.backbones:
        sizes = ["--reps", str(args.reps), "--threads", str(args.threads)]
        sizes += ["--height", str(args.height), "--width", str(args.width)]
        out = subprocess.run(
            [sys.executable, __file__, "--one", name, *sizes], capture_output=True, text=True, check=False
        )
        if out.returncode:
            print(f"{name}: failed\n{out.stderr[-2000:]}")
            continue
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    head = ["backbone", "neck", "backbone M", "neck M", "detector M", "backbone+neck ms", "detector ms"]
    head += ["weights MiB", "peak MiB", "activations MiB"]
    print(
        f"{args.height}x{args.width} frame, 300 queries, 6 stages, eval, {args.threads} threads, "
        f"min of {args.reps} reps"
    )
    print(" | ".join(head))
    for r in rows:
        print(" | ".join(f"{r[h]:.1f}" if isinstance(r[h], float) else str(r[h]) for h in head))
    if args.summary:
        figures = {f"{r['backbone']} detector ms/frame (360p, CPU)": r["detector ms"] for r in rows}
        with open(args.summary, "w") as f:
            json.dump(figures, f, indent=1)


if __name__ == "__main__":
    main()
