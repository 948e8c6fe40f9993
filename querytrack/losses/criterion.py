"""Per-stage detection losses of QueryInst: focal classification, L1 + GIoU box, dice mask.

Sources: hustvl/QueryInst ``mmdet/models/roi_heads/bbox_heads/dii_head.py`` (``loss``),
``mmdet/models/roi_heads/mask_heads/dynamic_mask_head.py`` (``loss``, dice), ``mmdet/core/mask/mask_target.py``
(mask targets on the predicted boxes) and ``configs/queryinst/queryinst_r50_fpn_1x_coco.py`` (weights 2 / 5 / 2 / 8,
``stage_loss_weights = [1] * 6``); see docs/method.md §1 and §6.1.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torchvision.ops import generalized_box_iou_loss, roi_align, sigmoid_focal_loss

from querytrack.losses.matcher import Positives
from querytrack.types import FrameTarget, make_rois


def reduce_num_positives(num: int, device: torch.device) -> float:
    """Mean over ranks of ``num`` (all-reduce only if torch.distributed is initialised), clamped ≥ 1."""
    t = torch.tensor(float(num), device=device)
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(t)
        t = t / dist.get_world_size()
    return max(float(t.item()), 1.0)


def dice_loss(logits: Tensor, targets: Tensor, eps: float = 1e-5) -> Tensor:
    """V-Net dice loss per instance, ``1 − 2 Σ p t / (Σ p² + Σ t² + ε)`` (mmdet ``DiceLoss``, ``naive_dice=False``).

    Args:
        logits: ``Tensor[M, H, W]``.
        targets: ``Tensor[M, H, W]`` in {0, 1}.

    Returns:
        ``Tensor[M]``.
    """
    p = logits.sigmoid().flatten(1)
    t = targets.flatten(1).to(p.dtype)
    num = 2 * (p * t).sum(1)
    den = (p * p).sum(1) + eps + (t * t).sum(1) + eps
    return 1 - num / den


def mask_targets(gt_masks: Tensor, boxes: Tensor, gt_index: Tensor, size: int = 28) -> Tensor:
    """Binary mask targets cropped from the GT masks on the (detached) predicted boxes.

    Args:
        gt_masks: ``Tensor[G, H, W]`` bool, all GT masks of the batch (same padded canvas).
        boxes: ``Tensor[M, 4]`` absolute xyxy predicted boxes of the positives.
        gt_index: ``Tensor[M]`` int64 row of ``gt_masks`` assigned to each positive.
        size: output side (28).

    Returns:
        ``Tensor[M, size, size]`` float in {0, 1} (RoIAlign with ``aligned=True``, thresholded at 0.5).
    """
    if boxes.shape[0] == 0:
        return boxes.new_zeros((0, size, size))
    h, w = gt_masks.shape[-2:]
    b = boxes.detach().float().clone()
    b[:, 0::2] = b[:, 0::2].clamp(0, w)
    b[:, 1::2] = b[:, 1::2].clamp(0, h)
    rois = make_rois(gt_index, b)
    crops = roi_align(gt_masks[:, None].float(), rois, output_size=size, spatial_scale=1.0, aligned=True)
    return (crops[:, 0] >= 0.5).float()


class DetectionCriterion(nn.Module):
    """QueryInst's per-stage losses on matched queries.

    Call ``stage_losses`` once per stage; it returns the *unweighted* losses; ``weighted`` applies the loss and
    stage weights and names them ``s{t}.loss_cls`` etc.

    Args:
        num_classes: K.
        loss_cls_weight: focal weight (2).
        loss_bbox_weight: L1 weight (5).
        loss_iou_weight: GIoU weight (2).
        loss_mask_weight: dice weight (8).
        stage_loss_weights: weight per stage (QueryInst: ``[1] * 6``); ``None`` means all 1.
        focal_alpha: α (0.25).
        focal_gamma: γ (2).
        mask_size: mask target side (28).
    """

    def __init__(
        self,
        num_classes: int,
        loss_cls_weight: float = 2.0,
        loss_bbox_weight: float = 5.0,
        loss_iou_weight: float = 2.0,
        loss_mask_weight: float = 8.0,
        stage_loss_weights: list[float] | None = None,
        focal_alpha: float = 0.25,
        focal_gamma: float = 2.0,
        mask_size: int = 28,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.weights = {
            "loss_cls": loss_cls_weight,
            "loss_bbox": loss_bbox_weight,
            "loss_iou": loss_iou_weight,
            "loss_mask": loss_mask_weight,
        }
        self.stage_loss_weights = stage_loss_weights
        self.focal_alpha = focal_alpha
        self.focal_gamma = focal_gamma
        self.mask_size = mask_size

    def stage_weight(self, stage: int) -> float:
        return 1.0 if self.stage_loss_weights is None else float(self.stage_loss_weights[stage])

    def stage_losses(
        self,
        cls_logits: Tensor,
        boxes: Tensor,
        positives: Positives,
        targets: list[FrameTarget],
        image_sizes: Tensor,
        mask_logits: Tensor,
        num_pos: float,
    ) -> dict[str, Tensor]:
        """Unweighted losses of one stage.

        Args:
            cls_logits: ``Tensor[B, N, K]``.
            boxes: ``Tensor[B, N, 4]`` absolute xyxy predicted boxes (with gradient).
            positives: matched pairs (``len == M``).
            targets: ground truth per image.
            image_sizes: ``Tensor[B, 2]`` valid ``(h, w)``, L1 normaliser.
            mask_logits: ``Tensor[M, K, S, S]`` mask logits of the positives (same order as ``positives``). If
                ``M == 0`` the caller passes the logits of one dummy query (``Tensor[1, K, S, S]``) so that the
                mask head still receives a (zero) gradient.
            num_pos: normaliser (``reduce_num_positives``).

        Returns:
            ``{"loss_cls", "loss_bbox", "loss_iou", "loss_mask"}`` scalar tensors; box and mask losses are exactly
            0 when there are no positives.
        """
        device = cls_logits.device
        logits = cls_logits.float()
        pred = boxes.float()
        bi, qi, gi = positives.batch_idx, positives.query_idx, positives.gt_global_idx

        labels = (
            torch.cat([t.labels for t in targets]).to(device) if targets else torch.zeros(0, dtype=torch.long)
        )
        onehot = torch.zeros_like(logits)
        onehot[bi, qi, labels[gi]] = 1.0
        loss_cls = (
            sigmoid_focal_loss(logits, onehot, self.focal_alpha, self.focal_gamma, reduction="sum") / num_pos
        )

        gt_boxes = torch.cat([t.boxes for t in targets]).to(device).float()
        hw = image_sizes.to(device).float()
        whwh = torch.stack([hw[:, 1], hw[:, 0], hw[:, 1], hw[:, 0]], dim=1)
        pos_pred = pred[bi, qi]
        pos_gt = gt_boxes[gi]
        norm = whwh[bi]
        loss_bbox = (pos_pred / norm - pos_gt / norm).abs().sum() / num_pos
        if len(positives) > 0:
            loss_iou = generalized_box_iou_loss(pos_pred, pos_gt, reduction="sum", eps=1e-6) / num_pos
        else:
            loss_iou = pos_pred.sum() * 0.0

        if len(positives) > 0:
            gt_masks = torch.cat([t.masks for t in targets]).to(device)
            tgt = mask_targets(gt_masks, pos_pred, gi, self.mask_size)
            logit = mask_logits[torch.arange(len(positives), device=device), labels[gi]].float()
            loss_mask = dice_loss(logit, tgt).sum() / num_pos
        else:
            loss_mask = mask_logits.float().sum() * 0.0
        return {"loss_cls": loss_cls, "loss_bbox": loss_bbox, "loss_iou": loss_iou, "loss_mask": loss_mask}

    def weighted(self, stage: int, raw: dict[str, Tensor]) -> dict[str, Tensor]:
        """Apply loss and stage weights: ``{"loss_cls": x}`` → ``{"s{stage}.loss_cls": w_cls · w_stage · x}``."""
        sw = self.stage_weight(stage)
        return {f"s{stage}.{name}": self.weights[name] * sw * v for name, v in raw.items()}
