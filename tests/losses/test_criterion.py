"""Detection criterion: empty targets, perfect predictions, dice and mask targets."""

from __future__ import annotations

import pytest
import torch

from querytrack.losses.criterion import DetectionCriterion, dice_loss, mask_targets, reduce_num_positives
from querytrack.losses.matcher import Positives
from querytrack.types import FrameTarget


def _target(boxes: list[list[float]], labels: list[int], hw: tuple[int, int] = (64, 64)) -> FrameTarget:
    b = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    masks = torch.zeros((len(labels), *hw), dtype=torch.bool)
    for i, (x1, y1, x2, y2) in enumerate(b.long().tolist()):
        masks[i, y1:y2, x1:x2] = True
    return FrameTarget(b, masks, torch.tensor(labels, dtype=torch.long), torch.arange(len(labels)))


def test_empty_targets_give_finite_loss_and_zero_box_mask_losses() -> None:
    crit = DetectionCriterion(num_classes=3)
    logits = torch.randn(2, 4, 3, requires_grad=True)
    boxes = (torch.rand(2, 4, 4) * 30 + torch.tensor([0.0, 0.0, 31.0, 31.0])).requires_grad_()
    empty = Positives.from_matches([(torch.zeros(0, dtype=torch.long),) * 2] * 2, [0, 0])
    mask_logits = torch.randn(1, 3, 28, 28, requires_grad=True)  # the dummy query
    targets = [FrameTarget.empty(64, 64), FrameTarget.empty(64, 64)]
    out = crit.stage_losses(logits, boxes, empty, targets, torch.tensor([[64, 64]] * 2), mask_logits, 1.0)
    assert torch.isfinite(out["loss_cls"]) and out["loss_cls"] > 0
    for name in ("loss_bbox", "loss_iou", "loss_mask"):
        assert out[name].item() == 0.0
    sum(out.values()).backward()
    assert mask_logits.grad is not None and boxes.grad is not None


def test_perfect_prediction_has_zero_box_loss_and_weights_are_applied() -> None:
    crit = DetectionCriterion(num_classes=2, stage_loss_weights=[1.0, 0.5])
    t = _target([[8, 8, 40, 32]], [1])
    boxes = torch.tensor([[[8.0, 8.0, 40.0, 32.0], [0.0, 0.0, 10.0, 10.0]]])
    pos = Positives.from_matches([(torch.tensor([0]), torch.tensor([0]))], [1])
    mask_logits = torch.full((1, 2, 28, 28), -20.0)
    mask_logits[0, 1] = 20.0  # box == mask, so the target inside the box is all ones
    raw = crit.stage_losses(torch.zeros(1, 2, 2), boxes, pos, [t], torch.tensor([[64, 64]]), mask_logits, 1.0)
    assert raw["loss_bbox"].item() == 0.0
    assert raw["loss_iou"].item() == pytest.approx(0.0, abs=1e-6)
    assert raw["loss_mask"].item() == pytest.approx(0.0, abs=1e-4)
    w = crit.weighted(1, raw)
    assert w["s1.loss_cls"].item() == pytest.approx(0.5 * 2.0 * raw["loss_cls"].item())
    assert set(w) == {"s1.loss_cls", "s1.loss_bbox", "s1.loss_iou", "s1.loss_mask"}


def test_dice_matches_hand_computation() -> None:
    logits = torch.tensor([[[0.0, 100.0], [-100.0, 0.0]]])  # p = .5, 1, 0, .5
    target = torch.tensor([[[1.0, 1.0], [0.0, 0.0]]])
    num = 2 * (0.5 + 1.0)
    den = (0.25 + 1 + 0 + 0.25) + 2.0 + 2e-5
    assert dice_loss(logits, target).item() == pytest.approx(1 - num / den, rel=1e-5)


def test_mask_targets_crop_the_gt_mask_inside_the_predicted_box() -> None:
    masks = torch.zeros(1, 64, 64, dtype=torch.bool)
    masks[0, :, :32] = True  # left half
    # box covering x in [16, 48): left half of the box is inside the mask
    tgt = mask_targets(masks, torch.tensor([[16.0, 0.0, 48.0, 64.0]]), torch.tensor([0]), size=28)
    assert tgt.shape == (1, 28, 28)
    assert tgt[0, :, :14].all() and not tgt[0, :, 14:].any()


def test_num_positives_is_clamped() -> None:
    assert reduce_num_positives(0, torch.device("cpu")) == 1.0
    assert reduce_num_positives(7, torch.device("cpu")) == 7.0
