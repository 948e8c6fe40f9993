"""Score one trained checkpoint on the synthetic valid split with several tracker settings (eq. 8 variants).

Usage: ``python experiments/synthetic_association/evaluate_trackers.py CHECKPOINT [--thresholds] [--tuning-split]``
(a checkpoint written by ``python -m querytrack.run``; the detector runs once per setting, the tracker is what
changes).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch

from querytrack.data.datamodule import SyntheticDataModule
from querytrack.evaluation import evaluate_ytvis
from querytrack.inference.load import load_for_inference
from querytrack.inference.tracker import Tracker
from querytrack.lit.module import QueryTrackModule

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("min F 0.1 (the first default)", {"min_match_factor": 0.1}),
    ("min F 0.1 + new-identity slot", {"min_match_factor": 0.1, "new_identity_slot": True}),
    ("min F 0 (default)", {}),
    ("min F 0 + new-identity slot", {"new_identity_slot": True}),
    ("min F 0, no appearance", {"use_appearance": False}),
    ("min F 0, no appearance, new-track 0.1", {"use_appearance": False, "new_track_score_threshold": 0.1}),
    ("min F 0 + slot, new-track 0.1", {"new_identity_slot": True, "new_track_score_threshold": 0.1}),
    ("appearance only", {"use_iou": False, "use_score": False, "use_class": False}),
    ("appearance + IoU", {"use_score": False, "use_class": False}),
    ("appearance + IoU + score", {"use_class": False}),
]
CUE_VARIANTS = ("appearance only", "appearance + IoU", "appearance + IoU + score", "min F 0 (default)")
# Thresholds and memory (after the class-veto fix), chosen on the seed-1 tuning split (--tuning-split).
THRESHOLD_VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("det 0.05, new 0.3, latest (class defaults)", {}),
    ("det 0.1, new 0.3, EMA", {"det_score_threshold": 0.1, "memory_update": "ema"}),
    ("det 0.05, new 0.2, latest", {"new_track_score_threshold": 0.2}),
    (
        "det 0.1, new 0.2, EMA (conf default)",
        {"det_score_threshold": 0.1, "new_track_score_threshold": 0.2, "memory_update": "ema"},
    ),
    (
        "det 0.1, new 0.15, EMA",
        {"det_score_threshold": 0.1, "new_track_score_threshold": 0.15, "memory_update": "ema"},
    ),
    (
        "det 0.1, new 0.25, EMA",
        {"det_score_threshold": 0.1, "new_track_score_threshold": 0.25, "memory_update": "ema"},
    ),
]
# A split no reported figure uses: the valid videos of the generator's seed 1 (the pretraining set's config).
TUNING_SPLIT = {"num_train_videos": 512, "num_valid_videos": 16, "seed": 1}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--device", default="cpu")
    p.add_argument("--cues-only", action="store_true", help="only the eq. 8 cue ablation (4 settings)")
    p.add_argument("--thresholds", action="store_true", help="the threshold / memory table instead")
    p.add_argument("--tuning-split", action="store_true", help="score on the seed-1 valid videos")
    args = p.parse_args()
    bundle = load_for_inference(args.checkpoint, device=args.device)
    dm = SyntheticDataModule(num_workers=0, synthetic=TUNING_SPLIT if args.tuning_split else None)
    dm.prepare_data()
    dm.setup("validate")
    assert dm.val_set is not None
    mod = QueryTrackModule(bundle.model)
    mod.to(args.device)
    mod.test_resize = bundle.resize  # the test size the checkpoint was trained for
    print(f"{'tracker':<42} {'tracks':>6} {'AP':>5} {'AP50':>5} {'AR10':>5} {'HOTA':>5} {'AssA':>5}")
    variants = [v for v in VARIANTS if v[0] in CUE_VARIANTS] if args.cues_only else VARIANTS
    if args.thresholds:
        variants = THRESHOLD_VARIANTS
    for name, kwargs in variants:
        start = time.perf_counter()
        mod.tracker = Tracker(**kwargs)
        mod._val_results = []
        with torch.no_grad():
            for i in range(len(dm.val_set)):
                mod._track_clip(dm.val_set[i])
        m = evaluate_ytvis(mod._val_gt, mod._val_results, per_category=False, hota=True)
        print(
            f"{name:<42} {len(mod._val_results):>6} {100 * m['AP']:>5.1f} {100 * m['AP50']:>5.1f} "
            f"{100 * m['AR10']:>5.1f} {100 * m['HOTA']:>5.1f} {100 * m['AssA']:>5.1f}  ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
