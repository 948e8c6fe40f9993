"""Streaming benchmark: peak memory vs video length, and the per-frame cost of tracking + RLE encoding.

Usage::

    python benchmarks/tracking.py [--short 200] [--long 2000] [--height 720] [--width 1280]

1. Peak RSS of ``track_video`` + ``VideoTrackBuilder`` over a ``--short`` and a ``--long`` synthetic video with
   the fake detector, each in a fresh subprocess (clean ``ru_maxrss``). Goal: long / short ≤ 1.05.
2. Per-frame time of each stage (fake detector, post-process, tracker, mask paste + RLE). The fake detector
   costs almost nothing, so the printed share of tracker + RLE is an upper bound; compare the absolute
   milliseconds with the real detector's per-frame time once it exists.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch
from summary import add_summary_argument, write_summary  # benchmarks/summary.py

from querytrack.core.rle import encode_masks
from querytrack.inference import Tracker, VideoTrackBuilder, paste_masks, postprocess_frame, track_video
from querytrack.testing.fake_model import FakeDetector


def _frames(n: int, h: int, w: int):
    for _ in range(n):
        yield torch.zeros(3, h, w, dtype=torch.uint8)  # a fresh tensor per frame, like a decoder


def _model() -> FakeDetector:
    return FakeDetector(num_objects=6, num_queries=100, num_classes=40, embed_dim=256)


def child(frames: int, h: int, w: int, keep: bool) -> None:
    """Stream one video (keeping the results in a ``VideoTrackBuilder`` or not) and print peak RSS as json."""
    torch.set_num_threads(1)
    builder = VideoTrackBuilder()
    t = time.perf_counter()
    for result in track_video(_model(), _frames(frames, h, w)):
        if keep:
            builder.add(result)
    entries = builder.entries(video_id=1, num_frames=frames)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    print(
        json.dumps(
            {
                "frames": frames,
                "peak_rss_mib": peak,
                "seconds": time.perf_counter() - t,
                "tracks": len(entries),
            }
        )
    )


def stage_times(frames: int, h: int, w: int) -> dict[str, float]:
    """Mean milliseconds per frame of each stage of the streaming loop."""
    torch.set_num_threads(1)
    model, tracker = _model(), Tracker()
    acc = {"detector (fake)": 0.0, "postprocess": 0.0, "tracker": 0.0, "paste + RLE": 0.0}
    for i, frame in enumerate(_frames(frames, h, w)):
        t0 = time.perf_counter()
        raw = model.predict_frame(frame)
        t1 = time.perf_counter()
        det = postprocess_frame(raw, (h, w), i, paste=False)
        t2 = time.perf_counter()
        det = tracker.update(det)
        t3 = time.perf_counter()
        kept = det.select(det.track_ids >= 0)  # type: ignore[operator]
        encode_masks(paste_masks(kept.mask_probs, kept.boxes, (h, w)).numpy())  # type: ignore[arg-type]
        t4 = time.perf_counter()
        for k, dt in zip(acc, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            acc[k] += dt
    return {k: 1000 * v / frames for k, v in acc.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--short", type=int, default=200)
    parser.add_argument("--long", type=int, default=2000)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--width", type=int, default=1280)
    add_summary_argument(parser)
    parser.add_argument("--child-frames", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-discard", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_frames:
        child(args.child_frames, args.height, args.width, keep=not args.child_discard)
        return
    figures: dict[str, float | str] = {}
    for keep in (True, False):
        ratio = _rss(args, keep)
        if keep:
            figures[f"streaming peak RSS {args.long} / {args.short} frames"] = ratio
    times = _stages(args)
    figures["tracker + paste/RLE ms/frame"] = times["tracker"] + times["paste + RLE"]
    figures["tracking size"] = f"{args.height}x{args.width}"
    write_summary(args.summary, figures)


def _rss(args: argparse.Namespace, keep: bool) -> float:
    label = "stream + VideoTrackBuilder" if keep else "stream only (results discarded)"
    print(f"peak RSS, {label}:")
    runs = {}
    for n in (args.short, args.long):
        cmd = [
            sys.executable,
            __file__,
            "--child-frames",
            str(n),
            "--height",
            str(args.height),
            "--width",
            str(args.width),
        ]
        cmd += [] if keep else ["--child-discard"]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        runs[n] = json.loads(out.strip().splitlines()[-1])
        r = runs[n]
        print(
            f"  {n:5d} frames {args.height}x{args.width}: peak RSS {r['peak_rss_mib']:.1f} MiB, "
            f"{r['seconds']:.1f} s ({1000 * r['seconds'] / n:.1f} ms/frame), {r['tracks']} tracks"
        )
    ratio = runs[args.long]["peak_rss_mib"] / runs[args.short]["peak_rss_mib"]
    print(f"  peak RSS ratio {args.long}/{args.short} frames: {ratio:.3f} (goal <= 1.05)")
    return ratio


def _stages(args: argparse.Namespace) -> dict[str, float]:
    times = stage_times(100, args.height, args.width)
    total = sum(times.values())
    print("per-frame stage times (ms), 100 frames:")
    for k, v in times.items():
        print(f"  {k:<16} {v:7.2f}  ({100 * v / total:4.1f} %)")
    share = (times["tracker"] + times["paste + RLE"]) / total
    print(
        f"tracker + paste/RLE: {times['tracker'] + times['paste + RLE']:.2f} ms/frame = {100 * share:.0f} % of the loop "
        "with a fake detector; compare with the real detector's ms/frame"
    )
    return times


if __name__ == "__main__":
    main()
