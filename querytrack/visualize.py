"""Overlays of tracked frames (masks, boxes, class, track id; one stable colour per id) and ID-switch counts."""

from __future__ import annotations

import colorsys
import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from pycocotools import mask as mask_utils
from torch import Tensor
from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

from querytrack.labels import draw_labels


@functools.cache
def label_font() -> str | None:
    """Path of a TrueType font for sized labels (matplotlib's bundled DejaVu Sans), or None."""
    try:
        from matplotlib import font_manager

        return str(font_manager.findfont("DejaVu Sans", fallback_to_default=True))
    except Exception:  # no matplotlib / no font: torchvision's fixed-size default font
        return None


def render_scale(height: int, width: int, min_short_side: int = 384) -> int:
    """Integer upscaling that brings the short side to at least ``min_short_side`` (1 for large frames)."""
    return max(1, -(-min_short_side // max(1, min(height, width))))


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
    scale: int = 1,
) -> Tensor:
    """Draw tracked instances on a frame, optionally upscaled so that small frames stay readable.

    Labels (``#id class``) are drawn in a font sized to the rendered frame (~1/24 of its short side, 8 px at
    least) on a filled background of the track's colour with black or white text (``querytrack.labels``),
    inside the frame and clear of each other; boxes get a line width that grows with the frame.

    Args:
        frame: ``Tensor[3, H, W]`` uint8 RGB.
        masks: ``Tensor[n, H, W]`` bool.
        boxes: ``Tensor[n, 4]`` absolute xyxy in the frame's pixels.
        track_ids: identity per instance (sets the colour).
        labels: contiguous class per instance.
        class_names: names of the classes (default: the index).
        alpha: mask opacity.
        scale: integer upscaling of the rendering (e.g. ``render_scale(H, W)``); masks nearest, image bilinear.

    Returns:
        ``Tensor[3, scale·H, scale·W]`` uint8.
    """
    if scale > 1:
        frame = F.interpolate(frame[None].float(), scale_factor=scale, mode="bilinear", align_corners=False)[
            0
        ]
        frame = frame.round().clamp(0, 255).to(torch.uint8)
        if masks.numel():
            masks = F.interpolate(masks[None].float(), scale_factor=scale, mode="nearest")[0] > 0.5
        else:
            masks = masks.new_zeros((0, *frame.shape[-2:]))
        boxes = boxes.float() * scale
    if len(track_ids) == 0:
        return frame.clone()
    colours = [track_colour(int(t)) for t in track_ids]
    out = draw_segmentation_masks(frame, masks.bool(), alpha=alpha, colors=colours)
    names = [class_names[lab] if class_names else str(lab) for lab in labels]
    text = [f"#{t} {n}" for t, n in zip(track_ids, names, strict=True)]
    short = min(out.shape[-2:])
    out = draw_bounding_boxes(out, boxes.float(), colors=colours, width=max(1, short // 192))
    image = Image.fromarray(out.permute(1, 2, 0).contiguous().numpy())
    draw_labels(image, text, boxes.tolist(), colours, label_font(), max(8, short // 24))
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)


def frame_strip(frames: Sequence[Tensor], count: int = 6, gap: int = 4) -> Tensor:
    """``count`` evenly spaced frames side by side (white gaps): a still summary of a tracked clip.

    Args:
        frames: rendered frames ``Tensor[3, H, W]`` uint8, all the same size.
        count: frames in the strip (fewer if the clip is shorter).
        gap: white pixels between frames.

    Returns:
        ``Tensor[3, H, k·W + (k-1)·gap]`` uint8.
    """
    if not frames:
        raise ValueError("no frames to put in a strip")
    k = min(count, len(frames))
    picks = np.linspace(0, len(frames) - 1, k).round().astype(int).tolist()
    h = frames[0].shape[-2]
    parts: list[Tensor] = []
    for i, idx in enumerate(picks):
        if i:
            parts.append(torch.full((3, h, gap), 255, dtype=torch.uint8))
        parts.append(frames[idx])
    return torch.cat(parts, dim=2)


def save_png(image: Tensor, path: Any) -> None:
    """Write ``Tensor[3, H, W]`` uint8 RGB as a PNG."""
    Image.fromarray(image.permute(1, 2, 0).contiguous().numpy()).save(path)


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
