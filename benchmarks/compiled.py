"""Eager vs ``torch.compile`` side by side: detector frame ÷ backbone+FPN, and the training step.

Usage::

    python benchmarks/compiled.py                          # make run's small r18 model, CPU
    python benchmarks/compiled.py --backbone r50 --paper   # the paper's R50, 100 queries (long compile on a CPU)
    python benchmarks/compiled.py --backbone swin_l --paper --device cuda --bf16   # a GPU, bf16 autocast

One process builds the model, copies it and compiles the copy in place (``querytrack.modeling.compile``, as
``compile: true`` does); eager and compiled then run in turn within each timing round (minimum of ``--reps``):

* inference (``torch.inference_mode``): backbone + FPN alone and the whole detector on one 360p frame;
* training: ``QueryTrack.loss`` + backward + fused AdamW on batches of 2 synthetic pairs (128 x 192).

Compile time (the first calls) is reported apart and not in the timings. Graph breaks: run with
``TORCH_LOGS=graph_breaks``.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

import torch
from detector import _timeit  # benchmarks/detector.py
from models import small_model  # benchmarks/models.py
from summary import add_summary_argument, write_summary  # benchmarks/summary.py

from querytrack.modeling import build_querytrack
from querytrack.modeling.compile import compile_detector


def _pairs(height: int, width: int, n: int) -> list:
    """``n`` batches of 2 (key, reference) pairs from a generated synthetic set."""
    from querytrack.data.collate import collate_pairs
    from querytrack.data.datasets import PairDataset
    from querytrack.data.synthetic import generate
    from querytrack.data.synthetic_scene import SyntheticConfig
    from querytrack.data.ytvis import YTVISDataset

    with tempfile.TemporaryDirectory() as tmp:
        cfg = SyntheticConfig(
            num_train_videos=2, num_valid_videos=1, min_frames=6, max_frames=6, height=height, width=width
        )
        generate(tmp, cfg)
        ds = PairDataset(YTVISDataset(Path(tmp) / "train.json", Path(tmp) / "train" / "JPEGImages"))
        return [collate_pairs([ds[2 * i], ds[2 * i + 1]]) for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="r18")
    ap.add_argument(
        "--paper", action="store_true", help="the paper's sizes (100 queries, 6 stages, 256 wide)"
    )
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: leave default)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument(
        "--bf16", action="store_true", help="run both sides under bf16 autocast (as trainer=auto on GPUs)"
    )
    add_summary_argument(ap)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kwargs = {"backbone": args.backbone, "num_queries": 100} if args.paper else small_model()
    kwargs["backbone"] = args.backbone
    torch.manual_seed(0)
    dev = torch.device(args.device)
    eager = build_querytrack(num_classes=5, pretrained=False, **kwargs).to(dev)
    compiled = copy.deepcopy(eager)
    compile_detector(compiled.detector)
    autocast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.bf16)
    name = f"{args.backbone}{' paper' if args.paper else ' small'}{' bf16' if args.bf16 else ''}"
    print(
        f"device={dev} threads={torch.get_num_threads()} model={name} {kwargs} frame={args.height}x{args.width}"
    )

    hp, wp = (args.height + 31) // 32 * 32, (args.width + 31) // 32 * 32
    images = torch.zeros((1, 3, hp, wp), dtype=torch.uint8)
    images[..., : args.height, : args.width] = torch.randint(0, 256, (1, 3, args.height, args.width))
    images, sizes = images.to(dev), torch.tensor([[args.height, args.width]], device=dev)
    for label, model in (("eager", eager), ("compiled", compiled)):
        det = model.detector.eval()
        t0 = time.perf_counter()
        with torch.inference_mode(), autocast:
            det(images, sizes)
        print(f"{label:>8}: first frame (compile included) {time.perf_counter() - t0:.1f} s")
    with torch.inference_mode(), autocast:
        e_feat, e_full, c_feat, c_full = _timeit(
            [
                lambda: eager.detector.extract_features(images, sizes),
                lambda: eager.detector(images, sizes),
                lambda: compiled.detector.extract_features(images, sizes),
                lambda: compiled.detector(images, sizes),
            ],
            args.reps,
            1,
            dev,
        )

    batches = [b.to(dev) for b in _pairs(128, 192, 3)]
    opts = {}
    for label, model in (("eager", eager), ("compiled", compiled)):
        model.train()
        opts[label] = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=True
        )
        t0 = time.perf_counter()
        with autocast:
            _step(model, opts[label], batches[0])
        print(f"{label:>8}: first training step (compile included) {time.perf_counter() - t0:.1f} s")
    it = iter(range(10**9))
    with autocast:
        e_step, c_step = _timeit(
            [
                lambda: _step(eager, opts["eager"], batches[next(it) % 3]),
                lambda: _step(compiled, opts["compiled"], batches[next(it) % 3]),
            ],
            args.reps,
            1,
            dev,
        )

    print(f"\n{'':<34} {'eager':>9} {'compiled':>9}")
    print(f"{'backbone + FPN, ms/frame':<34} {e_feat:>9.1f} {c_feat:>9.1f}")
    print(f"{'whole detector, ms/frame':<34} {e_full:>9.1f} {c_full:>9.1f}")
    print(f"{'frame / backbone+FPN':<34} {e_full / e_feat:>9.2f} {c_full / c_feat:>9.2f}")
    print(f"{'training step (2 pairs 128x192), s':<34} {e_step / 1000:>9.3f} {c_step / 1000:>9.3f}")
    write_summary(
        args.summary,
        {
            f"eager / compiled detector ms/frame ({name} {args.height}x{args.width})": f"{e_full:.0f} / {c_full:.0f}",
            f"eager / compiled frame / backbone+FPN ({name})": f"{e_full / e_feat:.2f} / {c_full / c_feat:.2f}",
            f"eager / compiled train step s ({name}, 2 pairs 128x192)": f"{e_step / 1000:.3f} / {c_step / 1000:.3f}",
        },
    )


def _step(model: torch.nn.Module, opt: torch.optim.Optimizer, batch: object) -> None:
    """One training step: losses, backward, optimizer."""
    loss = model.loss(batch)["loss"]  # type: ignore[operator]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


if __name__ == "__main__":
    main()
