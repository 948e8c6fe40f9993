"""``python -m querytrack.evaluate_checkpoint ckpt=PATH``: track a validation split with a trained checkpoint and evaluate it.

The model, its classes and its test size come from the checkpoint (``querytrack.inference.load``); data, tracker
and trainer come from ``conf/eval.yaml``, so association settings can be swept without retraining::

    python -m querytrack.evaluate_checkpoint ckpt=outputs/train/RUN/checkpoints/last.ckpt
    python -m querytrack.evaluate_checkpoint -m ckpt=CKPT tracker=appearance_only,appearance_iou,appearance_iou_score,default
    python -m querytrack.evaluate_checkpoint ckpt=CKPT data=ytvis21 trainer=gpu eval_hota=true

(``querytrack-score GT.json RESULTS.json`` scores a results file that already exists.)
"""

from __future__ import annotations

import os
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

import querytrack.resolvers  # noqa: F401  (registers ${querytrack.*:} before Hydra composes)
from querytrack.core.config_path import hydra_config_path
from querytrack.inference.load import load_for_inference
from querytrack.inference.stream import inference_resize
from querytrack.lit.from_config import loggers_and_callbacks
from querytrack.lit.module import QueryTrackModule
from querytrack.report import format_metrics, optimized_value


class CheckpointDataMismatchError(ValueError):
    """The checkpoint was trained on other categories than the evaluation data has."""


def evaluate_checkpoint(cfg: DictConfig) -> dict[str, Any]:
    """Instantiate from ``cfg`` (``conf/eval.yaml``), track the validation split, evaluate.

    Returns:
        ``{"metrics": {...}, "results": path of the results json, "checkpoint": cfg.ckpt}``.

    Raises:
        CheckpointDataMismatchError: the checkpoint's category ids differ from the data's.
    """
    bundle = load_for_inference(cfg.ckpt)
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("validate")
    data_ids = list(datamodule.val_set.ytvis.label_to_cat_id)
    if data_ids != bundle.category_ids:
        raise CheckpointDataMismatchError(
            f"{cfg.ckpt}: trained for category ids {bundle.category_ids} ({bundle.class_names}), but the "
            f"validation data has {data_ids}; evaluate on the data set it was trained for"
        )
    tracker = bundle.tracker if cfg.tracker_from_checkpoint else instantiate(cfg.tracker)
    module = QueryTrackModule(
        bundle.model,
        tracker=tracker,
        top_k=cfg.top_k if cfg.top_k is not None else bundle.top_k,
        max_tracks_per_video=cfg.max_tracks_per_video,
        score_mode=cfg.score_mode,
        eval_hota=cfg.eval_hota,
        eval_frame_ap=cfg.eval_frame_ap,
        results_dir=cfg.output_dir,
        paste_box=cfg.get("paste_box", "raw"),
        compile=bool(cfg.get("compile", False)),
    )
    if cfg.test_short_size is not None:
        module.test_resize = inference_resize(cfg.test_short_size, cfg.test_max_size)
    else:
        module.test_resize = bundle.resize
    loggers, callbacks = loggers_and_callbacks(cfg)
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    trainer.validate(module, datamodule=datamodule, verbose=False)
    out = {"metrics": dict(module.last_metrics), "results": module.last_results_path, "checkpoint": cfg.ckpt}
    if trainer.is_global_zero and out["metrics"]:
        print(f"\nYouTube-VIS metrics of {cfg.ckpt} on the validation split (x100):")
        print(format_metrics(out["metrics"]))
        print(f"results: {out['results']}")
    return out


@hydra.main(version_base="1.3", config_path=hydra_config_path(), config_name="eval")
def main(cfg: DictConfig) -> float | None:
    os.environ.setdefault("WANDB_SILENT", "true")
    return optimized_value(cfg, evaluate_checkpoint(cfg)["metrics"])


if __name__ == "__main__":
    main()
