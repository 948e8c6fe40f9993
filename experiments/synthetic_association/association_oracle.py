"""How much track AP does the association lose? The tracker against an oracle on the same detections.

    python experiments/synthetic_association/association_oracle.py CKPT [--seed 1] [tracker.KEY=VALUE ...]

Tracks the valid videos of the synthetic set with generator ``--seed`` (1: the tuning split; 0: the reported
one) with ``conf/tracker/default.yaml`` (plus overrides), then scores two results files built from the *same*
tracked detections: the tracker's identities, and oracle identities (each detection takes the ground-truth
identity it overlaps at mask IoU >= 0.5, one detection per object and frame, highest score first; the others
keep the tracker's id). It also counts tracker identities per covered object, identities that span several
objects, and identities that never overlap any.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import OmegaConf
from pycocotools import mask as mask_utils

from querytrack.core import rle as rle_utils
from querytrack.data.datasets import VideoDataset
from querytrack.data.synthetic import ensure_synthetic
from querytrack.data.synthetic_scene import SyntheticConfig
from querytrack.data.ytvis import YTVISDataset
from querytrack.evaluation import evaluate_ytvis
from querytrack.evaluation.io import load_gt
from querytrack.inference.frame_model import DetectorFrameModel
from querytrack.inference.load import load_for_inference
from querytrack.inference.results import VideoTrackBuilder
from querytrack.inference.stream import track_video

ROOT = Path(__file__).resolve().parents[2]
ORACLE_OFFSET = 1_000_000  # oracle ids never collide with tracker ids


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ckpt")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("overrides", nargs="*", help="tracker.KEY=VALUE")
    args = ap.parse_args()
    data = OmegaConf.load(ROOT / "conf" / "data" / "synthetic.yaml").synthetic
    root = ensure_synthetic(None, SyntheticConfig(**{**OmegaConf.to_container(data), "seed": args.seed}))  # type: ignore[arg-type]
    ds = YTVISDataset(root / "valid.json", root / "valid" / "JPEGImages")
    bundle = load_for_inference(args.ckpt)
    dots = [o.removeprefix("tracker.") for o in args.overrides]
    tracker = instantiate(
        OmegaConf.merge(OmegaConf.load(ROOT / "conf/tracker/default.yaml"), OmegaConf.from_dotlist(dots))
    )
    model = DetectorFrameModel(bundle.model)
    results: dict[str, list] = {"tracker": [], "oracle identities": []}
    ids_per_object, spanning, unmatched, objects = [], 0, 0, 0
    for clip in VideoDataset(ds):
        h, w = clip.orig_size
        gts = ds.instances[clip.video_id]
        builders = {k: VideoTrackBuilder() for k in results}
        cover: dict[int, set[int]] = {}
        owners: dict[int, set[int]] = {}
        seen: set[int] = set()
        for res in track_video(
            model, [f.image for f in clip], tracker, resize=bundle.resize, top_k=bundle.top_k
        ):
            builders["tracker"].add(res)
            seen.update(res.track_ids)
            gt_rles = [rle_utils.to_compressed(g.segmentations[res.frame_index], h, w) for g in gts]
            present = [i for i, r in enumerate(gt_rles) if r is not None]
            ids = list(res.track_ids)
            if present and res.rles:
                iou = np.asarray(mask_utils.iou(res.rles, [gt_rles[i] for i in present], [0] * len(present)))
                taken: set[int] = set()
                for d in np.argsort(-np.asarray(res.scores)):
                    j = int(iou[d].argmax())
                    if iou[d, j] >= 0.5 and j not in taken:
                        taken.add(j)
                        gid = gts[present[j]].id
                        ids[d] = ORACLE_OFFSET + gid
                        cover.setdefault(gid, set()).add(res.track_ids[d])
                        owners.setdefault(res.track_ids[d], set()).add(gid)
            builders["oracle identities"].add(dataclasses.replace(res, track_ids=ids))
        for k, b in builders.items():
            results[k].extend(b.entries(clip.video_id, ds.label_to_cat_id, num_frames=clip.length))
        objects += len(gts)
        ids_per_object += [len(v) for v in cover.values()]
        spanning += sum(len(v) > 1 for v in owners.values())
        unmatched += len(seen - set(owners))
    print(
        f"{objects} objects, {len(ids_per_object)} found; tracker identities per found object "
        f"{np.mean(ids_per_object):.2f}; identities spanning several objects {spanning}; identities never on "
        f"an object {unmatched}"
    )
    gt = load_gt(root / "valid.json")
    for name, entries in results.items():
        m = evaluate_ytvis(gt, entries, per_category=False)
        print(
            f"{name:18s} tracks {len(entries):4d}  AP {100 * m['AP']:.1f}  AP50 {100 * m['AP50']:.1f}  "
            f"AP75 {100 * m['AP75']:.1f}  AR10 {100 * m['AR10']:.1f}"
        )


if __name__ == "__main__":
    main()
