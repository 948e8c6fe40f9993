"""CPU training step time and peak memory: r18 (small model) and r50 (paper-size model) at two input sizes.

Each configuration runs in its own subprocess (clean peak RSS): a few warm-up steps, then the median of the timed
steps of ``QueryTrack.loss`` + backward + fused AdamW, batch 2 pairs, synthetic frames. Sizes: the synthetic set
(128 x 192) and 360p (360 x 640). Run: ``python benchmarks/training.py``.

Then, per configuration, the step's per-part breakdown (``benchmarks/parts.py``) over the same steps: backbone,
FPN, each stage's RoIAlign / attention / dynamic conv / FFN / mask head / track head, the reference frame's
pass (``ref:`` rows, no grad), the matcher, the losses, backward and the optimizer (``--no-breakdown`` skips it).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from models import small_model  # benchmarks/models.py
from summary import add_summary_argument, write_summary  # benchmarks/summary.py

CONFIGS = {
    "r18-small": small_model(),  # conf/model/small.yaml
    "r50-paper": {"backbone": "r50", "num_queries": 100},
}
SIZES = {"synthetic 128x192": (128, 192), "360p": (360, 640)}


def child(config: str, height: int, width: int, steps: int, breakdown: bool) -> dict[str, float]:
    import torch
    from parts import PartTimer, format_table, hook_detector  # benchmarks/parts.py

    from querytrack.data.collate import collate_pairs
    from querytrack.data.datasets import PairDataset
    from querytrack.data.synthetic import generate
    from querytrack.data.synthetic_scene import SyntheticConfig
    from querytrack.data.ytvis import YTVISDataset
    from querytrack.modeling import build_querytrack

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        generate(
            tmp,
            SyntheticConfig(
                num_train_videos=2, num_valid_videos=1, min_frames=6, max_frames=6, height=height, width=width
            ),
        )
        ds = PairDataset(YTVISDataset(Path(tmp) / "train.json", Path(tmp) / "train" / "JPEGImages"))
        batches = [collate_pairs([ds[2 * i], ds[2 * i + 1]]) for i in range(3)]
    model = build_querytrack(
        num_classes=5, pretrained=False, frozen_stages=-1, norm_eval=False, **CONFIGS[config]
    ).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True)
    times = []
    for step in range(steps + 2):
        t0 = time.perf_counter()
        loss = model.loss(batches[step % len(batches)])["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= 2:
            times.append(time.perf_counter() - t0)
    if breakdown:
        timer = PartTimer(split_no_grad=True)
        hook_detector(timer, model.detector)
        timer.module(model.matcher, "matcher (key + ref frames)", by_grad=False)
        timer.wrap(model.criterion, "stage_losses", "detection losses")
        timer.module(model.track_loss, "contrastive track loss")
        t_all = time.perf_counter()
        for step in range(steps):
            with timer.region("forward + losses: glue"):
                loss = model.loss(batches[step % len(batches)])["loss"]
            with timer.region("backward"):
                opt.zero_grad(set_to_none=True)
                loss.backward()
            with timer.region("optimizer (fused AdamW)"):
                opt.step()
        whole = time.perf_counter() - t_all
        print(format_table(timer.own(), whole, steps, f"{config} {height}x{width} ms/step"))
    return {
        "step_s": statistics.median(times),
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    p.add_argument("--no-breakdown", action="store_true", help="skip the per-part breakdown")
    add_summary_argument(p)
    args = p.parse_args()
    if args.child:
        config, h, w = args.child
        print(json.dumps(child(config, int(h), int(w), args.steps, not args.no_breakdown)))
        return
    print(f"{'training step (CPU, batch 2 pairs)':<36} {'step s':>8} {'peak RSS GiB':>13}")
    figures: dict[str, float | str] = {}
    tables: list[str] = []
    for config in CONFIGS:
        for size_name, (h, w) in SIZES.items():
            out = subprocess.run(
                [sys.executable, __file__, "--steps", str(args.steps), "--child", config, str(h), str(w)]
                + (["--no-breakdown"] if args.no_breakdown else []),
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode:
                print(f"{config + ', ' + size_name:<36} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            lines = out.stdout.strip().splitlines()
            r = json.loads(lines[-1])
            tables.append("\n".join(lines[:-1]))
            print(f"{config + ', ' + size_name:<36} {r['step_s']:>8.2f} {r['peak_rss_gib']:>13.2f}")
            figures[f"train step s, {config} {size_name}"] = r["step_s"]
            figures[f"train peak RSS GiB, {config} {size_name}"] = r["peak_rss_gib"]
    for table in tables:
        print(f"\n{table}")
    write_summary(args.summary, figures)


if __name__ == "__main__":
    main()
