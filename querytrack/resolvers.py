"""OmegaConf resolvers the configs use (registered on import; ``querytrack.run`` and the evaluator import this).

* ``${querytrack.precision:}``: ``bf16-mixed`` where CUDA with bf16 is available, else ``32-true`` — the
  ``trainer=auto`` precision (GPUs train in bf16 mixed precision, CPUs in fp32).
* ``${querytrack.sweep_group:}``: the multirun's sweep folder (a W&B group per sweep), ``None`` for a single run.
* ``${querytrack.gpus_per_node:ACCELERATOR,DEVICES}`` / ``${querytrack.tasks_per_node:DEVICES}``: what a SLURM job
  asks for (``conf/hydra/launcher/slurm.yaml``): GPUs only for a GPU trainer, one task per device.
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


GPU_ACCELERATORS = ("gpu", "cuda")


def gpus_per_node(accelerator: str, devices: int | str) -> int | None:
    """GPUs a SLURM job asks for: ``None`` (no request) off GPU.

    A CPU run asking for GPUs is refused by a cluster without GPU resources (``Invalid generic resource (gres)
    specification``). ``auto`` requests none: name ``trainer=gpu`` (or set ``hydra.launcher.gpus_per_node``) for
    a GPU job.
    """
    if str(accelerator).lower() not in GPU_ACCELERATORS:
        return None
    return tasks_per_node(devices)


def tasks_per_node(devices: int | str) -> int:
    """SLURM tasks per node: one per device; ``auto`` (unknown when the job is submitted) counts as 1."""
    return int(devices) if str(devices).isdigit() and int(devices) > 0 else 1


def register() -> None:
    """Register the resolvers (idempotent)."""
    OmegaConf.register_new_resolver("querytrack.precision", auto_precision, replace=True)
    OmegaConf.register_new_resolver("querytrack.sweep_group", sweep_group, replace=True)
    OmegaConf.register_new_resolver("querytrack.gpus_per_node", gpus_per_node, replace=True)
    OmegaConf.register_new_resolver("querytrack.tasks_per_node", tasks_per_node, replace=True)


register()
