"""Per-frame inference time of the whole detector vs backbone + FPN alone, with a per-stage / per-head breakdown.

Usage::

    python benchmarks/detector.py                      # R50, 100 queries, 360x640 (padded 384x640), CPU
    python benchmarks/detector.py --device cuda --reps 50

Goal (issue 4): whole detector ≤ 1.5 × backbone + FPN. Prints what it measures, nothing else.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from summary import add_summary_argument, write_summary  # benchmarks/summary.py

from querytrack.modeling import build_detector
from querytrack.modeling.detector import QueryInstDetector, rois_from_indices
from querytrack.modeling.roi_extractor import boxes_to_rois

STAT = "min"


def _timeit(fn: Callable[[], object], reps: int, warmup: int, device: torch.device) -> float:
    """Minimum wall time of ``fn`` over ``reps`` runs, in milliseconds.

    The minimum, not the median: on a shared CPU (VMs, CI runners) the spread between runs is several x and
    comes from other load, while the minimum is a stable estimate of the work itself. ``--stat median`` switches.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times) if STAT == "median" else min(times)


def breakdown(
    det: QueryInstDetector, images: torch.Tensor, sizes: torch.Tensor, reps: int, warmup: int
) -> list[tuple[str, float]]:
    """Time each part of ``det.forward`` on its own (ms)."""
    dev = images.device
    rows: list[tuple[str, float]] = []
    rows.append(("preprocess", _timeit(lambda: det.preprocess(images, sizes), reps, warmup, dev)))
    x = det.preprocess(images, sizes)
    rows.append(("backbone", _timeit(lambda: det.backbone(x), reps, warmup, dev)))
    c = det.backbone(x)
    rows.append(("fpn", _timeit(lambda: det.neck(c), reps, warmup, dev)))
    feats = det.neck(c)
    boxes, query = det.proposals(sizes)
    for t in range(det.num_stages):
        stage = det.stage(t)
        b, q = boxes, query
        rows.append(
            (f"stage{t} box branch", _timeit(lambda s=stage, b=b, q=q: s(feats, b, q), reps, warmup, dev))
        )
        if t == 0:
            rois = boxes_to_rois(b)
            rows.append(
                (
                    "  of which RoIAlign 7x7",
                    _timeit(lambda r=rois, s=stage: s.box_roi(feats, r), reps, warmup, dev),
                )
            )
        out = stage(feats, b, q)
        boxes, query = out.boxes, out.query
    last = stage
    n = boxes.shape[1]
    k = min(det.mask_topk or n, n)
    top = out.cls_logits.max(-1).values.topk(k, dim=1).indices
    bi = torch.arange(boxes.shape[0], device=dev).repeat_interleave(k)
    qi = top.reshape(-1)
    rois = rois_from_indices(boxes, bi, qi)
    attn = out.attn_feats[bi, qi]
    rows.append(
        (f"mask head (top-{k})", _timeit(lambda: last.forward_mask(feats, rois, attn), reps, warmup, dev))
    )
    if det.with_track_head:
        ab = torch.arange(boxes.shape[0], device=dev).repeat_interleave(n)
        aq = torch.arange(n, device=dev).repeat(boxes.shape[0])
        trois = rois_from_indices(boxes, ab, aq)
        tattn = out.attn_feats.reshape(-1, out.attn_feats.shape[-1])
        rows.append(
            (
                f"track head (all {n})",
                _timeit(lambda: last.forward_track(feats, trois, tattn), reps, warmup, dev),
            )
        )
    return rows


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
        t_feat = _timeit(lambda: det.extract_features(images, sizes), args.reps, args.warmup, device)
        t_full = _timeit(lambda: det(images, sizes), args.reps, args.warmup, device)
        rows = breakdown(det, images, sizes, args.reps, args.warmup)
    print(f"backbone + FPN      : {t_feat:8.1f} ms/frame")
    print(f"whole detector      : {t_full:8.1f} ms/frame")
    print(f"ratio whole / (backbone + FPN) = {t_full / t_feat:.2f}  (goal <= 1.5)")
    size = f"{args.backbone} {args.queries}q {args.height}x{args.width}"
    write_summary(
        args.summary,
        {f"detector frame / backbone+FPN ({size})": t_full / t_feat, "detector ms/frame": t_full},
    )
    print(f"breakdown (each part timed alone, {STAT} ms):")
    for name, ms in rows:
        print(f"  {name:28s} {ms:8.1f}  ({100 * ms / t_full:5.1f} % of whole)")


if __name__ == "__main__":
    main()
