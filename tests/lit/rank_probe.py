"""A callback for the DDP tests: each rank appends what it holds after every validation to ``rank<N>.jsonl``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback


class RankProbe(Callback):
    """Appends ``{"epoch", "step", "metrics"}`` of ``pl_module.last_metrics`` to ``<out_dir>/rank<global rank>.jsonl``."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        module: Any = pl_module
        self.out_dir.mkdir(parents=True, exist_ok=True)
        record = {"epoch": trainer.current_epoch, "step": trainer.global_step, "metrics": module.last_metrics}
        with open(self.out_dir / f"rank{trainer.global_rank}.jsonl", "a") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")
