"""Swin backbone keys of QueryInst checkpoints → the timm Swin that ``TimmBackbone`` builds.

Two namings occur in QueryInst Swin checkpoints; both map (the converter tells them apart by ``stages`` vs
``layers``):

* mmdetection's own Swin (open-mmlab/mmdetection ``mmdet/models/backbones/swin.py``; its ``swin_converter`` there
  documents the correspondence with the original names);
* the original Swin code that hustvl/QueryInst ships (``mmdet/models/backbones/swin_transformer.py``), whose names
  are timm's.

=====================================================  ========================  ============================================
mmdetection                                            original (QueryInst)      ours (``backbone.`` +)
=====================================================  ========================  ============================================
``patch_embed.projection.*``                           ``patch_embed.proj.*``    ``body.patch_embed.proj.*``
``patch_embed.norm.*``                                 same                      ``body.patch_embed.norm.*``
``stages.{i}.blocks.{j}.norm1/norm2.*``                ``layers.{i}...``         ``body.layers_{i}.blocks.{j}.norm1/norm2.*``
``stages.{i}.blocks.{j}.attn.w_msa.qkv/proj.*``        ``...attn.qkv/proj.*``    ``body.layers_{i}.blocks.{j}.attn.qkv/proj.*``
``...attn.w_msa.relative_position_bias_table``         ``...attn.relative_...``  ``body.layers_{i}.blocks.{j}.attn.relative_position_bias_table``
``stages.{i}.blocks.{j}.ffn.layers.0.0.*``             ``...mlp.fc1.*``          ``body.layers_{i}.blocks.{j}.mlp.fc1.*``
``stages.{i}.blocks.{j}.ffn.layers.1.*``               ``...mlp.fc2.*``          ``body.layers_{i}.blocks.{j}.mlp.fc2.*``
``stages.{i}.downsample.norm/reduction.*`` (reordered)  ``layers.{i}.downsample``  ``body.layers_{i+1}.downsample.norm/reduction.*``
``norm{i}.*``                                          same                      ``out_norms.{i}.*``
=====================================================  ========================  ============================================

Patch merging ends stage ``i`` in both checkpoint namings and starts stage ``i + 1`` in timm. mmdetection's
``PatchMerging`` gathers the 2 × 2 neighbourhood with ``nn.Unfold``, so its ``4C`` features are ordered channel-major
``(c, k)`` with the kernel positions ``k`` = (top-left, top-right, bottom-left, bottom-right), while timm and the
original code concatenate position-major ``[x0, x1, x2, x3]`` = (top-left, bottom-left, top-right, bottom-right):
the downsample norm and reduction weights are permuted (the inverse of mmdetection's ``correct_unfold_*_order``).
``relative_position_index`` / ``attn_mask`` buffers are recomputed by timm and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from torch import Tensor

# mmdet's Unfold slot k holds the original position _UNFOLD_TO_ORIGINAL[k]; the permutation is its own inverse.
_UNFOLD_TO_ORIGINAL = [0, 2, 1, 3]


def unfold_to_concat_order(t: Tensor) -> Tensor:
    """Reorder the last ``4C`` dimension of an mmdet ``PatchMerging`` tensor to timm's concatenation order.

    Args:
        t: ``Tensor[4C]`` (norm weight / bias) or ``Tensor[C_out, 4C]`` (reduction weight), ordered ``(c, k)``.

    Returns:
        The same values ordered ``(position, c)`` as timm's ``PatchMerging`` expects.
    """
    *lead, n = t.shape
    c = n // 4
    return (
        t.reshape(*lead, c, 4).transpose(-1, -2)[..., _UNFOLD_TO_ORIGINAL, :].reshape(*lead, n).contiguous()
    )


_BLOCK_PART = (
    r"(norm1\.|norm2\.|attn\.qkv\.|attn\.proj\.|attn\.relative_position_bias_table$|mlp\.fc1\.|mlp\.fc2\.)"
)
_MMDET_BLOCK_RENAMES = (
    ("attn.w_msa.", "attn."),
    ("ffn.layers.0.0.", "mlp.fc1."),
    ("ffn.layers.1.", "mlp.fc2."),
)
_SKIPPED = re.compile(
    r"^backbone\.(stages|layers)\.\d+\.blocks\.\d+\.attn\.(w_msa\.)?(relative_position_index|attn_mask)$"
)
_PATCH_EMBED = re.compile(r"^backbone\.patch_embed\.(projection|proj|norm)\.(.+)$")
_BLOCK = re.compile(r"^backbone\.(stages|layers)\.(\d+)\.blocks\.(\d+)\.(.+)$")
_DOWNSAMPLE = re.compile(r"^backbone\.(stages|layers)\.(\d+)\.downsample\.(norm|reduction)\.(.+)$")
_OUT_NORM = re.compile(r"^backbone\.norm(\d+)\.(.+)$")

Transform = Callable[[Tensor], Tensor]


def is_skipped_swin_buffer(key: str) -> bool:
    """Swin buffers that timm recomputes (``relative_position_index``, ``attn_mask``)."""
    return bool(_SKIPPED.match(key))


def swin_key_to_ours(key: str) -> tuple[str, Transform | None] | None:
    """Our detector key for a Swin backbone key of a QueryInst checkpoint, and the value transform if any.

    Args:
        key: e.g. ``backbone.stages.1.downsample.reduction.weight`` (mmdet) or ``backbone.layers.0.blocks.1.mlp.fc1.bias``.

    Returns:
        ``(our_key, transform or None)``, or None when ``key`` is not a mappable Swin key.
    """
    if m := _PATCH_EMBED.match(key):
        part = "proj" if m[1] in ("projection", "proj") else "norm"
        return f"backbone.body.patch_embed.{part}.{m[2]}", None
    if m := _BLOCK.match(key):
        rest = m[4]
        if m[1] == "stages":
            for old, new in _MMDET_BLOCK_RENAMES:
                rest = rest.replace(old, new, 1) if rest.startswith(old) else rest
        if not re.match(_BLOCK_PART, rest):
            return None
        return f"backbone.body.layers_{m[2]}.blocks.{m[3]}.{rest}", None
    if m := _DOWNSAMPLE.match(key):
        transform = unfold_to_concat_order if m[1] == "stages" else None
        return f"backbone.body.layers_{int(m[2]) + 1}.downsample.{m[3]}.{m[4]}", transform
    if m := _OUT_NORM.match(key):
        return f"backbone.out_norms.{m[1]}.{m[2]}", None
    return None
