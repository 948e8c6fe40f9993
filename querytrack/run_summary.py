"""The block ``python -m querytrack.run`` prints before any model is built: what will train, on what, how.

Model size comes from a copy of the model built on PyTorch's ``meta`` device (shapes only: no memory, no weights,
no download), so a wrong recipe shows before minutes of loading.
"""

from __future__ import annotations

from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from querytrack.modeling.backbone import is_resnet
from querytrack.modeling.vit_backbone import is_vit


def count_parameters(model_cfg: DictConfig, num_classes: int) -> int:
    """Parameters of the model ``model_cfg`` builds, counted on the meta device (no weights are made or loaded)."""
    import torch

    with torch.random.fork_rng(devices=[]), torch.device("meta"):  # the run's random draws stay as they were
        model = instantiate(model_cfg, num_classes=num_classes, pretrained=False)
    return sum(p.numel() for p in model.parameters())


def devices_of(trainer_cfg: DictConfig) -> int:
    """The number of devices per node a trainer config asks for (``auto``: every GPU, or 1 process on a CPU)."""
    devices = trainer_cfg.get("devices", 1)
    if isinstance(devices, int):
        return devices if devices > 0 else 1
    if isinstance(devices, str) and devices.isdigit():
        return int(devices)
    if isinstance(devices, list | tuple) or OmegaConf.is_list(devices):
        return len(devices)
    if str(trainer_cfg.get("accelerator", "auto")) == "cpu":
        return 1
    import torch

    return max(1, torch.cuda.device_count())


def module_arg(cfg: DictConfig, name: str) -> Any:
    """``cfg.module.<name>``, or the LightningModule's default where the config leaves it out."""
    if name in cfg.module:
        return cfg.module[name]
    import inspect

    from querytrack.lit.module import QueryTrackModule

    return inspect.signature(QueryTrackModule).parameters[name].default


def init_line(cfg: DictConfig) -> str:
    """Where the weights start from: the init checkpoint, else a backbone weights file, else timm's weights
    (``model.pretrained``), else nothing."""
    if cfg.get("init_checkpoint"):
        return str(cfg.init_checkpoint)
    if backbone_file := OmegaConf.select(cfg, "backbone.checkpoint"):
        return f"backbone from {backbone_file}"
    if cfg.model.get("pretrained"):
        return "timm's pretrained weights" if is_vit(str(cfg.model.backbone)) else "ImageNet (timm)"
    return "none (random initialisation)"


def format_summary(
    cfg: DictConfig, data_line: str, num_classes: int, num_params: int, accumulate: int
) -> str:
    """The summary block: model, backbone + init, data, effective batch, precision / devices, schedule, output.

    Args:
        cfg: the composed training config.
        data_line: the data option with its root, layout and train / validation videos.
        num_classes: classes of the data set.
        num_params: model parameters (:func:`count_parameters`).
        accumulate: gradient accumulation steps.
    """
    m, t = cfg.model, cfg.trainer
    nodes, devices, batch = int(t.get("num_nodes", 1)), devices_of(t), int(cfg.data.batch_size)
    stages = m.get("num_stages", 6)
    hidden = m.get("hidden_dim", 256)
    drop = m.get("drop_path_rate")
    vit = is_vit(str(m.backbone))
    decay = OmegaConf.select(cfg, "module.layer_decay")
    rows = [
        (
            "model",
            f"QueryTrack, {stages} stages, {m.num_queries} queries, {hidden} channels, "
            f"{num_params / 1e6:.1f} M parameters, {num_classes} classes",
        ),
        (
            "backbone",
            f"{m.backbone}"
            + (f", drop path {drop}" if drop else "")
            + (", simple feature pyramid" if vit else "")
            + (f", layer decay {decay}" if decay is not None else "")
            + (
                f", frozen stages {m.frozen_stages}"
                if "frozen_stages" in m and is_resnet(str(m.backbone))
                else ""
            ),
        ),
        ("init", init_line(cfg)),
        ("data", data_line),
        (
            "batch",
            f"{nodes * devices * batch * accumulate} = {nodes} node(s) x {devices} device(s) x "
            f"{batch} pairs x {accumulate} accumulation step(s)",
        ),
        (
            "trainer",
            f"precision {t.precision}, accelerator {t.accelerator}, devices {t.devices}, "
            f"strategy {t.get('strategy', 'auto')}",
        ),
        (
            "schedule",
            f"{t.max_epochs} epochs, AdamW lr {module_arg(cfg, 'lr')} "
            f"(x{module_arg(cfg, 'gamma')} at epochs {list(module_arg(cfg, 'milestones'))}), clip "
            f"{t.get('gradient_clip_val')}",
        ),
        ("output", str(cfg.output_dir)),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(["querytrack run:"] + [f"  {k:<{width}}  {v}" for k, v in rows])
