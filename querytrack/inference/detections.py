"""Per-frame detections handed from the post-processor to the tracker and the track builder."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor


@dataclass
class FrameDetections:
    """Candidates of one frame, in the coordinates of the **original** frame.

    Attributes:
        boxes: ``Tensor[M, 4]`` float32, absolute xyxy in the original frame.
        scores: ``Tensor[M]`` float32, sigmoid class score of the candidate.
        labels: ``Tensor[M]`` int64, contiguous class index ``0..K-1``.
        embeddings: ``Tensor[M, D]`` float32, tracking embeddings.
        frame_index: index of the frame in the video.
        orig_size: ``(height, width)`` of the original frame.
        mask_probs: ``Tensor[M, 28, 28]`` float32 mask probabilities inside the box (before pasting), or None.
        mask_boxes: ``Tensor[M, 4]`` xyxy in the original frame that ``mask_probs`` span, when they differ from
            ``boxes`` (the raw, unclamped box the mask head saw; see ``postprocess_frame(paste_box=...)``);
            None: ``boxes``.
        masks: ``Tensor[M, H, W]`` bool at the original size, or None (not pasted yet / already encoded).
        rles: compressed RLE per candidate (``counts`` str), or None.
        track_ids: ``Tensor[M]`` int64 after tracking, -1 for candidates that got no identity.
        track_labels: ``Tensor[M]`` int64 after tracking, the identity's causal class (-1 without identity).
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    embeddings: Tensor
    frame_index: int
    orig_size: tuple[int, int]
    mask_probs: Tensor | None = None
    mask_boxes: Tensor | None = None
    masks: Tensor | None = None
    rles: list[dict[str, Any]] | None = None
    track_ids: Tensor | None = None
    track_labels: Tensor | None = None

    def __len__(self) -> int:
        return int(self.scores.numel())

    @property
    def paste_boxes(self) -> Tensor:
        """``Tensor[M, 4]`` xyxy: where ``mask_probs`` are pasted (``mask_boxes``, else ``boxes``)."""
        return self.mask_boxes if self.mask_boxes is not None else self.boxes

    def select(self, index: Tensor) -> FrameDetections:
        """Subset by an index or boolean tensor (RLE list subset accordingly)."""
        if index.dtype == torch.bool:
            index = index.nonzero().flatten()
        idx = index.tolist()

        def pick(t: Tensor | None) -> Tensor | None:
            return None if t is None else t[index]

        return replace(
            self,
            boxes=self.boxes[index],
            scores=self.scores[index],
            labels=self.labels[index],
            embeddings=self.embeddings[index],
            mask_probs=pick(self.mask_probs),
            mask_boxes=pick(self.mask_boxes),
            masks=pick(self.masks),
            rles=None if self.rles is None else [self.rles[i] for i in idx],
            track_ids=pick(self.track_ids),
            track_labels=pick(self.track_labels),
        )

    def to(self, device: torch.device | str) -> FrameDetections:
        def mv(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return replace(
            self,
            boxes=self.boxes.to(device),
            scores=self.scores.to(device),
            labels=self.labels.to(device),
            embeddings=self.embeddings.to(device),
            mask_probs=mv(self.mask_probs),
            mask_boxes=mv(self.mask_boxes),
            masks=mv(self.masks),
            track_ids=mv(self.track_ids),
            track_labels=mv(self.track_labels),
        )
