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
    model: nn.Module, weight_decay: float, backbone_lr_mult: float = 1.0, backbone_prefix: str = "backbone."
) -> list[dict[str, Any]]:
    """Split trainable parameters into (backbone | rest) × (decay | no decay) groups.

    No weight decay on norms, biases and embeddings (1-D parameters and ``NO_DECAY_TYPES`` modules). Each group
    carries ``lr_mult``; the schedule multiplies the base LR by it.
    """
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    seen: set[int] = set()
    for mod_name, module in model.named_modules():
        for p_name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            full = f"{mod_name}.{p_name}" if mod_name else p_name
            is_backbone = f".{backbone_prefix}" in f".{full}"
            no_decay = isinstance(module, NO_DECAY_TYPES) or p.ndim <= 1
            groups.setdefault((is_backbone, no_decay), []).append(p)
    out = []
    for (is_backbone, no_decay), params in sorted(groups.items()):
        out.append(
            {
                "params": params,
                "weight_decay": 0.0 if no_decay else weight_decay,
                "lr_mult": backbone_lr_mult if is_backbone else 1.0,
                "name": f"{'backbone' if is_backbone else 'head'}{'_no_decay' if no_decay else ''}",
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
