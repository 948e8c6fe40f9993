"""HOTA / DetA / AssA for YouTube-VIS files through the ``trackeval`` package (its ``YouTubeVIS`` dataset).

The adapter writes the folder layout trackeval expects into a temporary directory
(``gt/youtube_vis_<split>/gt.json`` and ``trackers/youtube_vis_<split>/<name>/data/results.json``) after:

* converting GT masks to *uncompressed* RLE (trackeval's GT loader rejects string counts) and filling the
  fields it requires (``height``/``width``/``areas``/``iscrowd`` per annotation, ``file_names`` whose first path
  component names the video);
* renaming categories ``cls<id>`` (trackeval lower-cases names when selecting classes);
* **empty masks**: by default a result frame whose mask is empty becomes ``None`` (absent), like the official AP
  evaluator where an empty mask adds nothing; trackeval alone would count it as a detection (false positive).
  Pass ``empty_masks="detection"`` to keep trackeval's behaviour;
* truncating / padding each result's ``segmentations`` to the video length (AP evaluator pairs frames by ``zip``);
* evaluating only the categories that have GT, so the class average is over those (trackeval would add 0 for
  every category without GT); results of other categories are ignored, as in AP.

trackeval prepares every (video, class) pair, even when the class is in neither the ground truth nor the results
of that video (18,000 pairs for 450 videos and 40 classes; cost in ``docs/benchmarks.md``). Such a pair adds
nothing: its HOTA counts are all 0. ``_present_classes_only`` hands trackeval an empty sequence for it without the work
(equal results, tested).

HOTA is averaged over trackeval's 19 localisation thresholds (α = 0.05…0.95), class-averaged
(``cls_comb_cls_av``); the detection-averaged variant is returned with the ``_det_av`` suffix. Scores are not used
by HOTA and every result is counted (no top-100 cut). Matching is per frame (not the video IoU of AP).
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any, Literal

import numpy as np

from querytrack.core.rle import rle_area, to_compressed, to_uncompressed_many
from querytrack.evaluation.io import PathOrObj, load_gt, load_results, video_num_frames

_SPLIT = "querytrack"
_TRACKER = "querytrack"


def _prepare_gt(gt: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    videos = {v["id"]: v for v in gt["videos"]}
    new_videos = [
        {**v, "file_names": [f"v{v['id']}/{i:05d}.jpg" for i in range(video_num_frames(v))]}
        for v in gt["videos"]
    ]
    anns, with_gt, masks = [], set(), []
    for ann in gt.get("annotations", []):
        v = videos.get(ann["video_id"])
        if v is None:
            continue
        h, w = v["height"], v["width"]
        segs = [to_compressed(s, h, w) for s in ann["segmentations"]]
        areas = ann.get("areas") or [rle_area(s) if s is not None else None for s in segs]
        masks += [s for s in segs if s is not None]
        anns.append(
            {
                **ann,
                "segmentations": segs,
                "areas": areas,
                "iscrowd": ann.get("iscrowd", 0),
                "height": h,
                "width": w,
            }
        )
        with_gt.add(ann["category_id"])
    uncompressed = iter(to_uncompressed_many(masks))  # in one batch, in the order collected
    for ann in anns:
        ann["segmentations"] = [None if s is None else next(uncompressed) for s in ann["segmentations"]]
    cats = [{**c, "name": f"cls{c['id']}"} for c in gt["categories"]]
    classes = [c["name"] for c in cats if c["id"] in with_gt]
    return {"videos": new_videos, "annotations": anns, "categories": cats}, classes


def _compressed_str(seg: Any) -> Any:
    """A result mask as trackeval reads it: compressed RLE with ``str`` counts (uncompressed ones converted)."""
    if not seg or isinstance(seg.get("counts"), str):
        return seg
    rle = to_compressed(seg, *seg["size"])
    assert rle is not None
    counts = rle["counts"]
    return {
        "size": list(rle["size"]),
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def _prepare_results(
    gt: dict[str, Any], results: list[dict[str, Any]], empty_masks: Literal["absent", "detection"]
) -> list[dict[str, Any]]:
    lengths = {v["id"]: video_num_frames(v) for v in gt["videos"]}
    out = []
    for r in results:
        n = lengths.get(r["video_id"])
        if n is None:
            continue
        segs = list(r["segmentations"][:n]) + [None] * max(0, n - len(r["segmentations"]))
        segs = [_compressed_str(s) for s in segs]
        if empty_masks == "absent":
            segs = [s if (s and rle_area(s) > 0) else None for s in segs]
        out.append({**r, "segmentations": segs})
    return out


def _present_classes_only(base: type) -> type:
    """``base`` (trackeval's ``YouTubeVIS`` dataset) whose preprocessing returns an empty sequence at once for a
    class absent from both the ground truth and the results of the video (what the full preprocessing gives
    then, minus the per-frame work)."""

    class PresentClassesOnly(base):  # type: ignore[misc, valid-type]
        _present: dict[str, set[int]]  # per sequence: the class ids in its ground truth or results

        def get_preprocessed_seq_data(self, raw_data: dict[str, Any], cls: str) -> dict[str, Any]:
            cls_id = self.class_name_to_class_id[cls]
            if not hasattr(self, "_present"):
                self._present = {}
            present = self._present.get(raw_data["seq"])
            if present is None:
                ids = [np.atleast_1d(c) for c in (*raw_data["gt_classes"], *raw_data["tracker_classes"])]
                present = set(np.concatenate(ids).tolist()) if ids else set()
                self._present[raw_data["seq"]] = present
            if cls_id in present:
                return super().get_preprocessed_seq_data(raw_data, cls)  # type: ignore[no-any-return]
            n = raw_data["num_timesteps"]
            none = np.zeros(0, dtype=int)
            data: dict[str, Any] = {
                "gt_ids": [none] * n,
                "tracker_ids": [none] * n,
                "gt_dets": [[] for _ in range(n)],
                "tracker_dets": [[] for _ in range(n)],
                "similarity_scores": [np.zeros((0, 0))] * n,
                "num_tracker_dets": 0,
                "num_gt_dets": 0,
                "num_tracker_ids": 0,
                "num_gt_ids": 0,
                "num_timesteps": n,
                "seq": raw_data["seq"],
            }
            for key in ("gt_tracks", "gt_track_ids", "gt_track_areas", "gt_track_iscrowd"):
                data[key] = raw_data[f"classes_to_{key}"][cls_id]
            for key in ("dt_tracks", "dt_track_ids", "dt_track_areas", "dt_track_scores"):
                data[key] = raw_data[f"classes_to_{key}"][cls_id]
            data["iou_type"] = "mask"
            return data

    return PresentClassesOnly


def evaluate_hota(
    gt: PathOrObj,
    results: PathOrObj,
    empty_masks: Literal["absent", "detection"] = "absent",
    per_category: bool = False,
) -> dict[str, float]:
    """HOTA, DetA, AssA (mean over α) of a YouTube-VIS results file.

    The inputs must be valid (``evaluate_ytvis`` validates both before calling this): pycocotools and trackeval
    see every mask, and malformed RLE strings make them loop or abort.

    Args:
        gt: ground-truth json path or dict.
        results: results json path or list.
        empty_masks: ``"absent"`` (default, matches AP) or ``"detection"`` (trackeval's own reading).
        per_category: also return ``HOTA/<category id>``.

    Returns:
        ``{"HOTA", "DetA", "AssA", "HOTA_det_av", "DetA_det_av", "AssA_det_av"}`` (+ per category); NaN when
        the GT has no annotation.
    """
    import trackeval

    gt_d = load_gt(gt)
    gt_t, classes = _prepare_gt(gt_d)
    keys = ("HOTA", "DetA", "AssA")
    if not classes:
        return {k: float("nan") for k in (*keys, *(f"{k}_det_av" for k in keys))}
    res_t = _prepare_results(gt_d, load_results(results), empty_masks)
    with tempfile.TemporaryDirectory() as tmp:
        gt_dir = Path(tmp, "gt", f"youtube_vis_{_SPLIT}")
        tr_dir = Path(tmp, "trackers", f"youtube_vis_{_SPLIT}", _TRACKER, "data")
        gt_dir.mkdir(parents=True)
        tr_dir.mkdir(parents=True)
        (gt_dir / "gt.json").write_text(json.dumps(gt_t))
        (tr_dir / "results.json").write_text(json.dumps(res_t))
        ds_cfg = {
            "GT_FOLDER": str(Path(tmp, "gt")) + "/",
            "TRACKERS_FOLDER": str(Path(tmp, "trackers")) + "/",
            "OUTPUT_FOLDER": str(Path(tmp, "out")),
            "SPLIT_TO_EVAL": _SPLIT,
            "TRACKERS_TO_EVAL": [_TRACKER],
            "CLASSES_TO_EVAL": classes,
            "PRINT_CONFIG": False,
        }
        ev_cfg = {
            "USE_PARALLEL": False,
            "PRINT_RESULTS": False,
            "PRINT_CONFIG": False,
            "TIME_PROGRESS": False,
            "OUTPUT_SUMMARY": False,
            "OUTPUT_DETAILED": False,
            "PLOT_CURVES": False,
            "LOG_ON_ERROR": None,
        }
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator = trackeval.Evaluator(ev_cfg)
            dataset = _present_classes_only(trackeval.datasets.YouTubeVIS)(ds_cfg)
            res, _ = evaluator.evaluate([dataset], [trackeval.metrics.HOTA()])
    combined = res[dataset.get_name()][_TRACKER]["COMBINED_SEQ"]
    out: dict[str, float] = {}
    for k in keys:
        out[k] = float(np.mean(combined["cls_comb_cls_av"]["HOTA"][k]))
        out[f"{k}_det_av"] = float(np.mean(combined["cls_comb_det_av"]["HOTA"][k]))
    if per_category:
        for name in classes:
            out[f"HOTA/{name[3:]}"] = float(np.mean(combined[name]["HOTA"]["HOTA"]))
    return out
