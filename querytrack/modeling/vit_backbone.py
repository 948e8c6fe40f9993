"""Plain ViT backbones from timm (DINOv2 / DINOv3), returning one stride-16 feature map for a simple pyramid.

The ViT is timm's own model (``timm.create_model``), built with ``dynamic_img_size=True`` (position embeddings
interpolated to the input's token grid, RoPE recomputed) and ``dynamic_img_pad=True`` (the patch embedding pads
the image to a multiple of the patch size itself, so the data keeps padding to 32 only). Its last block's tokens,
after the final norm and without the prefix (class / register) tokens, are the backbone's output
(``forward_intermediates``).

The detection head expects levels at strides 4, 8, 16, 32 (RoIAlign scales are ``1 / stride``). A patch-16 model
gives stride 16 directly; a patch-14 model (DINOv2) gives a map of stride 14, which is resampled bilinearly to the
stride-16 grid of the input (token centres ``14 i + 7`` onto cell centres ``16 j + 8``), as a ViTDet-style pyramid
built from it then lands on the strides the FPN has today (``modeling.simple_pyramid``).
"""

from __future__ import annotations

import re
from typing import Any

import timm
import torch.nn.functional as F
from torch import Tensor, nn

#: The stride of the backbone's output map (the simple pyramid's stride-16 level).
OUT_STRIDE = 16

_BLOCK = re.compile(r"^blocks\.(\d+)\.")
#: Parameters before the first block (layer 0 of the layer-wise LR decay).
_EMBED_PREFIXES = ("patch_embed.", "pos_embed", "cls_token", "reg_token", "rope")


def is_vit(name: str) -> bool:
    """Whether backbone ``name`` is a plain ViT built by :class:`ViTBackbone` (a ``vit_*`` / ``eva*`` timm name)."""
    return name.startswith(("vit_", "eva"))


class ViTBackbone(nn.Module):
    """A timm ViT as a single-map detection backbone.

    Module names: ``body`` is the timm model itself (``body.blocks.{i}``, ``body.pos_embed``, ...), so timm's
    own and the original DINOv2 / DINOv3 state dicts load after timm's ``checkpoint_filter_fn``
    (``querytrack.checkpoints.backbone_weights``).

    Args:
        name: a timm ViT / EVA model name, e.g. ``vit_small_patch14_dinov2`` (the options
            with a config: ``conf/backbone/vit_*.yaml``).
        pretrained: load timm's pretrained weights (needs the hub or its cache; off in tests).
        drop_path_rate: stochastic depth of the blocks (``None``: timm's default, 0).
        activation_checkpointing: recompute each block in the backward pass instead of storing its
            activations (timm's ``set_grad_checkpointing``): memory for ViT-L on large frames, for one more
            forward pass of the blocks per training step.
    """

    def __init__(
        self,
        name: str = "vit_small_patch14_dinov2",
        pretrained: bool = False,
        drop_path_rate: float | None = None,
        activation_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        kwargs: dict[str, Any] = {"dynamic_img_size": True, "dynamic_img_pad": True, "num_classes": 0}
        if drop_path_rate is not None:
            kwargs["drop_path_rate"] = drop_path_rate
        body: Any = timm.create_model(name, pretrained=pretrained, **kwargs)
        if not hasattr(body, "forward_intermediates") or not hasattr(body, "blocks"):
            raise ValueError(f"backbone {name!r} is not a timm ViT with forward_intermediates")
        self.depth = len(body.blocks)
        # the last block's output is all we read: drop the classifier head (the final norm stays, it is applied)
        body.prune_intermediate_layers(indices=[self.depth - 1], prune_norm=False, prune_head=True)
        if activation_checkpointing:
            body.set_grad_checkpointing(True)
        self.name = name
        self.body: nn.Module = body
        self.patch_size = int(body.patch_embed.patch_size[0])
        self.channels: list[int] = [int(body.embed_dim)]
        self.strides: list[int] = [OUT_STRIDE]

    def no_weight_decay(self) -> set[str]:
        """Parameter names (relative to this module) without weight decay beyond norms and biases: position
        embeddings and the class / register tokens (timm's ``no_weight_decay`` of the ViT)."""
        body: Any = self.body
        own = {n for n, _ in body.named_parameters()}
        return {f"body.{n}" for n in body.no_weight_decay() if n in own}

    def layer_id(self, param_name: str) -> int:
        """The layer of a parameter (relative to this module) for layer-wise LR decay, as ViTDet
        (detectron2 ``modeling/backbone/vit.py`` ``get_vit_lr_decay_rate``): 0 for the patch and position
        embeddings and the prefix tokens, ``i + 1`` for block ``i``, ``depth + 1`` for the rest (final norm)."""
        name = param_name.removeprefix("body.")
        if (m := _BLOCK.match(name)) is not None:
            return int(m.group(1)) + 1
        if name.startswith(_EMBED_PREFIXES):
            return 0
        return self.depth + 1

    def forward(self, x: Tensor) -> list[Tensor]:
        """Args: x: ``Tensor[B, 3, H, W]`` normalised float image, ``H`` and ``W`` multiples of 16.

        Returns:
            ``[Tensor[B, C, H / 16, W / 16]]`` (one level, ``C = channels[0]``).
        """
        body: Any = self.body
        (feat,) = body.forward_intermediates(
            x, indices=[self.depth - 1], norm=True, output_fmt="NCHW", intermediates_only=True
        )
        out_h, out_w = x.shape[-2] // OUT_STRIDE, x.shape[-1] // OUT_STRIDE
        if self.patch_size != OUT_STRIDE:
            scale = self.patch_size / OUT_STRIDE  # token i's centre 14 i + 7 → cell j's centre 16 j + 8
            feat = F.interpolate(
                feat, scale_factor=scale, mode="bilinear", align_corners=False, recompute_scale_factor=False
            )
        return [feat[:, :, :out_h, :out_w]]
