"""The SLURM launcher config (hydra-submitit-launcher) composes with the multirun configs and follows the trainer."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from tests.hydra_config import compose_config

pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the slurm extra")


def _compose(*overrides: str) -> DictConfig:
    return compose_config(*overrides, return_hydra_config=True)


def test_multinode_sweep_composes_with_the_slurm_launcher() -> None:
    cfg = _compose(
        "hydra/launcher=slurm",
        "trainer=ddp_multinode",
        "trainer.num_nodes=4",
        "trainer.devices=8",
        "hydra.launcher.partition=gpu",
        "hparams_search=synthetic_lr",
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (4, 8, 8)
    assert launcher.partition == "gpu" and launcher.timeout_min == 4320
    assert cfg.hydra.sweeper.params["module.lr"] == "1e-4,2e-4,5e-4"
    assert OmegaConf.select(cfg, "hydra.launcher.submitit_folder").endswith(".submitit/%j")
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.num_nodes == 4


def test_slurm_launcher_defaults_to_one_task_on_cpu_trainer() -> None:
    cfg = _compose("hydra/launcher=slurm")
    assert (cfg.hydra.launcher.nodes, cfg.hydra.launcher.tasks_per_node) == (1, 1)


def test_launcher_instantiates(tmp_path: Path) -> None:
    """Hydra can build the launcher from the composed config (no job is submitted)."""
    from hydra.core.plugins import Plugins

    cfg = _compose("hydra/launcher=slurm", "trainer=ddp", f"hydra.sweep.dir={tmp_path}")
    launcher = Plugins.instance().instantiate_launcher(
        hydra_context=None,
        task_function=lambda c: None,
        config=cfg,  # type: ignore[arg-type]
    )
    assert type(launcher).__name__ == "SlurmLauncher"
    assert launcher.params["tasks_per_node"] == 8


def test_slurm_launcher_requests_gpus_only_for_a_gpu_trainer() -> None:
    """A CPU job asking for GPUs is refused by a cluster without GPU resources (``Invalid generic resource``)."""
    cpu = _compose(
        "hydra/launcher=slurm", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"
    ).hydra.launcher
    assert (cpu.tasks_per_node, cpu.gpus_per_node) == (2, None)
    assert _compose("hydra/launcher=slurm").hydra.launcher.gpus_per_node is None
    gpu = _compose("hydra/launcher=slurm", "trainer=gpu").hydra.launcher
    assert (gpu.tasks_per_node, gpu.gpus_per_node) == (1, 1)
    assert (
        _compose("hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4").hydra.launcher.gpus_per_node == 4
    )
