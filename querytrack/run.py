"""``python -m querytrack.run``: train (and evaluate) QueryTrack from the Hydra configs in ``conf/``.

With no arguments it trains the small synthetic configuration on CPU, evaluates it on the synthetic valid split
and prints the AP table (``make run``). Examples::

    python -m querytrack.run backbone=swin_l data=ytvis21 schedule=paper augmentation=paper trainer=ddp trainer.devices=8
    python -m querytrack.run -m module.lr=1e-4,2e-4        # a sweep (Hydra multirun)
    python -m querytrack.run ckpt_path=last                # resume the run in hydra.run.dir
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from querytrack.lit.from_config import loggers_and_callbacks
from querytrack.modeling.backbone import is_resnet
from querytrack.report import format_metrics, optimized_value


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


def _devices(trainer_cfg: DictConfig) -> int:
    devices = trainer_cfg.get("devices", 1)
    if isinstance(devices, int):
        return devices if devices > 0 else 1
    if isinstance(devices, str) and devices.isdigit():
        return int(devices)
    if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        return len(devices)
    import torch

    return max(1, torch.cuda.device_count())


def check_frozen_random_layers(cfg: DictConfig) -> str | None:
    """A warning when ResNet layers would be frozen at their random initialisation, else ``None``.

    ``frozen_stages`` follows mmdetection (``-1`` nothing, ``0`` the stem, ``k`` the stem and ``layer1..k``): right
    for ImageNet or COCO weights, but with ``pretrained=false`` and no ``init_checkpoint`` those layers would
    stay random for the whole run (a from-scratch run wants ``model.frozen_stages=-1``).
    """
    model = cfg.model
    frozen = int(model.get("frozen_stages", -1))
    if (
        frozen >= 0
        and is_resnet(str(model.get("backbone", "")))
        and not model.get("pretrained")
        and not cfg.get("init_checkpoint")
    ):
        return (
            f"model.frozen_stages={frozen} freezes the randomly initialised ResNet stem"
            f"{f' and layer1..{frozen}' if frozen else ''} (pretrained=false, no init_checkpoint): they will "
            "never train; set model.frozen_stages=-1 to train from scratch"
        )
    return None


def train(cfg: DictConfig) -> dict[str, Any]:
    """Instantiate everything from ``cfg``, fit, evaluate; return metrics and paths."""
    L.seed_everything(cfg.seed, workers=True)
    if (message := check_frozen_random_layers(cfg)) is not None:
        warnings.warn(message, stacklevel=2)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    model = instantiate(cfg.model, num_classes=datamodule.num_classes)
    if cfg.get("init_checkpoint"):
        from querytrack.checkpoints.compact import NotCompactError, load_compact_into
        from querytrack.checkpoints.mmdet import load_mmdet_checkpoint

        try:
            # Our own compact detector checkpoint (e.g. builtin:synthetic_pretrain, the synthetic pretraining).
            load_compact_into(model, cfg.init_checkpoint)
        except NotCompactError:
            # COCO QueryInst weights (mmdet 2.x / 3.x naming); the track heads and class layers start fresh,
            # except the classes of init_checkpoint_class_map (ytvis19 / ytvis21 / ovis) that COCO shares.
            class_map = None
            if cfg.get("init_checkpoint_class_map"):
                from querytrack.checkpoints.class_map import build_class_map

                ds = datamodule.train_set.ytvis
                mapping = build_class_map(cfg.init_checkpoint_class_map, ds.label_to_cat_id, ds.class_names)
                print(mapping.summary())
                class_map = mapping.class_map
            load_mmdet_checkpoint(
                model,
                cfg.init_checkpoint,
                weights_only=cfg.get("init_checkpoint_weights_only", True),
                class_map=class_map,
            )
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
        "test_short_size": cfg.module.test_short_size,
        "test_max_size": cfg.module.test_max_size,
        "top_k": cfg.module.top_k,
    }

    accumulate = gradient_accumulation(
        cfg.effective_batch_size, cfg.trainer.get("num_nodes", 1), _devices(cfg.trainer), cfg.data.batch_size
    )
    loggers, callbacks = loggers_and_callbacks(cfg)
    trainer: L.Trainer = instantiate(
        cfg.trainer, callbacks=callbacks, logger=loggers or False, accumulate_grad_batches=accumulate
    )
    print(
        f"effective batch {cfg.effective_batch_size} = {trainer.num_nodes} node(s) x {trainer.num_devices} device(s) "
        f"x {cfg.data.batch_size} pairs x {accumulate} accumulation step(s); lr {cfg.module.lr} for that batch"
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


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    os.environ.setdefault("WANDB_SILENT", "true")
    return optimized_value(cfg, train(cfg)["metrics"])


if __name__ == "__main__":
    main()
