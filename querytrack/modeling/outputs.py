"""Dataclasses returned by the detector (box format: absolute xyxy in the resized, padded image frame)."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor


@dataclass
class StageOutput:
    """Box-branch output of one dynamic stage.

    Attributes:
        cls_logits: ``Tensor[B, N, K]`` sigmoid classification logits.
        boxes: ``Tensor[B, N, 4]`` decoded boxes b_t, absolute xyxy; carries the gradient of the stage's deltas
            (detach before using them as RoIs / mask targets).
        query: ``Tensor[B, N, C]`` q_t, the query passed to the next stage.
        attn_feats: ``Tensor[B, N, C]`` q*_{t-1} (post self-attention), the query the mask/track heads consume.
    """

    cls_logits: Tensor
    boxes: Tensor
    query: Tensor
    attn_feats: Tensor


@dataclass
class DetectorOutput:
    """Inference output of the detector for a batch of frames (last stage).

    Attributes:
        cls_logits: ``Tensor[B, N, K]`` last-stage classification logits (apply ``sigmoid`` for scores).
        boxes: ``Tensor[B, N, 4]`` absolute xyxy in the resized image (divide by the resize scale for the
            original frame; not clipped).
        mask_indices: ``Tensor[B, k]`` int64, the queries whose masks and track embeddings were computed: the
            top-k queries by their best class score (a superset of the queries of the top-k (query, class) pairs).
        mask_logits: ``Tensor[B, k, K, 28, 28]`` class-specific mask logits inside each query's box; pick the
            channel of the predicted label and paste it into its box.
        track_embeddings: ``Tensor[B, k, D]`` last-stage track embeddings of the ``mask_indices`` queries (in
            that order), or ``None`` for a detector without a track head.
        image_sizes: ``Tensor[B, 2]`` ``(h, w)`` of the valid content (copied from the input).
    """

    cls_logits: Tensor
    boxes: Tensor
    mask_indices: Tensor
    mask_logits: Tensor
    track_embeddings: Tensor | None
    image_sizes: Tensor

    @property
    def scores(self) -> Tensor:
        """``Tensor[B, N, K]`` sigmoid class probabilities."""
        return self.cls_logits.sigmoid()
