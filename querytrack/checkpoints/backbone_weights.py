"""Backbone weights from a local file (``backbone.checkpoint=PATH``), for clusters without the model hub.

The file holds the weights of the backbone alone, named as timm's whole model: timm's own file
(``model.safetensors`` / ``pytorch_model.bin``, as the hub serves them) or an original release that timm's
converter of the model family (``checkpoint_filter_fn``) maps, e.g. DINOv2 ``dinov2_vitl14_pretrain.pth``,
DINOv3 ``dinov3_vitl16_pretrain_lvd1689m-*.pth`` (register / storage tokens, the class token's position,
position-embedding resampling) or Microsoft's Swin release (downsampling moved to the next stage). The keys that
then match the backbone by name and shape are loaded (a ResNet's or Swin's ``features_only`` body renames
``layers.0`` to ``layers_0``, followed here), and the rest is reported (``checkpoints.report.LoadReport``), as for
the COCO import.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import timm
import torch
from torch import Tensor, nn

from querytrack.checkpoints.report import LoadReport, load_mapped
from querytrack.core.errors import UserError


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """The tensors of a ``.safetensors`` file or of a ``torch.save`` file (``weights_only``).

    Raises:
        UserError: the file is missing or is not a state dict.
    """
    if not path.is_file():
        raise UserError(path, "no such file (backbone.checkpoint)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any reader failure is the file's: one line
        raise UserError(path, f"cannot read weights ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict) or not state:
        raise UserError(path, "not a state dict (backbone.checkpoint)")
    return state


def _reference(backbone: nn.Module) -> nn.Module:
    """The timm model whose parameter names weight files use: the ViT itself, or for a ``features_only`` backbone
    (``TimmBackbone``) its whole model, built on the meta device (names and shapes only, no memory)."""
    timm_name = getattr(backbone, "timm_name", None)
    if timm_name is None:
        return backbone.get_submodule("body")
    with torch.device("meta"):
        return timm.create_model(timm_name, pretrained=False, **getattr(backbone, "timm_kwargs", {}))


def _flattened(reference: nn.Module, body: nn.Module) -> dict[str, str]:
    """``{"layers.0": "layers_0"}``: where a timm feature extractor (``body``) flattened a top-level
    ``nn.Sequential`` of the whole model (``reference``) into children named ``parent_child`` (Swin's stages; a
    ResNet's ``layer1..4`` keep their names)."""
    own = {name for name, _ in body.named_children()}
    return {
        f"{name}.{child}": f"{name}_{child}"
        for name, module in reference.named_children()
        if isinstance(module, nn.Sequential)
        for child, _ in module.named_children()
        if f"{name}_{child}" in own
    }


def load_backbone_weights(backbone: nn.Module, path: Path) -> LoadReport:
    """Load the weights in ``path`` into ``backbone.body`` (the timm model) and report what was mapped.

    Args:
        backbone: a ``ViTBackbone`` or ``TimmBackbone`` (its ``body`` receives the weights; Swin's extra
            per-level norms are outside it and keep their initialisation).
        path: the weights file (see the module docstring): the whole timm model's names, or the original
            release's, which timm's converter of the model family maps.

    Returns:
        The ``LoadReport`` (model keys relative to ``backbone.body``, source keys as converted).

    Raises:
        UserError: the file cannot be read, or nothing in it fits the backbone.
    """
    body = backbone.get_submodule("body")
    reference = _reference(backbone)
    state: dict[str, Any] = read_state_dict(path)
    family = importlib.import_module(type(reference).__module__)
    convert = getattr(family, "checkpoint_filter_fn", None)  # timm's converter for this model family
    if convert is not None:
        try:
            state = convert(state, reference)
        except Exception as e:  # a converter that fails on a foreign file: the file does not fit
            raise UserError(path, f"not weights of this backbone ({type(e).__name__}: {e})") from e
    flat = _flattened(reference, body)  # empty for a ViT (its body is the whole model)
    renamed: dict[str, Tensor] = {}
    sources: dict[str, str] = {}
    for key, value in state.items():
        if not isinstance(value, Tensor):
            continue
        parts = key.split(".", 2)  # "layers.0.blocks..." -> "layers_0.blocks..." where the body flattens
        prefix = ".".join(parts[:2])
        target = f"{flat[prefix]}.{parts[2]}" if len(parts) == 3 and prefix in flat else key
        renamed[target], sources[target] = value, key
    report = load_mapped(body, renamed, sources)
    if not report.mapped:
        raise UserError(
            path,
            f"no key fits the backbone ({len(report.unexpected)} unexpected, "
            f"{len(report.shape_mismatch)} shape-mismatched)",
        )
    return report
