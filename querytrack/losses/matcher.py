"""Hungarian matcher with QueryInst's costs (2 · focal + 5 · L1 on normalised xyxy + 2 · (−GIoU)).

Sources: hustvl/QueryInst ``mmdet/core/bbox/assigners/hungarian_assigner.py`` and
``mmdet/core/bbox/match_costs/match_cost.py`` (FocalLossCost α 0.25, γ 2, ε 1e-12; BBoxL1Cost on boxes normalised
by the image size; IoUCost = −GIoU); batching as in DETR ``models/matcher.py`` (one cost matrix over the
concatenated targets, split per image).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor, nn
from torchvision.ops import generalized_box_iou


@dataclass
class Positives:
    """Matched (query, ground truth) pairs of a batch, flattened over images.

    Attributes:
        batch_idx: ``Tensor[M]`` int64 image index.
        query_idx: ``Tensor[M]`` int64 query index within the image.
        gt_idx: ``Tensor[M]`` int64 ground-truth index within the image's target.
        gt_global_idx: ``Tensor[M]`` int64 index into the targets concatenated over the batch.
    """

    batch_idx: Tensor
    query_idx: Tensor
    gt_idx: Tensor
    gt_global_idx: Tensor

    def __len__(self) -> int:
        return int(self.batch_idx.numel())

    @staticmethod
    def from_matches(matches: list[tuple[Tensor, Tensor]], num_gts: list[int]) -> Positives:
        """Flatten per-image ``(query_idx, gt_idx)`` pairs (``num_gts[i]`` ground truths in image i)."""
        device = matches[0][0].device if matches else torch.device("cpu")
        offsets = torch.tensor([0, *num_gts], dtype=torch.int64).cumsum(0).tolist()
        b = [torch.full_like(q, i) for i, (q, _) in enumerate(matches)]
        q = [q for q, _ in matches]
        g = [g for _, g in matches]
        gg = [g + offsets[i] for i, (_, g) in enumerate(matches)]

        def cat(xs: list[Tensor]) -> Tensor:
            return torch.cat(xs) if xs else torch.zeros(0, dtype=torch.int64, device=device)

        return Positives(batch_idx=cat(b), query_idx=cat(q), gt_idx=cat(g), gt_global_idx=cat(gg))


def focal_cost(
    logits: Tensor, labels: Tensor, alpha: float = 0.25, gamma: float = 2.0, eps: float = 1e-12
) -> Tensor:
    """Focal classification cost (mmdet ``FocalLossCost``).

    Args:
        logits: ``Tensor[P, K]``.
        labels: ``Tensor[G]`` int64 class of each ground truth.

    Returns:
        ``Tensor[P, G]`` = pos − neg cost of predicting each GT's class.
    """
    p = logits.sigmoid()
    neg = -(1 - p + eps).log() * (1 - alpha) * p.pow(gamma)
    pos = -(p + eps).log() * alpha * (1 - p).pow(gamma)
    return pos[:, labels] - neg[:, labels]


class HungarianMatcher(nn.Module):
    """One-to-one assignment of queries to ground truths per image.

    Args:
        cost_class: focal-cost weight (2).
        cost_bbox: L1 weight on normalised xyxy boxes (5).
        cost_giou: −GIoU weight (2).
        focal_alpha: α of the focal cost (0.25).
        focal_gamma: γ of the focal cost (2).
    """

    def __init__(
        self,
        cost_class: float = 2.0,
        cost_bbox: float = 5.0,
        cost_giou: float = 2.0,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
    ) -> None:
        super().__init__()
        self.cost_class = cost_class
        self.cost_bbox = cost_bbox
        self.cost_giou = cost_giou
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma

    @torch.no_grad()
    def cost_matrix(
        self,
        cls_logits: Tensor,
        boxes: Tensor,
        image_sizes: Tensor,
        gt_labels: list[Tensor],
        gt_boxes: list[Tensor],
    ) -> Tensor:
        """Cost of every query against every ground truth of the batch (fp32).

        Args:
            cls_logits: ``Tensor[B, N, K]``.
            boxes: ``Tensor[B, N, 4]`` absolute xyxy.
            image_sizes: ``Tensor[B, 2]`` valid ``(h, w)``, the L1 normaliser.
            gt_labels: per image ``Tensor[G_i]`` int64.
            gt_boxes: per image ``Tensor[G_i, 4]`` absolute xyxy.

        Returns:
            ``Tensor[B, N, ΣG_i]``; only the block ``[i, :, G_<i : G_≤i]`` is used for image i.
        """
        b, n, _ = cls_logits.shape
        logits = cls_logits.detach().float().flatten(0, 1)
        pred = boxes.detach().float().flatten(0, 1)
        hw = image_sizes.to(pred.device).float()
        whwh = torch.stack([hw[:, 1], hw[:, 0], hw[:, 1], hw[:, 0]], dim=1)  # [B, 4]
        labels = torch.cat(gt_labels).to(pred.device)
        tgt = torch.cat(gt_boxes).to(pred.device).float()
        tgt_whwh = torch.cat([whwh[i].expand(len(g), 4) for i, g in enumerate(gt_labels)])
        pred_norm = pred / whwh.repeat_interleave(n, dim=0)
        c = self.cost_class * focal_cost(logits, labels, self.focal_alpha, self.focal_gamma)
        c = c + self.cost_bbox * torch.cdist(pred_norm, tgt / tgt_whwh, p=1)
        c = c - self.cost_giou * generalized_box_iou(pred, tgt)
        return c.view(b, n, -1)

    @torch.no_grad()
    def forward(
        self,
        cls_logits: Tensor,
        boxes: Tensor,
        image_sizes: Tensor,
        gt_labels: list[Tensor],
        gt_boxes: list[Tensor],
    ) -> list[tuple[Tensor, Tensor]]:
        """Match each image's queries to its ground truths.

        Args: see ``cost_matrix``.

        Returns:
            Per image ``(query_idx, gt_idx)``, both ``Tensor[min(N, G_i)]`` int64 on the device of ``boxes``,
            sorted by query index.
        """
        device = boxes.device
        sizes = [len(g) for g in gt_labels]
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        if sum(sizes) == 0:
            return [(empty, empty) for _ in sizes]
        cost = self.cost_matrix(cls_logits, boxes, image_sizes, gt_labels, gt_boxes).cpu()
        if not torch.isfinite(cost).all():
            raise FloatingPointError("non-finite matching cost (NaN/inf predictions or degenerate boxes)")
        out: list[tuple[Tensor, Tensor]] = []
        for i, block in enumerate(cost.split(sizes, dim=-1)):
            if sizes[i] == 0:
                out.append((empty, empty))
                continue
            q, g = linear_sum_assignment(block[i].numpy())
            out.append(
                (
                    torch.as_tensor(q, dtype=torch.int64, device=device),
                    torch.as_tensor(g, dtype=torch.int64, device=device),
                )
            )
        return out
