"""Streaming video inference: one frame in, one tracked frame result out, constant memory.

``for frame_result in track_video(model, frames): ...`` runs detector → post-process → tracker → mask paste
→ RLE per frame. Nothing video-sized is kept: the detector's outputs and dense masks of a frame are released
before the next frame is read; what survives a frame is the tracker memory (one embedding, box and class per
identity) and the yielded ``FrameResult`` (RLE strings, a few numbers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor
from torchvision.transforms import v2

from querytrack.core.rle import encode_masks
from querytrack.inference.postprocess import RawFrameOutput, paste_masks, postprocess_frame
from querytrack.inference.tracker import Tracker


@runtime_checkable
class FrameModel(Protocol):
    """What the streaming loop needs from a detector.

    ``predict_frame`` gets one (optionally resized) ``uint8`` RGB image ``Tensor[3, h, w]`` on the model's
    device and returns the final-stage outputs for it (``RawFrameOutput``: cls logits ``[N, K]``, boxes
    ``[N, 4]`` xyxy in the given image's coordinates, mask logits ``[N, K|1, 28, 28]`` or a callable on the
    selected query indices, embeddings ``[N, D]``). It normalises and pads internally and keeps no state
    between frames. The loop calls it under ``torch.inference_mode()``.
    """

    def predict_frame(self, image: Tensor) -> RawFrameOutput: ...


@dataclass
class FrameCandidates:
    """The detector's top-k candidates of one frame *before* tracking (what frame AP scores).

    Attributes:
        labels: contiguous class index per candidate.
        scores: sigmoid class score per candidate.
        rles: compressed RLE per candidate at the original size.
    """

    labels: list[int]
    scores: list[float]
    rles: list[dict[str, Any]]


@dataclass
class FrameResult:
    """Tracked output of one frame (only candidates that got an identity).

    Attributes:
        frame_index: index of the frame in the video.
        track_ids: identity per detection.
        labels: class index of the detection in this frame (contiguous ``0..K-1``).
        scores: detection score.
        track_labels: the identity's causal class (fixed when the identity started).
        boxes: ``Tensor[n, 4]`` float32 xyxy at the original size (CPU).
        rles: compressed RLE (``counts`` str) per detection at the original size.
        candidates: every top-k candidate before tracking (only with ``track_video(candidates=True)``).
    """

    frame_index: int
    track_ids: list[int]
    labels: list[int]
    scores: list[float]
    track_labels: list[int]
    boxes: Tensor
    rles: list[dict[str, Any]]
    candidates: FrameCandidates | None = None


def inference_resize(short_size: int, max_size: int) -> v2.Resize:
    """The test-time resize of every inference path (validation, ``querytrack-eval``, the demo, ONNX): the short
    side to ``short_size``, the long side at most ``max_size``, antialiased (``track_video``'s ``resize``)."""
    return v2.Resize(size=short_size, max_size=max_size, antialias=True)


def track_video(
    model: FrameModel,
    frames: Iterable[Tensor],
    tracker: Tracker | None = None,
    resize: Callable[[Tensor], Tensor] | None = None,
    device: torch.device | str | None = None,
    top_k: int = 10,
    mask_threshold: float = 0.5,
    candidates: bool = False,
    paste_box: str = "raw",
) -> Iterator[FrameResult]:
    """Track instances through a video, frame by frame (a generator; consumes ``frames`` lazily).

    Args:
        model: anything with ``predict_frame`` (see ``FrameModel``).
        frames: original frames, ``uint8`` ``Tensor[3, H, W]``, in temporal order (a list, a decoder, ...).
        tracker: the tracker to use (reset here); default ``Tracker()``.
        resize: optional test-time resize applied to each frame before the model (e.g. short side 360); the
            model's boxes are mapped back to ``(H, W)``.
        device: device the model runs on (frames are moved there); results come back on CPU.
        top_k: candidates per frame (10 as the paper).
        mask_threshold: mask binarisation threshold.
        candidates: also return every top-k candidate before tracking (``FrameResult.candidates``, for frame
            AP); all candidates are then pasted and encoded once and the tracked ones reuse their RLEs.
        paste_box: ``"clamped"`` or ``"raw"``: the box each mask is pasted into (``postprocess_frame``).

    Yields:
        One ``FrameResult`` per input frame.
    """
    tracker = tracker if tracker is not None else Tracker()
    tracker.reset()
    for index, frame in enumerate(frames):
        orig_size = (int(frame.shape[-2]), int(frame.shape[-1]))
        image = resize(frame) if resize is not None else frame
        if device is not None:
            image = image.to(device, non_blocking=True)
        with torch.inference_mode():
            raw = model.predict_frame(image)
            if raw.image_size is None:
                raw.image_size = (int(image.shape[-2]), int(image.shape[-1]))
            det = postprocess_frame(raw, orig_size, index, top_k=top_k, paste=False, paste_box=paste_box).to(
                "cpu"
            )
        del raw, image
        before: FrameCandidates | None = None
        if candidates:
            assert det.mask_probs is not None
            all_rles = encode_masks(
                paste_masks(det.mask_probs, det.paste_boxes, orig_size, mask_threshold).numpy()
            )
            before = FrameCandidates(det.labels.tolist(), det.scores.tolist(), all_rles)
        det = tracker.update(det)
        assert det.track_ids is not None and det.track_labels is not None and det.mask_probs is not None
        keep = det.track_ids >= 0
        kept = det.select(keep)
        if before is not None:
            rles = [before.rles[i] for i in keep.nonzero().flatten().tolist()]
        else:
            masks = paste_masks(kept.mask_probs, kept.paste_boxes, orig_size, mask_threshold)  # type: ignore[arg-type]
            rles = encode_masks(masks.numpy())
            del masks
        del det
        yield FrameResult(
            frame_index=index,
            track_ids=kept.track_ids.tolist(),  # type: ignore[union-attr]
            labels=kept.labels.tolist(),
            scores=kept.scores.tolist(),
            track_labels=kept.track_labels.tolist(),  # type: ignore[union-attr]
            boxes=kept.boxes.clone(),
            rles=rles,
            candidates=before,
        )
