"""Contrastive tracking loss: hand computation, CE equivalence, edge cases."""

from __future__ import annotations

import math

import pytest
import torch

from querytrack.losses.contrastive import ContrastiveTrackLoss, track_logits, track_targets


def _hand_focal(
    key: list[list[float]], ref: list[list[float]], target: list[int], a: float, g: float
) -> float:
    total = 0.0
    for e, t in zip(key, target, strict=True):
        logits = [0.0] + [sum(x * y for x, y in zip(e, r, strict=True)) for r in ref]
        z = sum(math.exp(v) for v in logits)
        for n, v in enumerate(logits):
            p = math.exp(v) / z
            total += -a * (1 - p) ** g * math.log(p) if n == t else -(1 - a) * p**g * math.log(1 - p)
    return total / len(key)


def test_matches_hand_computation() -> None:
    key = [[1.0, 0.5], [-0.3, 0.8]]
    ref = [[0.9, 0.4], [0.1, -1.0], [-0.5, 1.2]]
    key_ids, ref_ids = torch.tensor([7, 9]), torch.tensor([7, 3, 5])  # key 0 = ref 0; key 1 is new
    target = track_targets(key_ids, ref_ids)
    assert target.tolist() == [1, 0]
    loss = ContrastiveTrackLoss(alpha=0.25, gamma=2.0)(
        torch.tensor(key),
        key_ids,
        torch.zeros(2, dtype=torch.long),
        torch.tensor(ref),
        ref_ids,
        torch.zeros(3, dtype=torch.long),
        1,
    )
    assert loss.item() == pytest.approx(_hand_focal(key, ref, [1, 0], 0.25, 2.0), rel=1e-5)


def test_cross_entropy_mode_equals_focal_with_alpha_one_gamma_zero() -> None:
    g = torch.Generator().manual_seed(0)
    key, ref = torch.randn(4, 8, generator=g), torch.randn(3, 8, generator=g)
    args = (
        key,
        torch.tensor([1, 2, 3, 4]),
        torch.tensor([0, 0, 1, 1]),
        ref,
        torch.tensor([2, 4, 1]),
        torch.tensor([0, 1, 1]),
        2,
    )
    ce = ContrastiveTrackLoss(use_focal=False)(*args)
    focal = ContrastiveTrackLoss(alpha=1.0, gamma=0.0)(*args)
    assert ce.item() == pytest.approx(focal.item(), rel=1e-5)
    # hand CE for key 0 (pair 0, id 1 absent -> slot 0) and key 1 (pair 0, id 2 -> slot 1)
    lg = track_logits(key[:2], ref[:1])
    hand = -torch.log_softmax(lg, 1)[0, 0] - torch.log_softmax(lg, 1)[1, 1]
    lg1 = track_logits(key[2:], ref[1:])  # pair 1 refs have ids 4, 1 -> key 2 (id 3) new, key 3 (id 4) slot 1
    hand = hand - torch.log_softmax(lg1, 1)[0, 0] - torch.log_softmax(lg1, 1)[1, 1]
    assert ce.item() == pytest.approx(hand.item() / 4, rel=1e-5)


def test_no_reference_instances_and_no_key_instances() -> None:
    loss_fn = ContrastiveTrackLoss()
    key = torch.randn(2, 4, requires_grad=True)
    none = torch.zeros(0, dtype=torch.long)
    loss = loss_fn(
        key, torch.tensor([1, 2]), torch.zeros(2, dtype=torch.long), torch.zeros(0, 4), none, none, 1
    )
    assert loss.item() == 0.0  # only the "new" slot exists: p(0) = 1
    loss.backward()
    assert key.grad is not None and torch.isfinite(key.grad).all()
    empty = torch.zeros(0, 4, requires_grad=True)
    loss = loss_fn(
        empty, none, none, torch.randn(3, 4), torch.tensor([1, 2, 3]), torch.zeros(3, dtype=torch.long), 1
    )
    assert loss.item() == 0.0 and loss.requires_grad


def test_large_similarities_stay_finite() -> None:
    key = torch.tensor([[50.0, 0.0]], requires_grad=True)
    ref = torch.tensor([[50.0, 0.0], [-50.0, 0.0]])
    loss = ContrastiveTrackLoss()(
        key, torch.tensor([1]), torch.tensor([0]), ref, torch.tensor([1, 2]), torch.tensor([0, 0]), 1
    )
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(key.grad).all()
