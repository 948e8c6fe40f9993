"""Detection-only vs tracking quality of one checkpoint: frame-level mask AP next to track AP.

Each annotated frame of the synthetic valid split becomes a one-frame "video" (ground truth and predictions alike),
so the YouTube-VIS AP of those is plain per-frame instance-segmentation AP: what the detector gives before any
association. Track AP below it is what association keeps of it.
Usage: ``python experiments/synthetic_recipe/frame_ap.py CHECKPOINT``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import torch

from querytrack.data.datamodule import SyntheticDataModule
from querytrack.evaluation import evaluate_ytvis
from querytrack.inference.frame_model import DetectorFrameModel
from querytrack.inference.load import load_for_inference
from querytrack.inference.results import video_results
from querytrack.inference.tracker import Tracker


def frame_gt(gt: dict[str, Any]) -> dict[str, Any]:
    """Split every video of a YouTube-VIS ground truth into one-frame videos (id ``1000 * video + t``)."""
    videos, anns = [], []
    for v in gt["videos"]:
        for t in range(v["length"]):
            videos.append({**v, "id": 1000 * v["id"] + t, "length": 1, "file_names": [v["file_names"][t]]})
    for a in gt["annotations"]:
        for t, seg in enumerate(a["segmentations"]):
            if seg is None:
                continue
            anns.append(
                {
                    **a,
                    "id": len(anns) + 1,
                    "video_id": 1000 * a["video_id"] + t,
                    "segmentations": [seg],
                    "areas": [a["areas"][t]],
                    "bboxes": [a["bboxes"][t]],
                }
            )
    return {**gt, "videos": videos, "annotations": anns}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    bundle = load_for_inference(args.checkpoint, device=args.device)
    dm = SyntheticDataModule(num_workers=0)
    dm.prepare_data()
    dm.setup("validate")
    assert dm.val_set is not None
    frame_model = DetectorFrameModel(bundle.model.detector)
    gt_path = None
    frame_results: list[dict[str, Any]] = []
    track_results: list[dict[str, Any]] = []
    with torch.no_grad():
        for i in range(len(dm.val_set)):
            clip = dm.val_set[i]
            gt_path = clip.ytvis.ann_file
            frames = [f.image for f in clip]
            l2c = clip.ytvis.label_to_cat_id
            track_results += video_results(
                frame_model,
                frames,
                clip.video_id,
                tracker=Tracker(),
                label_to_category=l2c,
                resize=bundle.resize,
                device=args.device,
            )
            for t, frame in enumerate(frames):
                frame_results += video_results(
                    frame_model,
                    [frame],
                    1000 * clip.video_id + t,
                    tracker=Tracker(),
                    label_to_category=l2c,
                    resize=bundle.resize,
                    device=args.device,
                )
    assert gt_path is not None
    gt = json.loads(Path(gt_path).read_text())
    with tempfile.TemporaryDirectory() as tmp:
        fgt = Path(tmp) / "frames.json"
        fgt.write_text(json.dumps(frame_gt(gt)))
        fm = evaluate_ytvis(str(fgt), frame_results, per_category=False)
    tm = evaluate_ytvis(str(gt_path), track_results, per_category=False)
    for name, m in (("frame (detection)", fm), ("track", tm)):
        print(
            f"{name:<18} " + " ".join(f"{k} {100 * m[k]:.1f}" for k in ("AP", "AP50", "AP75", "AR1", "AR10"))
        )


if __name__ == "__main__":
    main()
