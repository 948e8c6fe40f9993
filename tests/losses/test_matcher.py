"""Hungarian matcher: golden assignment, batched == per-image, empty targets."""

from __future__ import annotations

import math

import pytest
import torch

from querytrack.losses.matcher import HungarianMatcher, Positives, focal_cost


def test_golden_assignment_from_hand_built_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    # image 0: 3 queries x 2 GT; image 1: 3 queries x 1 GT -> concatenated cost [2, 3, 3]
    cost = torch.full((2, 3, 3), 100.0)
    # image 0 block = columns 0..1: greedy would take q0->g0 (1) then q1->g1 (9); optimum is q0->g1, q2->g0 (2+2)
    cost[0, :, :2] = torch.tensor([[1.0, 2.0], [5.0, 9.0], [2.0, 7.0]])
    # image 1 block = column 2
    cost[1, :, 2] = torch.tensor([3.0, 0.5, 4.0])
    matcher = HungarianMatcher()
    monkeypatch.setattr(matcher, "cost_matrix", lambda *a, **k: cost)
    labels = [torch.tensor([0, 1]), torch.tensor([2])]
    boxes = [torch.zeros(2, 4), torch.zeros(1, 4)]
    out = matcher(torch.zeros(2, 3, 3), torch.zeros(2, 3, 4), torch.ones(2, 2), labels, boxes)
    assert out[0][0].tolist() == [0, 2] and out[0][1].tolist() == [1, 0]
    assert out[1][0].tolist() == [1] and out[1][1].tolist() == [0]
    pos = Positives.from_matches(out, [2, 1])
    assert pos.batch_idx.tolist() == [0, 0, 1]
    assert pos.gt_global_idx.tolist() == [1, 0, 2]


def test_focal_cost_matches_formula() -> None:
    logits = torch.tensor([[0.3, -1.2]])
    p = torch.sigmoid(logits)[0, 1].item()
    pos = -0.25 * (1 - p) ** 2 * math.log(p + 1e-12)
    neg = -0.75 * p**2 * math.log(1 - p + 1e-12)
    assert focal_cost(logits, torch.tensor([1]))[0, 0].item() == pytest.approx(pos - neg, rel=1e-5)


def test_exact_boxes_are_matched_to_themselves() -> None:
    gt = torch.tensor([[10.0, 10.0, 50.0, 40.0], [60.0, 5.0, 90.0, 80.0], [0.0, 0.0, 20.0, 20.0]])
    perm = torch.tensor([2, 0, 3, 1])  # query j predicts gt perm[j]; query 2 predicts a far box
    boxes = torch.cat([gt, torch.tensor([[200.0, 200.0, 210.0, 210.0]])])[perm]
    logits = torch.full((1, 4, 3), -3.0)
    out = HungarianMatcher()(logits, boxes[None], torch.tensor([[100, 100]]), [torch.tensor([0, 1, 2])], [gt])
    q, g = out[0]
    assert dict(zip(q.tolist(), g.tolist(), strict=True)) == {0: 2, 1: 0, 3: 1}


def _random_boxes(n: int, g: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=g) * 80
    wh = torch.rand(n, 2, generator=g) * 40 + 2
    return torch.cat([xy, xy + wh], 1)


def test_batched_equals_per_image() -> None:
    g = torch.Generator().manual_seed(0)
    b, n, k = 3, 12, 7
    logits = torch.randn(b, n, k, generator=g)
    boxes = torch.stack([_random_boxes(n, g) for _ in range(b)])
    sizes = torch.tensor([[120, 130], [100, 150], [128, 96]])
    counts = [4, 0, 9]
    labels = [torch.randint(0, k, (c,), generator=g) for c in counts]
    gts = [_random_boxes(c, g) for c in counts]
    matcher = HungarianMatcher()
    batched = matcher(logits, boxes, sizes, labels, gts)
    for i in range(b):
        single = matcher(logits[i : i + 1], boxes[i : i + 1], sizes[i : i + 1], [labels[i]], [gts[i]])[0]
        assert torch.equal(batched[i][0], single[0]) and torch.equal(batched[i][1], single[1])
        assert len(batched[i][0]) == counts[i]


def test_empty_targets() -> None:
    out = HungarianMatcher()(
        torch.randn(2, 5, 3),
        torch.rand(2, 5, 4),
        torch.ones(2, 2),
        [torch.zeros(0, dtype=torch.long)] * 2,
        [torch.zeros(0, 4)] * 2,
    )
    assert all(len(q) == 0 and len(gi) == 0 for q, gi in out)
    pos = Positives.from_matches(out, [0, 0])
    assert len(pos) == 0
