"""Project callbacks: a tracked overlay video of one validation clip and its ID-switch count, per validation."""

from __future__ import annotations

import copy
import itertools
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from querytrack.core import rle as rle_utils
from querytrack.inference.frame_model import DetectorFrameModel
from querytrack.inference.stream import track_video
from querytrack.video_io import write_video
from querytrack.visualize import (
    count_id_switches,
    decode_rles,
    frame_strip,
    overlay,
    render_scale,
    save_png,
)


class TrackOverlayCallback(Callback):
    """After each validation, track one validation clip, write its overlay video and log ID switches.

    The video goes to ``<log dir>/overlays/epoch<NN>.mp4`` (and a still strip of six of its frames to
    ``epoch<NN>_strip.png``) and, with a W&B logger, to the dashboard as ``val/overlay``; ``val/id_switches``
    (mask IoU ≥ 0.5 matching to the ground truth) is logged everywhere. Small frames are rendered upscaled
    (short side ≥ ``min_short_side``) so that labels stay readable.

    Args:
        video_index: which validation video to show.
        max_frames: frames of it to track and render.
        fps: frame rate of the overlay video.
        every_n_epochs: render on every n-th validation only.
        min_short_side: frames are upscaled (integer factor) until their short side reaches this.
    """

    def __init__(
        self,
        video_index: int = 0,
        max_frames: int = 48,
        fps: float = 6.0,
        every_n_epochs: int = 1,
        min_short_side: int = 384,
    ) -> None:
        self.min_short_side = min_short_side
        self.video_index = video_index
        self.max_frames = max_frames
        self.fps = fps
        self.every_n_epochs = every_n_epochs
        self.last_video: str | None = None
        self.last_strip: str | None = None
        self.last_id_switches: int | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        dm: Any = getattr(trainer, "datamodule", None)
        val_set = getattr(dm, "val_set", None)
        if trainer.sanity_checking or val_set is None or len(val_set) == 0:
            return
        if trainer.current_epoch % self.every_n_epochs:
            return
        # trainer.log_dir broadcasts rank 0's value, a collective under DDP: every rank asks, then the others
        # leave. Only rank 0 tracks and renders the clip (nothing below may be a collective).
        log_dir = trainer.log_dir
        if not trainer.is_global_zero:
            return
        clip = val_set[min(self.video_index, len(val_set) - 1)]
        model: Any = pl_module
        detector = model.model.detector if hasattr(model.model, "detector") else model.model
        frames = [f.image for f in itertools.islice(clip, self.max_frames)]
        results = list(
            track_video(
                DetectorFrameModel(detector, require_embeddings=False),
                frames,
                copy.deepcopy(model.tracker),
                resize=model.test_resize,
                device=pl_module.device,
                top_k=model.hparams.top_k,
            )
        )
        h, w = clip.orig_size
        names = clip.ytvis.class_names
        scale = render_scale(h, w, self.min_short_side)
        rendered = [
            overlay(f, decode_rles(r.rles, h, w), r.boxes, r.track_ids, r.labels, names, scale=scale)
            for f, r in zip(frames, results, strict=True)
        ]
        gt = [
            [rle_utils.to_compressed(s, h, w) if s is not None else None for s in inst.segmentations]
            for inst in clip.ytvis.instances[clip.video_id]
        ]
        switches = count_id_switches(gt, [(r.track_ids, r.rles) for r in results])
        self.last_id_switches = switches
        pl_module.log("val/id_switches", float(switches), batch_size=1, rank_zero_only=True)
        out_dir = Path(log_dir or trainer.default_root_dir) / "overlays"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"epoch{trainer.current_epoch:02d}.mp4"
        write_video(path, rendered, self.fps)
        self.last_video = str(path)
        strip = out_dir / f"epoch{trainer.current_epoch:02d}_strip.png"
        save_png(frame_strip(rendered), strip)
        self.last_strip = str(strip)
        for lg in trainer.loggers:
            if type(lg).__name__ == "WandbLogger":
                import wandb

                run: Any = lg.experiment  # type: ignore[attr-defined]
                run.log(
                    {
                        "val/overlay": wandb.Video(str(path), format="mp4"),
                        "trainer/global_step": trainer.global_step,
                    }
                )
