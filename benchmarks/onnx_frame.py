"""Per-frame detector time under ONNX Runtime vs PyTorch on CPU (the graph of ``querytrack-export``).

Usage::

    python benchmarks/onnx_frame.py                         # the small r18 model of make run, 128x192, 2 threads
    python benchmarks/onnx_frame.py --height 384 --width 640

The model is the default small configuration (r18, 16 queries, 3 stages) with the shipped synthetic detector
(``builtin:synthetic_pretrain``) and fresh track heads, saved as a training checkpoint and exported; both runtimes
get the same frames and thread count. Prints the minimum time over ``--reps`` runs and the largest output
difference.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from models import small_model  # benchmarks/models.py
from summary import add_summary_argument, write_summary  # benchmarks/summary.py

from querytrack.checkpoints.compact import load_compact_into
from querytrack.export_onnx import OUTPUT_NAMES, export_onnx
from querytrack.inference.onnx_model import OnnxDetector
from querytrack.modeling import build_querytrack

SMALL = {
    "_target_": "querytrack.modeling.build_querytrack",
    "pretrained": False,
    "num_classes": 5,
    **small_model(),  # conf/model/small.yaml: make run's model
}


def _min_ms(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return min(times), statistics.median(times)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--width", type=int, default=192)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=20)
    add_summary_argument(p)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    model = build_querytrack(**{k: v for k, v in SMALL.items() if k != "_target_"})
    load_compact_into(model, "builtin:synthetic_pretrain", verbose=False)
    spec = {"model": SMALL, "class_names": list("abcde"), "category_ids": [1, 2, 3, 4, 5], "tracker": {},
            "test_short_size": args.height, "test_max_size": args.width, "top_k": 10}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "small.ckpt"
        torch.save(
            {"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "querytrack": spec}, ckpt
        )
        t0 = time.perf_counter()
        onnx_path = export_onnx(ckpt, Path(tmp) / "small.onnx")
        export_s = time.perf_counter() - t0
        ort_det = OnnxDetector(onnx_path, threads=args.threads)
        det = model.detector.eval()
        g = torch.Generator().manual_seed(0)
        h, w = args.height, args.width
        images = torch.randint(0, 256, (1, 3, h, w), dtype=torch.uint8, generator=g)
        sizes = torch.tensor([[h, w]])
        with torch.no_grad():
            torch_min, torch_med = _min_ms(lambda: det(images, sizes), args.reps)
            ref = det(images, sizes)
        ort_min, ort_med = _min_ms(lambda: ort_det(images, sizes), args.reps)
        got = ort_det(images, sizes)
    diff = max(float((getattr(got, n).float() - getattr(ref, n).float()).abs().max()) for n in OUTPUT_NAMES)
    print(
        f"detector frame, small r18 model, {h}x{w}, {args.threads} threads, min (median) of {args.reps} runs"
    )
    print(f"  PyTorch       {torch_min:8.1f} ms  ({torch_med:.1f})")
    print(f"  ONNX Runtime  {ort_min:8.1f} ms  ({ort_med:.1f})")
    print(f"  ratio ONNX Runtime / PyTorch: {ort_min / torch_min:.3f}; largest output difference {diff:.2e}")
    print(f"  export took {export_s:.1f} s")
    write_summary(
        args.summary,
        {
            f"ONNX Runtime / PyTorch frame time (small r18, {h}x{w}, CPU)": ort_min / torch_min,
            "ONNX Runtime ms/frame": ort_min,
            "PyTorch ms/frame (same model)": torch_min,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
