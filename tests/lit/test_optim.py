"""Optimizer parameter groups and the step-decay schedule (golden values)."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from querytrack.lit.optim import build_step_scheduler, param_groups, step_warmup_factor
from querytrack.modeling.detector import build_detector
from querytrack.run import gradient_accumulation


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        self.head = nn.Linear(4, 2)
        self.norm = nn.LayerNorm(2)
        self.embed = nn.Embedding(5, 2)
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def test_param_groups() -> None:
    net = _Net()
    groups = {g["name"]: g for g in param_groups(net, weight_decay=0.05, backbone_lr_mult=0.1)}
    assert set(groups) == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    assert [p.shape for p in groups["backbone"]["params"]] == [torch.Size([4, 3, 3, 3])]
    assert len(groups["backbone_no_decay"]["params"]) == 3  # conv bias, BN weight and bias
    assert [p.shape for p in groups["head"]["params"]] == [torch.Size([2, 4])]
    assert len(groups["head_no_decay"]["params"]) == 4  # linear bias, LN weight/bias, embedding
    assert groups["backbone"]["lr_mult"] == 0.1 and groups["head"]["lr_mult"] == 1.0
    assert groups["backbone"]["weight_decay"] == 0.05 and groups["head_no_decay"]["weight_decay"] == 0.0
    total = sum(len(g["params"]) for g in groups.values())
    assert total == sum(1 for p in net.parameters() if p.requires_grad)


def test_step_warmup_factor_golden() -> None:
    ms = [100, 150]
    assert step_warmup_factor(0, ms, warmup_steps=10, warmup_ratio=0.001) == pytest.approx(0.001)
    assert step_warmup_factor(5, ms, warmup_steps=10, warmup_ratio=0.001) == pytest.approx(
        0.001 + 0.999 * 0.5
    )
    assert step_warmup_factor(10, ms, warmup_steps=10) == 1.0
    assert step_warmup_factor(99, ms) == 1.0
    assert step_warmup_factor(100, ms) == pytest.approx(0.1)
    assert step_warmup_factor(150, ms) == pytest.approx(0.01)


def test_scheduler_applies_group_multiplier() -> None:
    net = _Net()
    opt = torch.optim.AdamW(param_groups(net, 0.0, backbone_lr_mult=0.1), lr=1.0)
    sched = build_step_scheduler(opt, [2], gamma=0.1, warmup_steps=0)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["backbone"] == pytest.approx(0.1) and lrs["head"] == pytest.approx(1.0)
    for _ in range(2):
        opt.step()
        sched.step()
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs["backbone"] == pytest.approx(0.01) and lrs["head"] == pytest.approx(0.1)


def test_gradient_accumulation() -> None:
    assert gradient_accumulation(32, 1, 8, 2) == 2
    assert gradient_accumulation(32, 2, 8, 2) == 1
    assert gradient_accumulation(4, 1, 1, 4) == 1
    with pytest.raises(ValueError, match="not a multiple"):
        gradient_accumulation(32, 1, 3, 2)


def test_layer_decay_groups_of_a_vit_backbone() -> None:
    """ViTDet's rule: block ``i`` at ``decay ** (depth - i)``, embeddings ``decay ** (depth + 1)``, the final norm
    and the heads at 1; no weight decay on norms, biases, position embedding and class token."""
    det = build_detector(
        "vit_small_patch14_dinov2", num_queries=4, num_classes=3, num_stages=1, hidden_dim=32
    )
    decay, depth = 0.7, 12
    groups = param_groups(det, weight_decay=0.05, backbone_lr_mult=0.5, layer_decay=decay)
    by_param = {id(p): g for g in groups for p in g["params"]}
    assert len(by_param) == sum(1 for p in det.parameters() if p.requires_grad)  # each once
    body: Any = det.backbone.body
    first_block = body.blocks[0].attn.qkv.weight
    assert by_param[id(first_block)]["lr_mult"] == pytest.approx(0.5 * decay**depth)
    assert by_param[id(body.blocks[depth - 1].mlp.fc1.weight)]["lr_mult"] == pytest.approx(0.5 * decay)
    for p in (body.pos_embed, body.cls_token, body.patch_embed.proj.weight):
        assert by_param[id(p)]["lr_mult"] == pytest.approx(0.5 * decay ** (depth + 1))
    assert by_param[id(body.norm.weight)]["lr_mult"] == pytest.approx(0.5)
    assert by_param[id(det.neck.output[0][0].weight)]["lr_mult"] == 1.0  # the pyramid is a head
    no_wd = [
        body.pos_embed,
        body.cls_token,
        body.norm.weight,
        body.blocks[0].attn.qkv.bias,
        body.blocks[0].ls1.gamma,
    ]
    assert all(by_param[id(p)]["weight_decay"] == 0.0 for p in no_wd)
    assert by_param[id(first_block)]["weight_decay"] == 0.05
    assert by_param[id(det.neck.output[0][0].weight)]["weight_decay"] == 0.05
    names = [g["name"] for g in groups]
    assert (
        len(names) == len(set(names)) and "backbone_layer01" in names and "backbone_layer00_no_decay" in names
    )


def test_layer_decay_needs_a_vit_backbone() -> None:
    det = build_detector("r18", num_queries=4, num_classes=3, num_stages=1, hidden_dim=32)
    with pytest.raises(ValueError, match="ViT"):
        param_groups(det, weight_decay=0.05, layer_decay=0.8)
