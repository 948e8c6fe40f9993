"""Backbone, box coder, RoI level mapping and pooling (threaded CPU path), proposals."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.ops.poolers import LevelMapper

from querytrack.modeling.backbone import TimmBackbone
from querytrack.modeling.box_coder import decode_deltas
from querytrack.modeling.proposals import LearnedProposals
from querytrack.modeling.roi_extractor import MultiLevelRoIAlign, map_roi_levels


def test_r18_backbone_publishes_channels_strides_and_freezes() -> None:
    bb = TimmBackbone("r18", frozen_stages=1, norm_eval=True)
    assert bb.channels == [64, 128, 256, 512] and bb.strides == [4, 8, 16, 32]
    assert not any(p.requires_grad for p in bb.body.conv1.parameters())
    assert not any(p.requires_grad for p in bb.body.layer1.parameters())
    assert all(p.requires_grad for p in bb.body.layer2.parameters())
    bb.train()
    assert all(not m.training for m in bb.modules() if isinstance(m, nn.BatchNorm2d))
    feats = bb(torch.zeros(1, 3, 64, 96))
    assert [tuple(f.shape[2:]) for f in feats] == [(16, 24), (8, 12), (4, 6), (2, 3)]


def test_swin_backbone_accepts_non_square_input_and_returns_nchw() -> None:
    bb = TimmBackbone("swin_t")
    assert bb.strides == [4, 8, 16, 32] and bb.channels == [96, 192, 384, 768]
    feats = bb(torch.zeros(1, 3, 160, 288))
    assert [tuple(f.shape) for f in feats] == [
        (1, 96, 40, 72),
        (1, 192, 20, 36),
        (1, 384, 10, 18),
        (1, 768, 5, 9),
    ]


def test_decode_zero_and_known_deltas() -> None:
    boxes = torch.tensor([[10.0, 20.0, 50.0, 40.0]])
    assert torch.allclose(decode_deltas(torch.zeros(1, 4), boxes), boxes)
    # dx = 1 (x std .5 -> shift by half the width = 20), dw = log 2 (width doubles)
    out = decode_deltas(torch.tensor([[1.0, 0.0, torch.log(torch.tensor(2.0)).item(), 0.0]]), boxes)
    assert torch.allclose(out, torch.tensor([[10.0, 20.0, 90.0, 40.0]]))
    huge = decode_deltas(torch.tensor([[0.0, 0.0, 100.0, -100.0]]), boxes)
    assert torch.isfinite(huge).all()


def test_level_mapping_matches_queryinst_rule_and_torchvision_mapper() -> None:
    scales = torch.tensor([10.0, 55.0, 111.0, 113.0, 223.0, 225.0, 447.0, 449.0, 2000.0])
    boxes = torch.stack([torch.zeros_like(scales), torch.zeros_like(scales), scales, scales], 1)
    assert map_roi_levels(boxes, 4).tolist() == [0, 0, 0, 1, 1, 2, 2, 3, 3]
    tv = LevelMapper(k_min=2, k_max=5)([boxes])
    assert torch.equal(tv, map_roi_levels(boxes, 4))


def _pyramid_and_rois(m: int, seed: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Two images' 4-level pyramid (8 channels) and ``m`` rois spread over every level."""
    g = torch.Generator().manual_seed(seed)
    feats = [torch.randn(2, 8, 256 // s, 320 // s, generator=g) for s in (4, 8, 16, 32)]
    xy = torch.rand(m, 2, generator=g) * torch.tensor([300.0, 250.0])
    wh = torch.rand(m, 2, generator=g) ** 2 * 900 + 2
    return feats, torch.cat([torch.randint(0, 2, (m, 1), generator=g).float(), xy, xy + wh], 1)


@pytest.mark.parametrize("kernel", ["torchvision", "gather"])
def test_roi_align_without_gradient_equals_the_gradient_path_and_zeroes_nan_boxes(kernel: str) -> None:
    feats, rois = _pyramid_and_rois(21)
    rois[3, 1:] = float("nan")  # no level: its row stays 0 on both paths
    pool = MultiLevelRoIAlign(7, kernel=kernel)
    with torch.no_grad():
        fast = pool(feats, rois)
    slow = pool([f.clone().requires_grad_() for f in feats], rois)
    assert slow.requires_grad and torch.equal(fast, slow.detach())
    assert fast[3].abs().sum() == 0


def test_multilevel_roi_align_uses_the_mapped_level() -> None:
    feats = [torch.full((1, 2, 512 // s, 512 // s), float(s)) for s in (4, 8, 16, 32)]
    rois = torch.tensor([[0, 0.0, 0.0, 20.0, 20.0], [0, 0.0, 0.0, 64.0, 64.0]])
    out = MultiLevelRoIAlign(7)(feats, rois)
    assert out.shape == (2, 2, 7, 7)
    assert torch.allclose(out[0], torch.tensor(4.0))  # scale 20 -> P2 (stride 4)
    assert torch.allclose(out[1], torch.tensor(4.0))  # scale 64 -> P2 too (< 112)
    big = torch.tensor([[0, 0.0, 0.0, 300.0, 300.0]])
    assert MultiLevelRoIAlign(7)(feats, big)[0, 0, 3, 3].item() == pytest.approx(
        16.0
    )  # 300 -> P4 (stride 16)


def test_proposals_start_as_the_valid_image() -> None:
    props = LearnedProposals(num_queries=3, hidden_dim=8)
    boxes, feats = props(torch.tensor([[200, 333], [160, 288]]))
    assert boxes.shape == (2, 3, 4) and feats.shape == (2, 3, 8)
    assert torch.allclose(boxes[0, 0], torch.tensor([0.0, 0.0, 333.0, 200.0]))
    assert torch.allclose(boxes[1, 2], torch.tensor([0.0, 0.0, 288.0, 160.0]))
    # the features are the parameter itself, broadcast over the batch (no copy per image)
    assert feats.data_ptr() == props.init_proposal_features.weight.data_ptr() and feats.stride(0) == 0
