"""Image backbones from timm, returning C2..C5 feature maps in NCHW.

Every backbone is built with ``timm.create_model(..., features_only=True)`` and publishes ``channels`` and
``strides`` (both ``list[int]``, one entry per returned level) for the neck.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import timm
import torch
from torch import Tensor, nn

from querytrack.modeling.swin_padding import use_pad_first_attention


@dataclass(frozen=True)
class BackboneSpec:
    """How a short backbone name maps onto timm.

    Attributes:
        timm_name: model name for ``timm.create_model``.
        out_indices: feature indices giving strides 4, 8, 16, 32.
        kwargs: extra ``create_model`` keyword arguments.
    """

    timm_name: str
    out_indices: tuple[int, ...]
    kwargs: tuple[tuple[str, object], ...] = ()


# ResNets: feature index 0 is the stride-2 stem output, so C2..C5 are indices 1..4.
# Swin: ``strict_img_size=False`` lets the patch embedding and the shifted-window masks follow the input size
# (variable, non-square, padded inputs); ``always_partition=True`` keeps the 7x7 windows (padding the feature map
# to a multiple of 7) as the original Swin / mmdet implementation does, instead of shrinking windows on small maps.
_SWIN_KW: tuple[tuple[str, object], ...] = (("strict_img_size", False), ("always_partition", True))

BACKBONES: dict[str, BackboneSpec] = {
    "r18": BackboneSpec("resnet18", (1, 2, 3, 4)),
    "r34": BackboneSpec("resnet34", (1, 2, 3, 4)),
    "r50": BackboneSpec("resnet50", (1, 2, 3, 4)),
    "r101": BackboneSpec("resnet101", (1, 2, 3, 4)),
    # QueryInst's X101 models use ResNeXt-101 64x4d (hustvl/QueryInst README, X101-DCN entry).
    "x101": BackboneSpec("resnext101_64x4d", (1, 2, 3, 4)),
    "swin_t": BackboneSpec("swin_tiny_patch4_window7_224", (0, 1, 2, 3), _SWIN_KW),
    "swin_s": BackboneSpec("swin_small_patch4_window7_224", (0, 1, 2, 3), _SWIN_KW),
    "swin_b": BackboneSpec("swin_base_patch4_window7_224", (0, 1, 2, 3), _SWIN_KW),
    "swin_l": BackboneSpec("swin_large_patch4_window7_224", (0, 1, 2, 3), _SWIN_KW),
}


#: Every BatchNorm flavour ``norm_eval`` keeps in eval mode (torch's public classes).
_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def is_resnet(name: str) -> bool:
    """Whether backbone ``name`` (a ``BACKBONES`` key or a timm name) is a ResNet/ResNeXt, to which
    ``frozen_stages`` applies."""
    spec = BACKBONES.get(name)
    return (spec.timm_name if spec else name).startswith(("resnet", "resnext"))


class TimmBackbone(nn.Module):
    """A timm feature extractor with QueryInst's freezing rules.

    State-dict keys of the ResNet variants are those of torchvision / mmdet ResNet (``conv1``, ``bn1``,
    ``layer1..4``), so mmdet checkpoints map by a prefix rename.

    Swin variants follow the detection Swin of QueryInst / mmdetection: a LayerNorm on every returned level
    (``out_norms.{l}``, mmdet's ``norm{l}``) and window attention that pads before it shifts
    (``querytrack.modeling.swin_padding``); ``querytrack.checkpoints.swin`` maps their checkpoints.

    Args:
        name: a key of ``BACKBONES`` (``r18``, ``r50``, ``r101``, ``x101``, ``swin_t``, ``swin_b``, ``swin_l``, ...)
            or any timm model name (then ``out_indices`` must be given).
        pretrained: load timm's pretrained weights (needs the network or a cache; off in tests).
        frozen_stages: ResNet only. ``-1`` freezes nothing, ``0`` the stem (conv1 + bn1), ``k`` the stem and
            ``layer1..k``. QueryInst R50: 1.
        norm_eval: keep every BatchNorm of the backbone in eval mode (running statistics frozen, affine
            parameters still trainable unless frozen). QueryInst R50: True.
        out_indices: override the feature indices for ``name``.
        drop_path_rate: stochastic depth (Swin); ``None`` keeps timm's default.
    """

    def __init__(
        self,
        name: str = "r50",
        pretrained: bool = False,
        frozen_stages: int = 1,
        norm_eval: bool = True,
        out_indices: tuple[int, ...] | None = None,
        drop_path_rate: float | None = None,
    ) -> None:
        super().__init__()
        spec = BACKBONES.get(name)
        if spec is None:
            if out_indices is None:
                raise ValueError(
                    f"unknown backbone {name!r}: use one of {sorted(BACKBONES)} or give out_indices"
                )
            spec = BackboneSpec(name, tuple(out_indices))
        kwargs: dict[str, Any] = dict(spec.kwargs)
        if drop_path_rate is not None:
            kwargs["drop_path_rate"] = drop_path_rate
        self.name = name
        self.timm_name = spec.timm_name  # the timm model (and its arguments) whose names weight files use
        self.timm_kwargs = kwargs
        body: Any = timm.create_model(
            spec.timm_name,
            pretrained=pretrained,
            features_only=True,
            out_indices=out_indices or spec.out_indices,
            **kwargs,
        )
        self.body: nn.Module = body
        self.channels: list[int] = list(body.feature_info.channels())
        self.strides: list[int] = list(body.feature_info.reduction())
        self._nhwc = str(getattr(self.body, "output_fmt", "NCHW")).upper().endswith("NHWC")
        # Swin (NHWC features): one LayerNorm per returned level, as mmdet's SwinTransformer ``norm{i}``.
        self.out_norms: nn.ModuleList | None = (
            nn.ModuleList(nn.LayerNorm(c) for c in self.channels) if self._nhwc else None
        )
        if self._nhwc:
            use_pad_first_attention(self.body)
        self.is_resnet = hasattr(self.body, "layer1") and hasattr(self.body, "conv1")
        self.frozen_stages = frozen_stages if self.is_resnet else -1
        self.norm_eval = norm_eval
        self._freeze()

    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        body: Any = self.body
        mods: list[nn.Module] = [body.conv1, body.bn1]
        mods += [getattr(body, f"layer{i}") for i in range(1, self.frozen_stages + 1)]
        return mods

    def _freeze(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> TimmBackbone:
        """Switch mode, then re-apply ``frozen_stages`` and ``norm_eval`` (as mmdet ResNet.train)."""
        super().train(mode)
        self._freeze()
        if mode and self.norm_eval:
            for m in self.body.modules():
                if isinstance(m, _BATCH_NORMS):
                    m.eval()
        return self

    def forward(self, x: Tensor) -> list[Tensor]:
        """Extract multi-scale features.

        Args:
            x: ``Tensor[B, 3, H, W]`` normalised float image (H, W multiples of 32).

        Returns:
            One ``Tensor[B, C_l, H / s_l, W / s_l]`` per level (NCHW), with ``C_l = channels[l]`` and
            ``s_l = strides[l]``.
        """
        feats = self.body(x)
        if self.out_norms is not None:
            feats = [
                n(f).permute(0, 3, 1, 2).contiguous() for n, f in zip(self.out_norms, feats, strict=True)
            ]
        return list(feats)


def check_backbone_input(x: Tensor) -> None:
    """Raise if ``x`` is not a batched float image whose size is a multiple of 32."""
    if x.dim() != 4 or not torch.is_floating_point(x):
        raise ValueError(f"expected a float Tensor[B, 3, H, W], got {tuple(x.shape)} {x.dtype}")
    if x.shape[-1] % 32 or x.shape[-2] % 32:
        raise ValueError(f"image size {tuple(x.shape[-2:])} is not a multiple of 32 (pad it in the collate)")
