"""``python -m querytrack.run``: train (and evaluate) QueryTrack from the Hydra configs in ``conf/``.

With no arguments it runs the paper's recipe (QueryInst R50 from its COCO weights on YouTube-VIS 2021, batch 32,
12 epochs); the embedded synthetic job is ``experiment=synthetic`` (``make run``). Examples::

    python -m querytrack.run backbone=swin_l trainer.devices=8      # the paper's Swin-L model on 8 GPUs
    python -m querytrack.run data=ovis data.root=DIR debug=smoke    # a one-minute check of a data set
    python -m querytrack.run -m module.lr=1e-5,2e-5                 # a sweep (Hydra multirun)
    python -m querytrack.run ckpt_path=last                         # resume the run in hydra.run.dir

Before any model is built it prints a summary block (model size, backbone, init, data, effective batch,
precision, devices); bad input (missing data, an init checkpoint that cannot be had) ends it with one line on
stderr and exit 1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

import querytrack.resolvers  # noqa: F401  (registers ${querytrack.*:} before Hydra composes)
from querytrack.core.config_path import hydra_config_path
from querytrack.core.errors import UserError
from querytrack.lit.from_config import loggers_and_callbacks
from querytrack.modeling.backbone import is_resnet
from querytrack.report import format_metrics, optimized_value
from querytrack.run_summary import count_parameters, devices_of, format_summary


def git_sha() -> str:
    """Commit of the code being run (``unknown`` outside a git checkout)."""
    try:
        return subprocess.check_output(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, stderr=subprocess.DEVNULL, text=True
        ).strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def gradient_accumulation(effective_batch: int, num_nodes: int, devices: int, batch_size: int) -> int:
    """Accumulation steps that keep ``effective_batch`` pairs per optimizer step.

    Raises:
        ValueError: when ``effective_batch`` is not a multiple of ``num_nodes × devices × batch_size``.
    """
    per_step = num_nodes * devices * batch_size
    if per_step <= 0 or effective_batch % per_step:
        raise ValueError(
            f"effective_batch_size={effective_batch} is not a multiple of num_nodes x devices x batch_size "
            f"= {num_nodes} x {devices} x {batch_size} = {per_step}"
        )
    return effective_batch // per_step


def check_frozen_random_layers(cfg: DictConfig) -> str | None:
    """A warning when ResNet layers would be frozen at their random initialisation, else ``None``.

    ``frozen_stages`` follows mmdetection (``-1`` nothing, ``0`` the stem, ``k`` the stem and ``layer1..k``): right
    for ImageNet or COCO weights, but with ``pretrained=false``, no ``init_checkpoint`` and no
    ``backbone.checkpoint`` those layers would stay random for the whole run (a from-scratch run wants
    ``model.frozen_stages=-1``).
    """
    model = cfg.model
    frozen = int(model.get("frozen_stages", -1))
    if (
        frozen >= 0
        and is_resnet(str(model.get("backbone", "")))
        and not model.get("pretrained")
        and not cfg.get("init_checkpoint")
        and not OmegaConf.select(cfg, "backbone.checkpoint")
    ):
        return (
            f"model.frozen_stages={frozen} freezes the randomly initialised ResNet stem"
            f"{f' and layer1..{frozen}' if frozen else ''} (pretrained=false, no init_checkpoint): they will "
            "never train; set model.frozen_stages=-1 to train from scratch"
        )
    return None


def hydra_choice(group: str) -> str | None:
    """The option chosen for a config group in the running Hydra job (``None`` outside one)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    return HydraConfig.get().runtime.choices.get(group)


def check_init_fits(cfg: DictConfig) -> None:
    """A named COCO checkpoint must fit the model: same backbone, stages and queries (else one-line UserError)."""
    from querytrack.checkpoints.download import init_entry

    entry = init_entry(str(cfg.init_checkpoint))
    if entry is None:
        return
    m = cfg.model
    want = (entry.backbone, entry.num_stages, entry.num_queries)
    have = (str(m.backbone), int(m.get("num_stages", 6)), int(m.num_queries))
    if want != have:
        raise UserError(
            None,
            f"init_checkpoint={cfg.init_checkpoint} is a {want[0]} QueryInst with {want[1]} stages and {want[2]} "
            f"queries, but the model is {have[0]} with {have[1]} stages and {have[2]} queries: choose the "
            "backbone= option that matches, or init_checkpoint=null / another checkpoint "
            "(python -m querytrack.checkpoints.download --list)",
        )


def backbone_checkpoint(cfg: DictConfig) -> Path | None:
    """``backbone.checkpoint``: a local weights file for the backbone alone, or ``None``.

    Raises:
        UserError: the file does not exist (before the data is read).
    """
    value = OmegaConf.select(cfg, "backbone.checkpoint")
    if not value:
        return None
    path = Path(str(value)).expanduser()
    if not path.is_file():
        raise UserError(value, "no such file (backbone.checkpoint)")
    return path


def build_model(cfg: DictConfig, num_classes: int, pretrained: bool) -> Any:
    """``cfg.model`` instantiated; with ``pretrained``, a failed download of timm's weights (no network, an offline
    hub cache without the file) is a one-line UserError that names the offline road.

    Raises:
        UserError: timm's pretrained weights could not be fetched.
    """
    try:
        return instantiate(cfg.model, num_classes=num_classes, pretrained=pretrained)
    except Exception as e:
        cause = e.__cause__ if isinstance(e, InstantiationException) else e
        if not (pretrained and isinstance(cause, OSError)):
            raise
        detail = " ".join(str(cause).split())[:200]
        raise UserError(
            None,
            f"model.pretrained=true: cannot fetch timm's weights for backbone {cfg.model.backbone} "
            f"({type(cause).__name__}: {detail}); offline, pass the backbone's weights file with "
            "backbone.checkpoint=PATH (docs/backbones.md) or start from model.pretrained=false",
        ) from e


def load_init_checkpoint(cfg: DictConfig, path: Path, model: Any, datamodule: Any) -> None:
    """Load the init checkpoint at ``path`` (``cfg.init_checkpoint`` resolved: a shipped ``builtin:NAME``, a named
    COCO checkpoint, a path or a URL).

    Our compact checkpoints load as they are; COCO QueryInst weights (mmdetection 2.x / 3.x naming) load without
    the track heads, with the classifier rows of the classes the data set shares with COCO (its class map).
    """
    from querytrack.checkpoints.compact import NotCompactError, load_compact_into
    from querytrack.checkpoints.mmdet import load_mmdet_checkpoint

    try:
        load_compact_into(model, path)
    except NotCompactError:
        class_map = None
        map_name = datamodule.coco_class_map  # ytvis19 / ytvis21 / ovis: the data option's coco_class_map
        if map_name:
            from querytrack.checkpoints.class_map import build_class_map

            ds = datamodule.train_set.ytvis
            mapping = build_class_map(map_name, ds.label_to_cat_id, ds.class_names)
            print(mapping.summary())
            class_map = mapping.class_map
        load_mmdet_checkpoint(
            model, path, weights_only=cfg.get("init_checkpoint_weights_only", True), class_map=class_map
        )


def train(cfg: DictConfig) -> dict[str, Any]:
    """Instantiate everything from ``cfg``, fit, evaluate; return metrics and paths.

    Raises:
        UserError: missing / bad data, or an init checkpoint that cannot be found, fetched or checked.
    """
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if (message := check_frozen_random_layers(cfg)) is not None:
        warnings.warn(message, stacklevel=2)
    if cfg.get("init_checkpoint"):
        check_init_fits(cfg)
    datamodule = instantiate(cfg.data, holdout_dir=cfg.output_dir)
    _ = datamodule.layout  # finds the data from its root, or stops with one line
    init_path = None
    if cfg.get("init_checkpoint"):  # before minutes of data reading and model building: fail fast
        from querytrack.checkpoints.download import resolve_init_checkpoint

        init_path = resolve_init_checkpoint(str(cfg.init_checkpoint))  # downloaded once, checked
    backbone_path = backbone_checkpoint(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    accumulate = gradient_accumulation(
        cfg.effective_batch_size,
        cfg.trainer.get("num_nodes", 1),
        devices_of(cfg.trainer),
        cfg.data.batch_size,
    )
    if int(os.environ.get("LOCAL_RANK", "0")) == 0 and int(os.environ.get("NODE_RANK", "0")) == 0:
        data_line = f"{hydra_choice('data') or 'data'}: {datamodule.describe()}"
        num_params = count_parameters(cfg.model, datamodule.num_classes)
        print(format_summary(cfg, data_line, datamodule.num_classes, num_params, accumulate))
    pretrained = bool(cfg.model.get("pretrained", False))
    if pretrained and init_path is not None:
        print("model.pretrained: no ImageNet download, init_checkpoint holds the backbone's weights")
        pretrained = False
    if pretrained and backbone_path is not None:
        print("model.pretrained: no download, backbone.checkpoint holds the backbone's weights")
        pretrained = False
    model = build_model(cfg, datamodule.num_classes, pretrained)
    if backbone_path is not None:
        from querytrack.checkpoints.backbone_weights import load_backbone_weights

        report = load_backbone_weights(model.detector.backbone, backbone_path)
        print(f"backbone.checkpoint={backbone_path}: {report.summary()}")
    if init_path is not None:
        load_init_checkpoint(cfg, init_path, model, datamodule)
    module = instantiate(cfg.module, model=model, compile=bool(cfg.get("compile", False)))
    ytvis = datamodule.train_set.ytvis
    module.inference_spec = {
        "model": {
            **OmegaConf.to_container(cfg.model, resolve=True),  # type: ignore[dict-item]
            "num_classes": datamodule.num_classes,
            "pretrained": False,
        },
        "class_names": list(ytvis.class_names),
        "category_ids": list(ytvis.label_to_cat_id),
        "tracker": OmegaConf.to_container(cfg.tracker, resolve=True),
        "test_short_size": module.hparams.test_short_size,
        "test_max_size": module.hparams.test_max_size,
        "top_k": module.hparams.top_k,
    }

    loggers, callbacks = loggers_and_callbacks(cfg)
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, accumulate_grad_batches=accumulate
    )
    if trainer.num_nodes * trainer.num_devices != int(cfg.trainer.get("num_nodes", 1)) * devices_of(
        cfg.trainer
    ):
        # Lightning resolved "auto" devices differently from the summary's count: keep the effective batch.
        trainer.accumulate_grad_batches = gradient_accumulation(
            cfg.effective_batch_size, trainer.num_nodes, trainer.num_devices, cfg.data.batch_size
        )
        print(
            f"effective batch {cfg.effective_batch_size} = {trainer.num_nodes} node(s) x {trainer.num_devices} "
            f"device(s) x {cfg.data.batch_size} pairs x {trainer.accumulate_grad_batches} accumulation step(s)"
        )
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for lg in trainer.loggers:
        lg.log_hyperparams({"config": resolved, "git_sha": git_sha()})

    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path == "last":
        ckpt_path = str(Path(cfg.trainer.default_root_dir) / "checkpoints" / "last.ckpt")
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)

    out: dict[str, Any] = {"metrics": dict(module.last_metrics)}
    # The checkpoint to evaluate and report: the best by the monitored metric, else the latest one.
    # eval_checkpoint "best" (by the monitored metric) or "last" (the final weights: no selection on the
    # split that is reported).
    last_first = cfg.get("eval_checkpoint", "best") == "last"
    ranked = sorted(
        trainer.checkpoint_callbacks,
        key=lambda cb: (getattr(cb, "monitor", None) is None) != last_first,
    )
    checkpoint = next((p for cb in ranked if (p := getattr(cb, "best_model_path", "") or "")), None)
    if cfg.get("evaluate") and not getattr(trainer, "fast_dev_run", False):
        if checkpoint and module.last_metrics and checkpoint_step(checkpoint) == module.last_metrics_step:
            print(f"evaluation: {checkpoint} is the checkpoint validated last; its metrics are reused")
        else:
            trainer.validate(module, datamodule=datamodule, ckpt_path=checkpoint or None, verbose=False)
        out["metrics"] = dict(module.last_metrics)
    out["checkpoint"] = checkpoint
    out["results"] = module.last_results_path
    out["curve"] = (
        write_curve(trainer, Path(cfg.output_dir) / "curve.png") if trainer.is_global_zero else None
    )
    overlay = next((cb for cb in callbacks if getattr(cb, "last_strip", None)), None)
    out["overlay"] = (overlay.last_video, overlay.last_strip) if overlay is not None else None  # type: ignore[attr-defined]
    if trainer.is_global_zero and out["metrics"]:
        print("\nYouTube-VIS metrics on the validation split (x100; frame = the detector before tracking):")
        print(format_metrics(out["metrics"]))
        print(f"checkpoint: {checkpoint}\nresults:    {out['results']}")
        if out["overlay"]:
            print(f"overlay:    {out['overlay'][0]}\nstrip:      {out['overlay'][1]}")
        if out["curve"]:
            print(f"curve:      {out['curve']}")
    return out


def checkpoint_step(path: str) -> int | None:
    """``global_step`` stored in a Lightning checkpoint (memory-mapped read; None if unreadable)."""
    import torch

    try:
        return int(torch.load(path, map_location="cpu", mmap=True, weights_only=False)["global_step"])
    except (OSError, RuntimeError, KeyError, TypeError, ValueError):
        return None


def write_curve(trainer: L.Trainer, path: Path) -> str | None:
    """Plot the CSV logger's loss / AP curve to ``path`` (None without a CSV logger or logged loss)."""
    from lightning.pytorch.loggers import CSVLogger

    from querytrack.plots import plot_training_curve

    for lg in trainer.loggers:
        if isinstance(lg, CSVLogger):
            lg.save()
            metrics_csv = Path(lg.log_dir) / "metrics.csv"
            if metrics_csv.is_file():
                try:
                    return str(plot_training_curve(metrics_csv, path))
                except ValueError:
                    return None
    return None


@hydra.main(version_base="1.3", config_path=hydra_config_path(), config_name="train")
def main(cfg: DictConfig) -> float | None:
    os.environ.setdefault("WANDB_SILENT", "true")
    try:
        metrics = train(cfg)["metrics"]
    except UserError as e:  # bad input: one line, no traceback
        print(f"querytrack-train: {e}", file=sys.stderr)
        sys.exit(1)
    return optimized_value(cfg, metrics)


if __name__ == "__main__":
    main()
