"""The LightningModule: wires the QueryTrack model, its losses, the optimizer and video evaluation.

* ``training_step``: a :class:`~querytrack.types.PairBatch` → ``QueryTrack.loss`` (detector losses on the key
  frame + contrastive tracking loss); weighted and raw losses per stage are logged; a non-finite loss stops the
  run naming the batch's videos and frames.
* validation / test: each step is one lazy :class:`~querytrack.data.datasets.VideoClip` streamed through
  :func:`~querytrack.inference.stream.track_video` (constant memory); results are gathered across ranks and
  scored with :func:`~querytrack.evaluation.evaluate_ytvis` (``val/AP``, ``val/AP50``, ...).
* ``configure_optimizers``: AdamW with parameter groups (see :mod:`querytrack.lit.optim`), per-step LR schedule
  with linear warm-up and ×``gamma`` at the epochs in ``milestones``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch import Tensor, nn

from querytrack.data.datasets import VideoClip
from querytrack.evaluation import evaluate_ytvis
from querytrack.evaluation.frame_ap import FrameDetectionCollector, evaluate_frame_ap
from querytrack.evaluation.io import load_gt
from querytrack.inference.frame_model import DetectorFrameModel
from querytrack.inference.results import VideoTrackBuilder, write_results
from querytrack.inference.stream import inference_resize, track_video
from querytrack.inference.tracker import Tracker
from querytrack.lit.gather import RankOutput, computed_on_rank_zero, gather_rank_outputs
from querytrack.lit.optim import build_step_scheduler, param_groups
from querytrack.modeling.compile import compile_detector, is_compiled
from querytrack.types import PairBatch

LOGGED_METRICS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN/inf; the message names the batch's videos and frames."""


class QueryTrackModule(L.LightningModule):
    """Training and evaluation of QueryTrack.

    Args:
        model: a ``QueryTrack`` (``querytrack.modeling.build_querytrack``): ``loss(PairBatch)`` and a
            ``detector`` for inference.
        lr: AdamW learning rate for the config's ``effective_batch_size`` (paper: 1.25e-5 at batch 32). The run
            scales nothing: it keeps the effective batch by gradient accumulation (see ``querytrack.run``).
        weight_decay: AdamW weight decay (QueryInst official: 1e-4); none on norms, biases, embeddings.
        backbone_lr_mult: LR multiplier of the backbone (QueryInst official: 1.0; mmdetection: 0.1).
        layer_decay: layer-wise LR decay of a ViT backbone (``lit.optim.param_groups``; the ViT backbone options
            set it, e.g. 0.8 for ViT-L); ``None`` for ResNet / Swin.
        betas: AdamW betas.
        milestones: epochs (fractions allowed) where the LR is multiplied by ``gamma`` (paper: 9, 11 of 12).
        gamma: the step-decay factor.
        warmup_steps: linear warm-up optimizer steps (from ``warmup_ratio`` × LR).
        warmup_ratio: starting LR factor of the warm-up.
        tracker: the online tracker used for validation (``None``: ``Tracker()`` defaults).
        test_short_size / test_max_size: test-time resize of each frame (paper: 640 / 1333, or 360 / 640).
        top_k: candidates per frame handed to the tracker (paper: 10).
        max_tracks_per_video: cap of result entries per video (≤ 100).
        score_mode: ``"aggregate"`` (whole-video class/score) or ``"causal"`` (decided online, never revised).
        eval_hota: also compute HOTA / DetA / AssA (trackeval; slower).
        eval_frame_ap: also score the detector's per-frame top-k candidates before tracking (``frame_AP``,
            ``frame_AP50``, ...; see :mod:`querytrack.evaluation.frame_ap`), from the same validation pass.
        results_dir: where validation results json are written (default: the trainer's log dir).
        paste_box: ``"clamped"`` or ``"raw"``: the box each 28×28 mask is pasted into (see
            :func:`querytrack.inference.postprocess.postprocess_frame`).
        compile: compile the detector's dense parts with ``torch.compile`` (inductor) for training and inference,
            in :meth:`configure_model` (``querytrack.modeling.compile``); the weights and checkpoints are those of
            the eager model.
    """

    def __init__(
        self,
        model: nn.Module,
        lr: float = 1.25e-5,
        weight_decay: float = 1e-4,
        backbone_lr_mult: float = 1.0,
        layer_decay: float | None = None,
        betas: Sequence[float] = (0.9, 0.999),
        milestones: Sequence[float] = (9, 11),
        gamma: float = 0.1,
        warmup_steps: int = 1000,
        warmup_ratio: float = 0.001,
        tracker: Tracker | None = None,
        test_short_size: int = 640,
        test_max_size: int = 1333,
        top_k: int = 10,
        max_tracks_per_video: int = 100,
        score_mode: str = "aggregate",
        eval_hota: bool = False,
        eval_frame_ap: bool = True,
        results_dir: str | None = None,
        paste_box: str = "raw",
        compile: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model", "tracker"], logger=False)
        self.model = model
        self.tracker = tracker if tracker is not None else Tracker()
        self.test_resize = inference_resize(test_short_size, test_max_size)
        self._val_results: list[dict[str, Any]] = []
        self._val_frames = FrameDetectionCollector()
        self._val_videos: list[int] = []
        self._val_gt: str | None = None
        self._val_categories: list[int] | None = None
        self.last_metrics: dict[str, float] = {}
        #: ``global_step`` of the weights ``last_metrics`` were computed with (-1: none yet).
        self.last_metrics_step: int = -1
        self.last_results_path: str | None = None
        #: What inference needs to rebuild the model without the training config (``querytrack.inference.load``):
        #: model keyword arguments, class names and dataset category ids, tracker arguments, test sizes. Set by
        #: ``querytrack.run``; stored in every checkpoint under ``"querytrack"``.
        self.inference_spec: dict[str, Any] | None = None

    @property
    def _hp(self) -> Any:
        """``self.hparams`` typed loosely (Lightning's is a plain mapping to the type checker)."""
        return self.hparams

    def configure_model(self) -> None:
        """With ``compile``: compile the detector in place (once; Lightning calls this hook before every fit,
        validate and test)."""
        detector: Any = getattr(self.model, "detector", self.model)
        if self._hp.get("compile", False) and not is_compiled(detector):
            compile_detector(detector)

    # ------------------------------------------------------------------ training
    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        if isinstance(batch, PairBatch):
            return batch.to(device)
        return batch  # VideoClip: frames are moved one at a time by the streaming loop

    def training_step(self, batch: PairBatch, batch_idx: int) -> Tensor:
        losses = self.model.loss(batch)  # type: ignore[operator]
        loss = losses["loss"]
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"non-finite training loss ({loss.item()}) at step {self.global_step}, batch {batch_idx}: "
                f"key frames {list(zip(batch.key.video_ids, batch.key.frame_indices, strict=True))}, "
                f"reference frames {list(zip(batch.ref.video_ids, batch.ref.frame_indices, strict=True))} "
                f"(video id, frame index); files {batch.key.file_names}. "
                + ", ".join(f"{k}={v.item():.4g}" for k, v in losses.items() if not torch.isfinite(v))
            )
        bs = len(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        self.log_dict(
            {f"train/{k}": v.detach() for k, v in losses.items() if k != "loss"},
            batch_size=bs,
        )
        return loss

    def configure_optimizers(self) -> Any:
        hp = self._hp
        groups = param_groups(
            self.model, hp.weight_decay, hp.backbone_lr_mult, layer_decay=hp.get("layer_decay")
        )
        # fused AdamW (CPU and CUDA): one kernel for all parameters instead of a loop over tensors
        optimizer = torch.optim.AdamW(
            groups, lr=hp.lr, betas=tuple(hp.betas), weight_decay=hp.weight_decay, fused=True
        )
        steps_per_epoch = 1
        trainer = self._trainer
        if trainer is not None and trainer.max_epochs and trainer.max_epochs > 0:
            total = trainer.estimated_stepping_batches
            if math.isfinite(total):
                steps_per_epoch = max(1, int(total) // trainer.max_epochs)
        milestones = [round(m * steps_per_epoch) for m in hp.milestones]
        scheduler = build_step_scheduler(optimizer, milestones, hp.gamma, hp.warmup_steps, hp.warmup_ratio)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    def on_train_epoch_start(self) -> None:
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and hasattr(dm, "set_epoch"):
            dm.set_epoch(self.current_epoch)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if self.inference_spec is not None:
            checkpoint["querytrack"] = self.inference_spec

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.inference_spec = checkpoint.get("querytrack", self.inference_spec)

    # ---------------------------------------------------------------- evaluation
    def _track_clip(self, clip: VideoClip) -> None:
        if clip.transform is not None:
            raise ValueError("validation clips must yield original frames (VideoDataset(transform=None))")
        builder = VideoTrackBuilder()
        frames = (f.image for f in clip)
        detector: Any = getattr(self.model, "detector", self.model)
        # A detection-only model (e.g. experiment=synthetic_pretrain) still validates: its frame AP is the figure
        # that matters, and the tracker links its detections by box IoU and class alone (zero embeddings).
        frame_model = DetectorFrameModel(detector, require_embeddings=False)
        with_candidates = bool(self._hp.get("eval_frame_ap", False))
        for result in track_video(
            frame_model,
            frames,
            self.tracker,
            resize=self.test_resize,
            device=self.device,
            top_k=self._hp.top_k,
            candidates=with_candidates,
            paste_box=self._hp.get("paste_box", "raw"),
        ):
            builder.add(result)
            if result.candidates is not None:
                c = result.candidates
                self._val_frames.add(
                    clip.video_id, result.frame_index, c.labels, c.scores, c.rles, clip.ytvis.label_to_cat_id
                )
        self._val_results.extend(
            builder.entries(
                clip.video_id,
                clip.ytvis.label_to_cat_id,
                num_frames=clip.length,
                mode=self._hp.score_mode,
                max_tracks=self._hp.max_tracks_per_video,
            )
        )
        self._val_videos.append(int(clip.video_id))
        self._val_gt = str(clip.ytvis.ann_file)

    def _reset_outputs(self) -> None:
        self._val_results = []
        self._val_frames = FrameDetectionCollector()
        self._val_videos = []

    def on_validation_epoch_start(self) -> None:
        self._reset_outputs()

    def validation_step(self, clip: VideoClip, batch_idx: int) -> None:
        self._track_clip(clip)

    def on_validation_epoch_end(self) -> None:
        self._evaluate("val")

    def on_test_epoch_start(self) -> None:
        self._reset_outputs()

    def test_step(self, clip: VideoClip, batch_idx: int) -> None:
        self._track_clip(clip)

    def on_test_epoch_end(self) -> None:
        self._evaluate("test")

    def _score(self, split: str, merged: RankOutput, out_dir: Path) -> dict[str, float]:
        """Write ``<out_dir>/<split>_results.json`` and score it (track AP; frame AP if collected)."""
        os.makedirs(out_dir, exist_ok=True)
        path = out_dir / f"{split}_results.json"
        write_results(merged.results, path)
        self.last_results_path = str(path)
        assert merged.gt is not None
        gt_data = load_gt(merged.gt)
        metrics = evaluate_ytvis(gt_data, merged.results, per_category=False, hota=self._hp.eval_hota)
        frames = FrameDetectionCollector(merged.frame_items)
        if frames.items:
            metrics.update({f"frame_{k}": v for k, v in evaluate_frame_ap(gt_data, frames).items()})
        return metrics

    def _evaluate(self, split: str) -> None:
        """Gather every rank's outputs, score them on rank 0, share the metrics with all ranks.

        Every rank runs the same sequence of collectives (the gather, ``trainer.log_dir``, the broadcast,
        ``log_dict(sync_dist=True)``); only the file writing and scoring are rank 0's.
        """
        merged = gather_rank_outputs(
            RankOutput(self._val_videos, self._val_results, self._val_frames.items, self._val_gt)
        )
        if merged.gt is None or self.trainer.sanity_checking:
            return
        # trainer.log_dir broadcasts rank 0's value: a collective, so every rank asks before rank 0 goes on alone.
        log_dir = self.trainer.log_dir
        out_dir = Path(self._hp.results_dir or log_dir or self.trainer.default_root_dir)
        no_metrics: dict[str, float] = {}
        metrics = computed_on_rank_zero(lambda: self._score(split, merged, out_dir), default=no_metrics)
        self.last_metrics = metrics
        self.last_metrics_step = int(self.global_step)
        if self.global_rank == 0 and metrics:
            shown = " ".join(
                f"{k} {100 * metrics[k]:.1f}"
                for k in ("AP", "AP50", "AP75", "AR1", "AR10", "HOTA", "frame_AP", "frame_AP50")
                if k in metrics
            )
            print(f"[{split}] epoch {self.current_epoch} step {self.global_step}: {shown}", flush=True)
        logged = {
            f"{split}/{k}": float(v)
            for k, v in metrics.items()
            if k in LOGGED_METRICS
            or k in ("HOTA", "DetA", "AssA")
            or (k.startswith("frame_") and k[len("frame_") :] in LOGGED_METRICS)
        }
        self.log_dict(logged, sync_dist=True, batch_size=1)
