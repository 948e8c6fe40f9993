"""Overlays of tracked frames (masks, boxes, class, track id; one stable colour per id) and ID-switch counts."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch import Tensor
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks


def track_colour(track_id: int) -> tuple[int, int, int]:
    """A stable, well-spread RGB colour for a track id (golden-ratio hue steps)."""
    hue = (track_id * 0.6180339887) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return int(r * 255), int(g * 255), int(b * 255)


def overlay(
    frame: Tensor,
    masks: Tensor,
    boxes: Tensor,
    track_ids: Sequence[int],
    labels: Sequence[int],
    class_names: Sequence[str] | None = None,
    alpha: float = 0.5,
) -> Tensor:
    """Draw tracked instances on a frame.

    Args:
        frame: ``Tensor[3, H, W]`` uint8 RGB.
        masks: ``Tensor[n, H, W]`` bool.
        boxes: ``Tensor[n, 4]`` absolute xyxy.
        track_ids: identity per instance (sets the colour).
        labels: contiguous class per instance.
        class_names: names of the classes (default: the index).

    Returns:
        ``Tensor[3, H, W]`` uint8.
    """
    if len(track_ids) == 0:
        return frame.clone()
    colours = [track_colour(int(t)) for t in track_ids]
    out = draw_segmentation_masks(frame, masks.bool(), alpha=alpha, colors=colours)
    names = [class_names[lab] if class_names else str(lab) for lab in labels]
    text = [f"#{t} {n}" for t, n in zip(track_ids, names, strict=True)]
    return draw_bounding_boxes(out, boxes.float(), labels=text, colors=colours, width=2)


def decode_rles(rles: Sequence[dict[str, Any]], height: int, width: int) -> Tensor:
    """Compressed RLEs → ``Tensor[n, H, W]`` bool."""
    if not rles:
        return torch.zeros((0, height, width), dtype=torch.bool)
    arr = mask_utils.decode(list(rles))  # [H, W, n]
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))).bool()


def count_id_switches(
    gt: Sequence[Sequence[dict[str, Any] | None]],
    pred_frames: Sequence[tuple[Sequence[int], Sequence[dict[str, Any]]]],
    iou_threshold: float = 0.5,
) -> int:
    """ID switches: times a ground-truth object is matched to a different track id than at its last match.

    Args:
        gt: ``gt[o][t]``: compressed RLE of object ``o`` in frame ``t`` or ``None``.
        pred_frames: per frame ``(track_ids, rles)`` of the tracked predictions.
        iou_threshold: a GT object and a prediction match when their mask IoU is at least this (best one wins).

    Returns:
        The number of identity switches over the video (CLEAR-MOT style, on masks).
    """
    last: dict[int, int] = {}
    switches = 0
    for t, (ids, rles) in enumerate(pred_frames):
        objs = [(o, seq[t]) for o, seq in enumerate(gt) if t < len(seq) and seq[t] is not None]
        if not objs or not rles:
            continue
        ious = np.asarray(mask_utils.iou([r for _, r in objs], list(rles), [0] * len(rles)))
        ious = ious.reshape(len(objs), len(rles))
        used: set[int] = set()
        for k in np.argsort(-ious.max(axis=1)):
            row = ious[k].copy()
            row[list(used)] = -1.0
            j = int(np.argmax(row))
            if row[j] < iou_threshold:
                continue
            used.add(j)
            o = objs[k][0]
            if o in last and last[o] != ids[j]:
                switches += 1
            last[o] = int(ids[j])
    return switches
