"""AdamW parameter groups and the step-decay schedule with linear warm-up.

Recipe (docs/method.md §4, the paper): AdamW, LR 1.25e-5 for batch 32, ×0.1 at epochs 9 and 11 of 12. The
paper gives no weight decay, warm-up, backbone multiplier or clipping; we follow QueryInst's official recipe for
those (hustvl/QueryInst ``configs/queryinst/queryinst_r50_fpn_1x_coco.py``: weight decay 1e-4, no backbone
multiplier, clip 1.0, linear warm-up 1000 iterations from 0.001×; docs/method.md §6.1) rather than mmdetection's
(backbone ×0.1, clip 0.1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

NO_DECAY_TYPES: tuple[type[nn.Module], ...] = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.SyncBatchNorm,
    nn.Embedding,
)


def param_groups(
    model: nn.Module,
    weight_decay: float,
    backbone_lr_mult: float = 1.0,
    backbone_prefix: str = "backbone.",
    layer_decay: float | None = None,
) -> list[dict[str, Any]]:
    """Split trainable parameters into (backbone | rest) × (decay | no decay) groups, and the backbone by layer
    when ``layer_decay`` is given.

    No weight decay on norms, biases and embeddings (1-D parameters and ``NO_DECAY_TYPES`` modules), nor on a ViT
    backbone's position embeddings and class / register tokens (``ViTBackbone.no_weight_decay``). Each group
    carries ``lr_mult``; the schedule multiplies the base LR by it.

    Args:
        model: the module whose parameters are grouped.
        weight_decay: AdamW weight decay of the decayed groups.
        backbone_lr_mult: LR multiplier of every backbone parameter.
        backbone_prefix: a parameter is the backbone's when its name contains this (after a dot or at the start).
        layer_decay: layer-wise LR decay of a ViT backbone (ViTDet; BEiT): a parameter of layer ``l``
            (``ViTBackbone.layer_id``: 0 embeddings, ``i + 1`` block ``i``, ``depth + 1`` the final norm) gets
            ``backbone_lr_mult × layer_decay ** (depth + 1 - l)``, so block 0 learns at
            ``layer_decay ** depth`` of the last layer's rate. ``None``: no decay.

    Raises:
        ValueError: ``layer_decay`` is given but the model has no ViT backbone.
    """
    # layered backbones (``modeling.vit_backbone.ViTBackbone``): ``layer_id(name)``, ``depth``, ``no_weight_decay()``,
    # by the prefix of their parameter names ("" for the model itself)
    vits: dict[str, Any] = {
        f"{n}." if n else "": m for n, m in model.named_modules() if callable(getattr(m, "layer_id", None))
    }
    no_wd = {prefix + n for prefix, m in vits.items() for n in m.no_weight_decay()}
    if layer_decay is not None and not vits:
        raise ValueError("layer_decay applies to ViT backbones only (backbone=vit_...)")

    def layer_scale(full: str) -> tuple[int | None, float]:
        if layer_decay is None:
            return None, 1.0
        for prefix, vit in vits.items():
            if full.startswith(prefix):
                layer = vit.layer_id(full[len(prefix) :])
                return layer, layer_decay ** (vit.depth + 1 - layer)
        return None, 1.0

    groups: dict[tuple[bool, int, bool], tuple[float, list[nn.Parameter]]] = {}
    seen: set[int] = set()
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            is_backbone = f".{backbone_prefix}" in f".{full}"
            no_decay = isinstance(module, NO_DECAY_TYPES) or p.ndim <= 1 or full in no_wd
            layer, scale = layer_scale(full)
            key = (is_backbone, -1 if layer is None else layer, no_decay)
            groups.setdefault(key, (scale, []))[1].append(p)
    out = []
    for (is_backbone, layer, no_decay), (scale, params) in sorted(groups.items()):
        name = "backbone" if is_backbone else "head"
        if layer >= 0:
            name += f"_layer{layer:02d}"
        out.append(
            {
                "params": params,
                "weight_decay": 0.0 if no_decay else weight_decay,
                "lr_mult": (backbone_lr_mult if is_backbone else 1.0) * scale,
                "name": f"{name}{'_no_decay' if no_decay else ''}",
            }
        )
    return out


def step_warmup_factor(
    step: int,
    milestones: Sequence[int],
    gamma: float = 0.1,
    warmup_steps: int = 0,
    warmup_ratio: float = 0.001,
) -> float:
    """LR factor at optimizer step ``step``: linear warm-up from ``warmup_ratio`` then ×gamma per milestone."""
    factor = gamma ** sum(step >= m for m in milestones)
    if warmup_steps > 0 and step < warmup_steps:
        factor *= warmup_ratio + (1.0 - warmup_ratio) * step / warmup_steps
    return factor


def build_step_scheduler(
    optimizer: Optimizer,
    milestones: Iterable[int],
    gamma: float = 0.1,
    warmup_steps: int = 0,
    warmup_ratio: float = 0.001,
) -> LambdaLR:
    """Per-step ``LambdaLR``; each group's LR = base LR × ``lr_mult`` × :func:`step_warmup_factor`."""
    ms = sorted(int(m) for m in milestones)

    def factor_for(mult: float) -> Callable[[int], float]:
        def factor(step: int) -> float:
            return mult * step_warmup_factor(step, ms, gamma, warmup_steps, warmup_ratio)

        return factor

    lambdas = [factor_for(float(group.get("lr_mult", 1.0))) for group in optimizer.param_groups]
    return LambdaLR(optimizer, lambdas)
