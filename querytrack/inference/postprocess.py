"""Per-frame post-processing: QueryInst top-k candidates, mapped back to the original frame.

QueryInst inference (hustvl/QueryInst ``mmdet/models/roi_heads/query_roi_head.py`` ``simple_test``; mmdet 3.x
``sparse_roi_head.py`` ``predict_bbox``): sigmoid class scores of the last stage, flattened over N queries × K
classes, top-k; label = flat index % K, query = flat index // K (a query may appear with two labels). Boxes are
divided by the resize factor; 28×28 mask logits of the chosen (query, label) are pasted into the box by bilinear
interpolation and thresholded at 0.5 (mmdet ``mask_thr_binary``). QueryTrack keeps the top 10 per frame.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from querytrack.inference.detections import FrameDetections

MaskFn = Callable[[Tensor], Tensor]


@dataclass
class RawFrameOutput:
    """What the detector returns for one frame (final stage, one image, no batch dimension).

    Attributes:
        cls_logits: ``Tensor[N, K]`` class logits (sigmoid / focal, no background column).
        boxes: ``Tensor[N, 4]`` absolute xyxy in the coordinates of the image given to the model (resized,
            before padding).
        mask_logits: ``Tensor[N, K or 1, 28, 28]`` mask logits for every query, **or** a callable taking the
            selected query indices ``Tensor[k]`` and returning ``Tensor[k, K or 1, 28, 28]`` (QueryInst runs its
            mask head only on the kept boxes).
        embeddings: ``Tensor[N, D]`` tracking embeddings.
        image_size: ``(h, w)`` of the valid (resized, un-padded) content the boxes refer to; ``None`` means the
            size of the image given to the model.
    """

    cls_logits: Tensor
    boxes: Tensor
    mask_logits: Tensor | MaskFn
    embeddings: Tensor
    image_size: tuple[int, int] | None = None


def _bilinear_weights(coords: Tensor, size: int) -> Tensor:
    """Bilinear sampling weights of ``grid_sample(align_corners=False, padding_mode="zeros")`` along one axis.

    Args:
        coords: ``Tensor[n]`` normalised coordinates (-1 = first cell's outer edge, 1 = last cell's outer edge).
        size: number of source cells.

    Returns:
        ``Tensor[n, size]``: row i holds the (at most two) weights of output i; taps outside the source are
        dropped, as zero padding does.
    """
    pos = ((coords + 1) * size - 1) / 2
    i0 = pos.floor()
    w1 = pos - i0
    i0 = i0.long()
    out = torch.zeros((coords.numel(), size + 2), dtype=coords.dtype, device=coords.device)
    rows = torch.arange(coords.numel(), device=coords.device)
    # shift by one so that taps at -1 and size land in the two guard columns, then drop those
    out[rows, (i0 + 1).clamp(0, size + 1)] += 1 - w1
    out[rows, (i0 + 2).clamp(0, size + 1)] += w1
    return out[:, 1 : size + 1]


def paste_masks(
    mask_probs: Tensor, boxes: Tensor, image_size: tuple[int, int], threshold: float = 0.5
) -> Tensor:
    """Paste box-relative mask probabilities into full frames (bilinear, pixel centres, zero outside the box).

    The h×w grid spans the box exactly: pixel ``x`` (centre ``x + 0.5``) samples the mask at normalised
    coordinate ``2 (x + 0.5 - x0) / (x1 - x0) - 1`` — the same sampling as ``F.grid_sample(align_corners=False)``
    used by detectron2 / mmdet ``_do_paste_mask``, computed as two small matrix products (bilinear is separable)
    over the box's pixel range only.

    The result is a ``[M, H, W]`` view of a ``[M, W, H]`` buffer, i.e. each mask is stored column-major, the
    layout ``pycocotools.mask.encode`` needs, so RLE encoding copies nothing.

    Args:
        mask_probs: ``Tensor[M, h, w]`` probabilities in [0, 1].
        boxes: ``Tensor[M, 4]`` xyxy in the target frame.
        image_size: ``(H, W)`` of the target frame.
        threshold: pixels with probability ``>= threshold`` are foreground.

    Returns:
        ``Tensor[M, H, W]`` bool (a transposed view, see above).
    """
    H, W = image_size
    M, mh, mw = mask_probs.shape
    out = torch.zeros((M, W, H), dtype=torch.bool, device=mask_probs.device)
    probs = mask_probs.float()
    for i in range(M):
        x0, y0, x1, y1 = boxes[i].tolist()
        xa, xb = max(math.floor(x0), 0), min(math.ceil(x1), W)
        ya, yb = max(math.floor(y0), 0), min(math.ceil(y1), H)
        if xb <= xa or yb <= ya:
            continue
        xs = torch.arange(xa, xb, device=probs.device, dtype=torch.float32) + 0.5
        ys = torch.arange(ya, yb, device=probs.device, dtype=torch.float32) + 0.5
        wx = _bilinear_weights((xs - x0) / max(x1 - x0, 1e-6) * 2 - 1, mw)  # [w_r, mw]
        wy = _bilinear_weights((ys - y0) / max(y1 - y0, 1e-6) * 2 - 1, mh)  # [h_r, mh]
        region_t = wx @ probs[i].T @ wy.T  # [w_r, h_r] = (wy @ P @ wx.T).T
        out[i, xa:xb, ya:yb] = region_t >= threshold
    return out.transpose(1, 2)


@torch.no_grad()
def postprocess_frame(
    raw: RawFrameOutput,
    orig_size: tuple[int, int],
    frame_index: int = 0,
    top_k: int = 10,
    mask_threshold: float = 0.5,
    paste: bool = True,
    paste_box: str = "raw",
) -> FrameDetections:
    """Top-k candidates of one frame at the original resolution.

    Args:
        raw: the detector's final-stage outputs for the frame (see ``RawFrameOutput``).
        orig_size: ``(H, W)`` of the original frame.
        frame_index: index of the frame in its video.
        top_k: candidates kept (10 in QueryTrack, as MaskTrack R-CNN's max 10 per frame).
        mask_threshold: binarisation threshold of the pasted masks.
        paste: paste the masks now (``masks``); if False only ``mask_probs`` are kept, to be pasted later
            for the candidates that survive tracking (what the streaming loop does).
        paste_box: the box the 28×28 mask is pasted into. ``"clamped"``: the box clamped to the frame (the
            box reported for the candidate; mmdetection's mask *training* targets are cropped with it too).
            ``"raw"``: the unclamped box, the region the mask head's RoIAlign actually sampled (mmdetection's
            inference ``_do_paste_mask`` pastes into it); kept in ``mask_boxes``, the reported box stays
            clamped. Default ``"raw"``: it is the reference's inference, and on a trained synthetic checkpoint
            it scored at least as well (``experiments/mask_paste/README.md``).

    Returns:
        ``FrameDetections`` with ``k = min(top_k, N·K)`` candidates sorted by score.
    """
    N, K = raw.cls_logits.shape
    h, w = raw.image_size if raw.image_size is not None else orig_size
    scores, flat = raw.cls_logits.float().sigmoid().flatten().topk(min(top_k, N * K))
    query = torch.div(flat, K, rounding_mode="floor")
    labels = flat % K
    H, W = orig_size
    scale = torch.tensor([W / w, H / h, W / w, H / h], dtype=torch.float32, device=scores.device)
    if paste_box not in ("clamped", "raw"):
        raise ValueError(f"paste_box must be 'clamped' or 'raw', not {paste_box!r}")
    raw_boxes = raw.boxes[query].float() * scale
    boxes = raw_boxes.clone()
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, W)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, H)
    logits = raw.mask_logits(query) if callable(raw.mask_logits) else raw.mask_logits[query]
    channel = labels if logits.shape[1] > 1 else torch.zeros_like(labels)
    probs = logits[torch.arange(len(query), device=logits.device), channel].float().sigmoid()
    det = FrameDetections(
        boxes=boxes,
        scores=scores,
        labels=labels.long(),
        embeddings=raw.embeddings[query].float(),
        frame_index=frame_index,
        orig_size=(int(H), int(W)),
        mask_probs=probs,
        mask_boxes=raw_boxes if paste_box == "raw" else None,
    )
    if paste:
        det.masks = paste_masks(probs, det.paste_boxes, det.orig_size, mask_threshold)
    return det
