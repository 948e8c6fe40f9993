"""Per-frame inference time of the whole detector vs backbone + FPN alone, with a per-stage / per-head breakdown.

Usage::

    python benchmarks/detector.py                      # R50, 100 queries, 360x640 (padded 384x640), CPU
    python benchmarks/detector.py --device cuda --reps 50

Goal: whole detector ≤ 1.5 × backbone + FPN. Then a per-part breakdown of whole frames through detector,
post-processing, tracker, mask paste and RLE (``benchmarks/parts.py``; every top-k candidate tracked).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import torch
from summary import add_summary_argument, write_summary  # benchmarks/summary.py

from querytrack.modeling import build_detector
from querytrack.modeling.detector import QueryInstDetector

STAT = "min"


def _timeit(fns: Sequence[Callable[[], object]], reps: int, warmup: int, device: torch.device) -> list[float]:
    """Minimum wall time of each of ``fns`` over ``reps`` rounds, in milliseconds.

    The functions run in turn within each round, so a burst of other load hits them alike and their ratio
    stays put. The minimum, not the median: on a shared CPU (VMs, CI runners) the spread between runs is
    several x and comes from other load, while the minimum is a stable estimate of the work itself.
    ``--stat median`` switches.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, out in zip(fns, times, strict=True):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            out.append((time.perf_counter() - t0) * 1000)
    return [statistics.median(t) if STAT == "median" else min(t) for t in times]


def pipeline_breakdown(det: QueryInstDetector, image: torch.Tensor, frames: int, top_k: int) -> str:
    """Per-part table of ``frames`` frames through the whole per-frame pipeline (``track_video``).

    Every top-k candidate is tracked (tracker thresholds 0) and so pasted and RLE-encoded: the dense case.
    """
    from parts import PartTimer, format_table, hook_detector  # benchmarks/parts.py

    from querytrack.inference import stream
    from querytrack.inference.frame_model import DetectorFrameModel
    from querytrack.inference.tracker import Tracker

    tracker = Tracker(det_score_threshold=0.0, new_track_score_threshold=0.0)
    model = DetectorFrameModel(det, require_embeddings=False)
    timer = PartTimer()
    hook_detector(timer, det)
    timer.wrap(det, "preprocess", "preprocess (normalise, pad)")
    timer.wrap(stream, "postprocess_frame", "postprocess (top-k, boxes)")
    timer.wrap(tracker, "update", "tracker")
    timer.wrap(stream, "paste_masks", "mask paste")
    timer.wrap(stream, "encode_masks", "RLE encode")
    try:
        for _ in stream.track_video(model, [image] * 2, tracker, top_k=top_k):  # warm-up
            pass
        timer.reset()
        t0 = time.perf_counter()
        for _ in stream.track_video(model, [image] * frames, tracker, top_k=top_k):
            pass
        whole = time.perf_counter() - t0
    finally:
        timer.remove_hooks()
        for name in ("postprocess_frame", "paste_masks", "encode_masks"):  # undo the module-level wraps
            setattr(stream, name, getattr(stream, name).__wrapped__)
    h, w = image.shape[-2:]
    return format_table(timer.own(), whole, frames, f"frame {h}x{w}, ms/frame")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="r50")
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--classes", type=int, default=40)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave default)")
    ap.add_argument("--no-track", action="store_true", help="build without track heads")
    ap.add_argument("--stat", choices=["min", "median"], default="min")
    add_summary_argument(ap)
    args = ap.parse_args()
    global STAT
    STAT = args.stat
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    det = build_detector(
        backbone=args.backbone,
        num_queries=args.queries,
        num_classes=args.classes,
        with_track_head=not args.no_track,
    )
    det = det.eval().to(device)
    hp, wp = (args.height + 31) // 32 * 32, (args.width + 31) // 32 * 32
    images = torch.zeros((1, 3, hp, wp), dtype=torch.uint8, device=device)
    images[..., : args.height, : args.width] = torch.randint(
        0, 256, (1, 3, args.height, args.width), dtype=torch.uint8, device=device
    )
    sizes = torch.tensor([[args.height, args.width]], device=device)
    print(
        f"device={device} threads={torch.get_num_threads()} backbone={args.backbone} N={args.queries} "
        f"K={args.classes} input={args.height}x{args.width} (padded {hp}x{wp}) track={not args.no_track} "
        f"stages={det.num_stages} mask_topk={det.mask_topk} stat={STAT} of {args.reps}"
    )
    with torch.inference_mode():
        t_feat, t_full = _timeit(
            [lambda: det.extract_features(images, sizes), lambda: det(images, sizes)],
            args.reps,
            args.warmup,
            device,
        )
        table = pipeline_breakdown(det, images[0, :, : args.height, : args.width], args.reps, 10)
    print(f"backbone + FPN      : {t_feat:8.1f} ms/frame")
    print(f"whole detector      : {t_full:8.1f} ms/frame")
    print(f"ratio whole / (backbone + FPN) = {t_full / t_feat:.2f}  (goal <= 1.5)")
    size = f"{args.backbone} {args.queries}q {args.height}x{args.width}"
    write_summary(
        args.summary,
        {f"detector frame / backbone+FPN ({size})": t_full / t_feat, "detector ms/frame": t_full},
    )
    print(f"\nbreakdown of {args.reps} frames through detector + postprocess + tracker + paste + RLE:")
    print(table)


if __name__ == "__main__":
    main()
