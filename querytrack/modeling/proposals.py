"""Learned proposal boxes and proposal features (QueryInst / Sparse R-CNN ``EmbeddingRPNHead``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import box_convert


class LearnedProposals(nn.Module):
    """``N`` learned boxes and ``N`` learned query features shared by all images.

    Parameter names match mmdet's ``rpn_head`` (``init_proposal_bboxes``, ``init_proposal_features``).

    Args:
        num_queries: N (100 or 300 in QueryInst).
        hidden_dim: query width d (256).
    """

    def __init__(self, num_queries: int = 100, hidden_dim: int = 256) -> None:
        super().__init__()
        self.num_queries = num_queries
        self.hidden_dim = hidden_dim
        self.init_proposal_bboxes = nn.Embedding(num_queries, 4)
        self.init_proposal_features = nn.Embedding(num_queries, hidden_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Boxes start as the whole image (normalised cx, cy = 0.5, w, h = 1); features keep N(0, 1)."""
        with torch.no_grad():
            self.init_proposal_bboxes.weight[:, :2].fill_(0.5)
            self.init_proposal_bboxes.weight[:, 2:].fill_(1.0)

    def forward(self, image_sizes: Tensor) -> tuple[Tensor, Tensor]:
        """Decode the proposals for a batch.

        Args:
            image_sizes: ``Tensor[B, 2]`` ``(h, w)`` of the valid (resized, un-padded) image content.

        Returns:
            boxes: ``Tensor[B, N, 4]`` absolute xyxy, scaled by the valid size (not the padded size); gradient
                flows into ``init_proposal_bboxes``.
            features: ``Tensor[B, N, d]`` query features.
        """
        b = image_sizes.shape[0]
        boxes = box_convert(self.init_proposal_bboxes.weight, "cxcywh", "xyxy")
        hw = image_sizes.to(boxes.dtype)
        whwh = torch.stack([hw[:, 1], hw[:, 0], hw[:, 1], hw[:, 0]], dim=1)  # [B, 4]
        boxes = boxes[None] * whwh[:, None, :]
        feats = self.init_proposal_features.weight[None].expand(b, -1, -1)
        return boxes, feats
