"""Swin backbone import: a generated QueryInst Swin-T state dict (mmdetection and original namings) loaded into our
timm Swin gives the features of an independent re-implementation of the checkpoint's own Swin forward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from querytrack.checkpoints import load_mmdet_checkpoint, mmdet_key_to_ours
from querytrack.checkpoints.swin import unfold_to_concat_order
from querytrack.modeling import build_detector

EMBED, DEPTHS, HEADS, WS = 96, (2, 2, 6, 2), (3, 6, 12, 24), 7  # Swin-T


def _mmdet_swin_state_dict(seed: int = 0) -> dict[str, Tensor]:
    """mmdetection-named Swin-T backbone weights (open-mmlab/mmdetection mmdet/models/backbones/swin.py)."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape: int, scale: float = 0.05, offset: float = 0.0) -> Tensor:
        return offset + scale * torch.randn(*shape, generator=g)

    sd: dict[str, Tensor] = {
        "backbone.patch_embed.projection.weight": r(EMBED, 3, 4, 4, scale=0.2),
        "backbone.patch_embed.projection.bias": r(EMBED),
        "backbone.patch_embed.norm.weight": r(EMBED, scale=0.2, offset=1.0),
        "backbone.patch_embed.norm.bias": r(EMBED),
    }
    c = EMBED
    for i, (depth, heads) in enumerate(zip(DEPTHS, HEADS, strict=True)):
        for j in range(depth):
            p = f"backbone.stages.{i}.blocks.{j}."
            sd |= {
                p + "norm1.weight": r(c, scale=0.2, offset=1.0),
                p + "norm1.bias": r(c),
                p + "attn.w_msa.relative_position_bias_table": r((2 * WS - 1) ** 2, heads, scale=1.0),
                p + "attn.w_msa.relative_position_index": torch.zeros(WS * WS, WS * WS, dtype=torch.long),
                p + "attn.w_msa.qkv.weight": r(3 * c, c, scale=0.1),
                p + "attn.w_msa.qkv.bias": r(3 * c),
                p + "attn.w_msa.proj.weight": r(c, c),
                p + "attn.w_msa.proj.bias": r(c),
                p + "norm2.weight": r(c, scale=0.2, offset=1.0),
                p + "norm2.bias": r(c),
                p + "ffn.layers.0.0.weight": r(4 * c, c),
                p + "ffn.layers.0.0.bias": r(4 * c),
                p + "ffn.layers.1.weight": r(c, 4 * c),
                p + "ffn.layers.1.bias": r(c),
            }
        sd[f"backbone.norm{i}.weight"] = r(c, scale=0.2, offset=1.0)
        sd[f"backbone.norm{i}.bias"] = r(c)
        if i < len(DEPTHS) - 1:
            sd[f"backbone.stages.{i}.downsample.norm.weight"] = r(4 * c, scale=0.5, offset=1.0)
            sd[f"backbone.stages.{i}.downsample.norm.bias"] = r(4 * c, scale=0.5)
            sd[f"backbone.stages.{i}.downsample.reduction.weight"] = r(2 * c, 4 * c)
            c *= 2
    return sd


def _mmdet_relative_position_index(ws: int) -> Tensor:
    """mmdetection ``WindowMSA``'s index (``double_step_seq`` + flip), independent of timm's formula."""
    seq1 = torch.arange(0, (2 * ws - 1) * ws, 2 * ws - 1)
    seq2 = torch.arange(0, ws, 1)
    coords = (seq1[:, None] + seq2[None, :]).reshape(1, -1)
    return (coords + coords.T).flip(1)


def _windows(x: Tensor) -> Tensor:
    B, H, W, C = x.shape
    return x.view(B, H // WS, WS, W // WS, WS, C).permute(0, 1, 3, 2, 4, 5).reshape(-1, WS * WS, C)


def _shift_window_msa(x: Tensor, h: int, w_: int, shift: int, w: dict[str, Tensor], heads: int) -> Tensor:
    """mmdetection ``ShiftWindowMSA.forward``: pad to the window, roll, masked window attention, roll back."""
    B, _, C = x.shape
    H, W = h, w_
    x = F.pad(x.view(B, H, W, C), (0, 0, 0, (WS - W % WS) % WS, 0, (WS - H % WS) % WS))
    Hp, Wp = x.shape[1:3]
    mask = None
    if shift:
        x = torch.roll(x, (-shift, -shift), (1, 2))
        img = torch.zeros(1, Hp, Wp, 1)
        cnt = 0
        for hs in (slice(0, -WS), slice(-WS, -shift), slice(-shift, None)):
            for vs in (slice(0, -WS), slice(-WS, -shift), slice(-shift, None)):
                img[:, hs, vs, :] = cnt
                cnt += 1
        mw = _windows(img).squeeze(-1)
        mask = (mw[:, None, :] - mw[:, :, None]).ne(0).float() * -100.0
    win = _windows(x)
    n = WS * WS
    qkv = (
        F.linear(win, w["qkv.weight"], w["qkv.bias"])
        .reshape(-1, n, 3, heads, C // heads)
        .permute(2, 0, 3, 1, 4)
    )
    q, k, v = qkv[0] * (C // heads) ** -0.5, qkv[1], qkv[2]
    bias = w["relative_position_bias_table"][_mmdet_relative_position_index(WS).reshape(-1)]
    attn = q @ k.transpose(-2, -1) + bias.view(n, n, heads).permute(2, 0, 1)
    if mask is not None:
        attn = (attn.view(-1, mask.shape[0], heads, n, n) + mask[None, :, None]).view(-1, heads, n, n)
    out = F.linear((attn.softmax(-1) @ v).transpose(1, 2).reshape(-1, n, C), w["proj.weight"], w["proj.bias"])
    out = out.view(B, Hp // WS, Wp // WS, WS, WS, C).permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, C)
    if shift:
        out = torch.roll(out, (shift, shift), (1, 2))
    return out[:, :H, :W].reshape(B, H * W, C)


def _reference_swin(sd: dict[str, Tensor], x: Tensor) -> list[Tensor]:
    """mmdetection's ``SwinTransformer.forward`` on mmdetection-named weights (patch merging by ``nn.Unfold``)."""

    def ln(t: Tensor, prefix: str) -> Tensor:
        return F.layer_norm(t, t.shape[-1:], sd[prefix + ".weight"], sd[prefix + ".bias"])

    x = F.conv2d(
        x, sd["backbone.patch_embed.projection.weight"], sd["backbone.patch_embed.projection.bias"], stride=4
    )
    B, C, H, W = x.shape
    x = ln(x.flatten(2).transpose(1, 2), "backbone.patch_embed.norm")
    outs = []
    for i, (depth, heads) in enumerate(zip(DEPTHS, HEADS, strict=True)):
        for j in range(depth):
            p = f"backbone.stages.{i}.blocks.{j}."
            attn_w = {
                k[len(p + "attn.w_msa.") :]: v for k, v in sd.items() if k.startswith(p + "attn.w_msa.")
            }
            x = x + _shift_window_msa(ln(x, p + "norm1"), H, W, WS // 2 if j % 2 else 0, attn_w, heads)
            h = F.gelu(
                F.linear(ln(x, p + "norm2"), sd[p + "ffn.layers.0.0.weight"], sd[p + "ffn.layers.0.0.bias"])
            )
            x = x + F.linear(h, sd[p + "ffn.layers.1.weight"], sd[p + "ffn.layers.1.bias"])
        outs.append(ln(x, f"backbone.norm{i}").view(B, H, W, C).permute(0, 3, 1, 2))
        if i < len(DEPTHS) - 1:
            p = f"backbone.stages.{i}.downsample."
            x = F.unfold(x.transpose(1, 2).reshape(B, C, H, W), 2, stride=2).transpose(1, 2)
            x = F.linear(ln(x, p + "norm"), sd[p + "reduction.weight"])
            H, W, C = H // 2, W // 2, 2 * C
    return outs


def _original_naming(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """The same weights under the original Swin names that hustvl/QueryInst's checkpoints use (inverse of
    mmdetection's ``swin_converter``, written out here: reduction / norm to concatenation order by index)."""
    out: dict[str, Tensor] = {}
    perm = [0, 2, 1, 3]
    for k, v in sd.items():
        k2 = k.replace("backbone.stages.", "backbone.layers.").replace("attn.w_msa.", "attn.")
        k2 = k2.replace("ffn.layers.0.0.", "mlp.fc1.").replace("ffn.layers.1.", "mlp.fc2.")
        k2 = k2.replace("patch_embed.projection.", "patch_embed.proj.")
        if ".downsample." in k:  # (c, k) -> (position, c): position p lives in unfold slot perm[p]
            c = v.shape[-1] // 4
            v = torch.stack([v.reshape(*v.shape[:-1], c, 4)[..., perm[p]] for p in range(4)], -2).flatten(-2)
        out[k2] = v
    return out


@pytest.fixture(scope="module")
def mmdet_sd() -> dict[str, Tensor]:
    return _mmdet_swin_state_dict()


def _swin_detector() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_detector(
        backbone="swin_t",
        num_queries=4,
        num_classes=3,
        num_stages=1,
        hidden_dim=32,
        embed_dim=8,
        with_track_head=False,
        ffn_dim=64,
        dynamic_dim=8,
        mask_channels=16,
    ).eval()


def test_key_names() -> None:
    assert (
        mmdet_key_to_ours("backbone.stages.2.blocks.5.attn.w_msa.qkv.weight")
        == "backbone.body.layers_2.blocks.5.attn.qkv.weight"
    )
    assert (
        mmdet_key_to_ours("backbone.stages.1.blocks.0.ffn.layers.0.0.bias")
        == "backbone.body.layers_1.blocks.0.mlp.fc1.bias"
    )
    assert (
        mmdet_key_to_ours("backbone.stages.1.blocks.0.ffn.layers.1.weight")
        == "backbone.body.layers_1.blocks.0.mlp.fc2.weight"
    )
    assert (
        mmdet_key_to_ours("backbone.stages.0.downsample.reduction.weight")
        == "backbone.body.layers_1.downsample.reduction.weight"
    )
    assert (
        mmdet_key_to_ours("backbone.layers.2.downsample.norm.bias")
        == "backbone.body.layers_3.downsample.norm.bias"
    )
    assert (
        mmdet_key_to_ours("backbone.patch_embed.projection.weight") == "backbone.body.patch_embed.proj.weight"
    )
    assert mmdet_key_to_ours("backbone.norm3.weight") == "backbone.out_norms.3.weight"
    assert (
        mmdet_key_to_ours("backbone.layer3.5.bn2.weight") == "backbone.body.layer3.5.bn2.weight"
    )  # ResNet untouched


def test_unfold_reorder_golden() -> None:
    # C = 1: mmdet's slots (top-left, top-right, bottom-left, bottom-right) -> timm's (tl, bl, tr, br)
    assert unfold_to_concat_order(torch.tensor([10.0, 11.0, 12.0, 13.0])).tolist() == [10.0, 12.0, 11.0, 13.0]
    # C = 2: (c, k) ordering -> (k, c)
    t = torch.tensor([[0.0, 1, 2, 3, 4, 5, 6, 7]])  # c0: k0..k3 = 0..3, c1: k0..k3 = 4..7
    assert unfold_to_concat_order(t).tolist() == [[0.0, 4, 2, 6, 1, 5, 3, 7]]


@pytest.mark.parametrize("naming", ["mmdet", "original"])
def test_mapped_swin_matches_reference(mmdet_sd: dict[str, Tensor], naming: str) -> None:
    det = _swin_detector()
    sd = mmdet_sd if naming == "mmdet" else _original_naming(mmdet_sd)
    report = load_mmdet_checkpoint(det, {"state_dict": sd}, verbose=False)
    n_buffers = sum(k.endswith("relative_position_index") for k in sd)
    assert len(report.mapped) == len(sd) - n_buffers
    assert report.unexpected == [] and report.shape_mismatch == []
    assert not [k for k in report.missing if k.startswith("backbone.")]
    x = torch.randn(
        1, 3, 64, 96, generator=torch.Generator().manual_seed(1)
    )  # stage maps 16x24 .. 2x3: padded
    with torch.no_grad():
        ours = det.backbone(x)
        ref = _reference_swin(mmdet_sd, x)
    for level, (a, b) in enumerate(zip(ours, ref, strict=True)):
        assert a.shape == b.shape, level
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4, msg=f"level {level}")


def test_patch_merging_order_matters(mmdet_sd: dict[str, Tensor]) -> None:
    """Without the reorder the stride-8 features differ: the test above is sensitive to it."""
    det = _swin_detector()
    load_mmdet_checkpoint(det, mmdet_sd, verbose=False)
    key = "backbone.body.layers_1.downsample.reduction.weight"
    naive = mmdet_sd["backbone.stages.0.downsample.reduction.weight"]
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        good = det.backbone(x)[1]
        det.load_state_dict({key: naive}, strict=False)
        bad = det.backbone(x)[1]
    assert (good - bad).abs().max() > 1e-2
