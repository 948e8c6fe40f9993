"""Adapter: a batched detector (``QueryInstDetector`` / ``QueryTrack``) as the streaming loop's ``FrameModel``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from querytrack.data.collate import padded_size
from querytrack.inference.postprocess import RawFrameOutput


class DetectorFrameModel:
    """Run a detector on one frame at a time (``predict_frame``), as :func:`~querytrack.inference.stream.track_video` needs.

    Args:
        detector: a module whose ``forward(images [B,3,Hp,Wp] uint8, image_sizes [B,2])`` returns a
            ``DetectorOutput`` (``QueryInstDetector`` or ``QueryTrack``).
        size_divisibility: frames are zero-padded to a multiple of this (32).
        require_embeddings: raise for a detector without track heads; ``False`` gives every query a zero
            embedding instead (frame AP of a detection-only model: the tracker then links by IoU and class).
    """

    def __init__(
        self, detector: nn.Module, size_divisibility: int = 32, require_embeddings: bool = True
    ) -> None:
        self.detector = detector
        self.size_divisibility = size_divisibility
        self.require_embeddings = require_embeddings

    def predict_frame(self, image: Tensor) -> RawFrameOutput:
        """One ``uint8`` RGB frame ``Tensor[3, h, w]`` → final-stage outputs of its N queries."""
        h, w = int(image.shape[-2]), int(image.shape[-1])
        hp, wp = padded_size([(h, w)], self.size_divisibility)
        batch = F.pad(image, (0, wp - w, 0, hp - h))[None]
        sizes = torch.tensor([[h, w]], dtype=torch.int64, device=image.device)
        out = self.detector(batch, sizes)
        mask_indices = out.mask_indices[0]
        mask_logits = out.mask_logits[0]
        n = out.cls_logits.shape[1]
        position = torch.full((n,), -1, dtype=torch.int64, device=mask_indices.device)
        position[mask_indices] = torch.arange(mask_indices.numel(), device=mask_indices.device)

        # Candidates are drawn only among queries that have masks. In exact arithmetic the top-k (query, class)
        # pairs already lie among the detector's top-k queries; this makes ties (e.g. an untrained model) safe.
        cls_logits = out.cls_logits[0].float().masked_fill((position < 0)[:, None], float("-inf"))

        def masks_of(queries: Tensor) -> Tensor:
            pos = position[queries.to(position.device)]
            if bool((pos < 0).any()):
                raise RuntimeError("a selected query has no mask: raise the detector's mask_topk to >= top_k")
            return mask_logits[pos]

        if out.track_embeddings is None and self.require_embeddings:
            raise RuntimeError("tracking needs a detector with track heads (with_track_head=True)")
        return RawFrameOutput(
            cls_logits=cls_logits,
            boxes=out.boxes[0].float(),
            mask_logits=masks_of,
            embeddings=_embeddings_of_all(out.track_embeddings, mask_indices, n),
            image_size=(h, w),
        )


def _embeddings_of_all(top_embeddings: Tensor | None, mask_indices: Tensor, n: int) -> Tensor:
    """Per-query embeddings ``Tensor[N, D]`` from those of the top-k queries.

    Args:
        top_embeddings: ``Tensor[1, k, D]`` embeddings of the ``mask_indices`` queries (the detector computes no
            others), or ``None`` (a detector without track heads).
        mask_indices: ``Tensor[k]`` int64 their query indices.
        n: N, number of queries.

    Returns:
        ``Tensor[N, D]`` float32: row ``mask_indices[i]`` is ``top_embeddings[0, i]``, the other rows are 0 (those
        queries are never candidates: ``predict_frame`` masks their scores). ``Tensor[N, 1]`` of zeros for
        ``None``.
    """
    if top_embeddings is None:
        return torch.zeros((n, 1), dtype=torch.float32, device=mask_indices.device)
    top = top_embeddings[0].float()
    embeds = top.new_zeros((n, top.shape[1]))
    embeds[mask_indices.to(top.device)] = top
    return embeds
