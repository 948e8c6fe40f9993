"""GPU check: bf16 training step time and peak memory (r50 / swin_l / ViT-L), and one streaming validation pass.

Needs a CUDA device (``python benchmarks/gpu_step.py``; skipped with a note otherwise). For each backbone it
builds the paper-size QueryTrack (6 stages, 256 channels; 100 queries for r50, 300 for the others; 40 classes, no
pretrained download), trains on synthetic 360 x 640 pairs (batch 2 per device) under ``torch.autocast(bf16)``
with fused AdamW, and reports the median step time and the peak allocated memory. Then it tracks one synthetic
validation video through ``track_video`` (per-frame streaming) and scores it with ``evaluate_ytvis``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from querytrack.data.collate import collate_pairs
from querytrack.data.datasets import PairDataset, VideoDataset
from querytrack.data.synthetic import generate
from querytrack.data.synthetic_scene import SyntheticConfig
from querytrack.data.transforms import build_test_transform, build_train_transform
from querytrack.data.ytvis import YTVISDataset
from querytrack.evaluation import evaluate_ytvis
from querytrack.inference.frame_model import DetectorFrameModel
from querytrack.inference.results import VideoTrackBuilder
from querytrack.inference.stream import track_video
from querytrack.modeling import build_querytrack


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backbones", nargs="+", default=["r50", "swin_l", "vit_large_patch14_dinov2"])
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--smoke", action="store_true", help="tiny model on CPU: checks the script, not the GPU")
    args = p.parse_args()
    if not torch.cuda.is_available() and not args.smoke:
        print("gpu_step: no CUDA device, skipped")
        return
    dev = torch.device("cpu" if args.smoke else "cuda")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    tiny = (
        {"num_stages": 1, "hidden_dim": 32, "ffn_dim": 64, "dynamic_dim": 8, "embed_dim": 16}
        if args.smoke
        else {}
    )
    name_ = torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu (smoke)"
    print(f"device: {name_}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(
            root,
            SyntheticConfig(
                num_train_videos=4, num_valid_videos=1, min_frames=20, max_frames=20, height=360, width=640
            ),
        )
        train = YTVISDataset(root / "train.json", root / "train" / "JPEGImages")
        ds = PairDataset(
            train, transform=build_train_transform(min_sizes=(352, 384), max_size=704, crop=False)
        )
        batches = [
            collate_pairs([ds[(i * args.batch + j) % len(ds)] for j in range(args.batch)]) for i in range(4)
        ]
        valid = YTVISDataset(root / "valid.json", root / "valid" / "JPEGImages")
        print(
            f"{'backbone':<24} {'queries':>7} {'params M':>9} {'step s (median)':>16} {'peak GiB':>9} {'val frames/s':>13} {'val AP':>7}"
        )
        for name in args.backbones:
            nq = 100 if name.startswith("r") else 300
            model = (
                build_querytrack(backbone=name, num_queries=nq, num_classes=5, pretrained=False, **tiny)
                .to(dev)
                .train()
            )
            params = [q for q in model.parameters() if q.requires_grad]
            opt = torch.optim.AdamW(params, lr=1e-5, fused=True)
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            times = []
            for step in range(args.steps):
                batch = batches[step % len(batches)].to(dev)
                sync()
                t0 = time.perf_counter()
                with torch.autocast(dev.type, dtype=torch.bfloat16):
                    loss = model.loss(batch)["loss"]
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                sync()
                times.append(time.perf_counter() - t0)
            peak = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else float("nan")
            model.eval()
            clip = VideoDataset(valid)[0]
            builder = VideoTrackBuilder()
            resize = build_test_transform(360, 640)
            t0 = time.perf_counter()
            with torch.autocast(dev.type, dtype=torch.bfloat16):
                for r in track_video(
                    DetectorFrameModel(model), (f.image for f in clip), resize=resize, device=dev
                ):
                    builder.add(r)
            sync()
            fps = clip.length / (time.perf_counter() - t0)
            entries = builder.entries(clip.video_id, valid.label_to_cat_id, num_frames=clip.length)
            ap = evaluate_ytvis(root / "valid.json", entries, per_category=False)["AP"] if entries else 0.0
            n_params = sum(q.numel() for q in model.parameters()) / 1e6
            med = statistics.median(times[2:])
            print(f"{name:<24} {nq:>7} {n_params:>9.1f} {med:>16.3f} {peak:>9.2f} {fps:>13.1f} {ap:>7.3f}")
            del model, opt
            if dev.type == "cuda":
                torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
