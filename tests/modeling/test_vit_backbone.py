"""Plain ViT backbones (timm DINOv2 / DINOv3) with a simple feature pyramid: levels, strides, parameter count,
inputs that are no multiple of the patch, the stride-14 → 16 resampling, drop path and activation checkpointing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import timm
import torch
from torch import Tensor

from querytrack.modeling import build_querytrack
from querytrack.modeling.detector import build_detector
from querytrack.modeling.simple_pyramid import SimpleFeaturePyramid
from querytrack.modeling.vit_backbone import ViTBackbone, is_vit
from querytrack.types import PairBatch

SMALL_HEADS: dict[str, Any] = dict(
    num_queries=6,
    num_classes=3,
    num_stages=1,
    hidden_dim=32,
    ffn_dim=32,
    dynamic_dim=8,
    mask_channels=16,
    embed_dim=8,
)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", ["vit_small_patch14_dinov2", "vit_small_patch16_dinov3"])
@pytest.mark.parametrize("size", [(224, 320), (96, 160)])  # 96 and 160 are no multiples of 14
def test_pyramid_levels_strides_and_channels(name: str, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    det = build_detector(name, **SMALL_HEADS).eval()
    h, w = size
    images = torch.randint(0, 256, (2, 3, h, w), dtype=torch.uint8)
    sizes = torch.tensor([[h, w], [h - 10, w - 30]])
    with torch.no_grad():
        feats = det.extract_features(images, sizes)
    assert [tuple(f.shape) for f in feats] == [(2, 32, h // s, w // s) for s in (4, 8, 16, 32)]
    assert det.stage(0).box_roi.strides == (4, 8, 16, 32)
    assert all(torch.isfinite(f).all() for f in feats)
    with torch.no_grad():
        out = det(images, sizes)
    assert out.boxes.shape == (2, 6, 4) and torch.isfinite(out.boxes).all()


def test_parameter_count_is_timms_model_plus_the_pyramid() -> None:
    """Backbone + neck = timm's ViT without its classifier + the pyramid, counted by hand (C = 384, 256 out)."""
    det = build_detector("vit_small_patch14_dinov2", **{**SMALL_HEADS, "hidden_dim": 256})
    timm_vit = timm.create_model("vit_small_patch14_dinov2", pretrained=False, num_classes=0)
    c, o = 384, 256
    ln = 2  # weight + bias per channel
    up4 = (c * (c // 2) * 4 + c // 2) + ln * (c // 2) + ((c // 2) * (c // 4) * 4 + c // 4)
    up2 = c * (c // 2) * 4 + c // 2
    outputs = sum(cin * o + ln * o + o * o * 9 + ln * o for cin in (c // 4, c // 2, c, c))
    assert _count(det.backbone) == _count(timm_vit)
    assert _count(det.neck) == up4 + up2 + outputs


def test_patch14_map_is_resampled_onto_the_stride16_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """Token ``i`` of a patch-14 model sits at pixel ``14 i + 7``; output cell ``j`` must read pixel ``16 j + 8``.

    The ViT is replaced by a map whose value is its token's pixel centre; bilinear resampling of a linear ramp is
    exact, so every output cell must hold its own centre."""
    bb = ViTBackbone("vit_small_patch14_dinov2")
    h, w = 480, 96  # padded by the patch embedding to 490 x 98: 35 x 7 tokens

    def centres(x: Tensor, **_: Any) -> list[Tensor]:
        gh, gw = -(-x.shape[-2] // 14), -(-x.shape[-1] // 14)
        ys = (14 * torch.arange(gh) + 7).float()[:, None].expand(gh, gw)
        return [ys[None, None].expand(x.shape[0], 1, gh, gw)]

    monkeypatch.setattr(bb.body, "forward_intermediates", centres)
    (out,) = bb(torch.zeros(1, 3, h, w))
    assert out.shape == (1, 1, h // 16, w // 16)
    want = (16 * torch.arange(h // 16) + 8).float()
    torch.testing.assert_close(out[0, 0, :, 0], want)


def test_drop_path_and_names() -> None:
    bb = ViTBackbone("vit_small_patch14_dinov2", drop_path_rate=0.2)
    blocks: Any = bb.body.blocks
    assert blocks[-1].drop_path1.drop_prob == pytest.approx(0.2)  # timm: linear from 0 to the rate
    assert blocks[0].drop_path1.__class__.__name__ == "Identity"
    assert is_vit("vit_large_patch16_dinov3") and not is_vit("r50") and not is_vit("swin_l")
    assert bb.no_weight_decay() == {"body.cls_token", "body.pos_embed"}
    assert bb.layer_id("body.pos_embed") == 0 and bb.layer_id("body.blocks.0.attn.qkv.weight") == 1
    assert bb.layer_id("body.blocks.11.mlp.fc2.bias") == 12 and bb.layer_id("body.norm.weight") == 13


def test_activation_checkpointing_gives_the_same_gradients() -> None:
    x = torch.randn(1, 3, 64, 96)
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        bb = ViTBackbone("vit_small_patch14_dinov2", activation_checkpointing=checkpointing).train()
        assert bool(getattr(bb.body, "grad_checkpointing", False)) == checkpointing
        bb(x)[0].square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in bb.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1])


def test_activation_checkpointing_is_refused_for_a_resnet() -> None:
    with pytest.raises(ValueError, match="ViT"):
        build_detector("r18", activation_checkpointing=True, **SMALL_HEADS)


def test_pyramid_alone() -> None:
    sfp = SimpleFeaturePyramid(64, 32)
    feats = sfp([torch.randn(2, 64, 6, 10)])
    assert [tuple(f.shape) for f in feats] == [
        (2, 32, 24, 40),
        (2, 32, 12, 20),
        (2, 32, 6, 10),
        (2, 32, 3, 5),
    ]


@pytest.mark.parametrize("bf16", [False, True])
def test_training_step_reaches_every_parameter(pair_factory: Callable[..., PairBatch], bf16: bool) -> None:
    """Every ViT and pyramid parameter gets a gradient (DDP without find_unused_parameters), also under bf16
    autocast (the GPU default; CPU autocast here)."""
    torch.manual_seed(0)
    model = build_querytrack(backbone="vit_small_patch14_dinov2", **{**SMALL_HEADS, "num_classes": 5}).train()
    pair = pair_factory([(100, 167), (80, 144)], [2, 1], [1, 2])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        losses = model.loss(pair)
    assert torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None] == []
