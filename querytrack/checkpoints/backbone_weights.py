"""Backbone weights from a local file (``backbone.checkpoint=PATH``), for clusters without the model hub.

The file holds the weights of the backbone alone: timm's own (``model.safetensors`` / ``pytorch_model.bin`` of a
timm model, as the hub serves them) or the original release (DINOv2 ``dinov2_vitl14_pretrain.pth``, DINOv3
``dinov3_vitl16_pretrain_lvd1689m-*.pth``). timm's ``checkpoint_filter_fn`` of the model's family converts the
original names (e.g. DINOv2 ``register_tokens``, DINOv3 ``storage_tokens``) and resamples position embeddings;
the keys that then match the backbone's timm model by name and shape are loaded, and the rest is reported
(``checkpoints.report.LoadReport``), as for the COCO import.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

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


def load_backbone_weights(body: nn.Module, path: Path) -> LoadReport:
    """Load the weights in ``path`` into ``body`` (the backbone's timm model) and report what was mapped.

    Args:
        body: a timm model (``ViTBackbone.body``, ``TimmBackbone.body``).
        path: the weights file (see the module docstring).

    Returns:
        The ``LoadReport`` (keys relative to ``body``).

    Raises:
        UserError: the file cannot be read, or nothing in it fits the backbone.
    """
    state: dict[str, Any] = read_state_dict(path)
    family = importlib.import_module(type(body).__module__)
    convert = getattr(family, "checkpoint_filter_fn", None)  # timm's converter for this model family
    if convert is not None:
        try:
            state = convert(state, body)
        except Exception as e:  # a converter that fails on a foreign file: the file does not fit
            raise UserError(path, f"not weights of this backbone ({type(e).__name__}: {e})") from e
    report = load_mapped(body, {k: v for k, v in state.items() if isinstance(v, Tensor)})
    if not report.mapped:
        raise UserError(
            path,
            f"no key fits the backbone ({len(report.unexpected)} unexpected, "
            f"{len(report.shape_mismatch)} shape-mismatched)",
        )
    return report
