"""Losses: Hungarian matcher, QueryInst detection criterion, contrastive tracking loss."""

from querytrack.losses.contrastive import ContrastiveTrackLoss
from querytrack.losses.criterion import DetectionCriterion, dice_loss, mask_targets, reduce_num_positives
from querytrack.losses.matcher import HungarianMatcher, Positives

__all__ = [
    "ContrastiveTrackLoss",
    "DetectionCriterion",
    "HungarianMatcher",
    "Positives",
    "dice_loss",
    "mask_targets",
    "reduce_num_positives",
]
