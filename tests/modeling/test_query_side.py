"""Stage 0's learned query: its attention and dynamic parameters are computed once in inference, and redone when
a weight changes."""

from __future__ import annotations

import copy

import pytest
import torch

from querytrack.modeling.box_head import DIIHead


def _head_and_inputs(batch: int) -> tuple[DIIHead, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    head = DIIHead(num_classes=3, hidden_dim=32, num_heads=4, ffn_dim=64, dynamic_dim=8, roi_size=3).eval()
    learned = torch.nn.Parameter(torch.randn(5, 32))
    query = learned[None].expand(batch, -1, -1)  # as LearnedProposals gives it
    roi_feats = torch.randn(batch * 5, 32, 3, 3)
    return head, query, roi_feats


@pytest.mark.parametrize("batch", [1, 3])
def test_cached_query_side_gives_the_uncached_outputs(batch: int) -> None:
    head, query, roi_feats = _head_and_inputs(batch)
    with torch.no_grad():
        plain = head(roi_feats, query)
        cached = head(roi_feats, query, learned_query=True)
        entry = head._query_side
        again = head(roi_feats, query, learned_query=True)
    assert entry is not None and head._query_side is entry  # computed once, then reused
    for a, b, c in zip(plain, cached, again, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)  # attention over 1 image vs B: rounding
        assert torch.equal(b, c)


def test_a_weight_change_recomputes_the_query_side() -> None:
    head, query, roi_feats = _head_and_inputs(1)
    other = copy.deepcopy(head)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.1)
        head(roi_feats, query, learned_query=True)
        head.load_state_dict(other.state_dict())
        torch.testing.assert_close(
            head(roi_feats, query, learned_query=True)[0], other(roi_feats, query)[0], rtol=1e-6, atol=1e-6
        )
        query._base.mul_(2)  # the learned query itself changes (in place, like an optimizer step)
        torch.testing.assert_close(
            head(roi_feats, query, learned_query=True)[0], head(roi_feats, query)[0], rtol=1e-6, atol=1e-6
        )


def test_training_and_gradients_never_use_the_cache() -> None:
    head, query, roi_feats = _head_and_inputs(2)
    with torch.no_grad():
        head(roi_feats, query, learned_query=True)
    assert head._query_side is not None
    head.train()
    assert head._query_side is None  # dropped: training changes the weights
    logits = head(roi_feats, query, learned_query=True)[0]
    logits.sum().backward()
    assert head._query_side is None
    assert head.instance_interactive_conv.dynamic_layer.weight.grad is not None
    assert head.attention.attn.in_proj_weight.grad is not None
