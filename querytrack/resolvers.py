"""OmegaConf resolvers the configs use (registered on import; ``querytrack.run`` and the evaluator import this).

* ``${querytrack.precision:}``: ``bf16-mixed`` where CUDA with bf16 is available, else ``32-true`` — the
  ``trainer=auto`` precision (GPUs train in bf16 mixed precision, CPUs in fp32).
* ``${querytrack.sweep_group:}``: the multirun's sweep folder (a W&B group per sweep), ``None`` for a single run.
"""

from __future__ import annotations

from omegaconf import OmegaConf


def auto_precision() -> str:
    """``bf16-mixed`` on a CUDA device that supports bf16, else ``32-true``."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"


def sweep_group() -> str | None:
    """The sweep folder of a Hydra multirun job (its W&B group), ``None`` outside a multirun."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    return str(hydra_cfg.sweep.dir) if hydra_cfg.mode == RunMode.MULTIRUN else None


def register() -> None:
    """Register the resolvers (idempotent)."""
    OmegaConf.register_new_resolver("querytrack.precision", auto_precision, replace=True)
    OmegaConf.register_new_resolver("querytrack.sweep_group", sweep_group, replace=True)


register()
