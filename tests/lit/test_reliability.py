"""Never lose a run: kill -9 then resume, atomic checkpoint writes, non-finite loss keeps the last good checkpoint."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from omegaconf import DictConfig

from querytrack.lit.module import NonFiniteLossError
from querytrack.run import train

ROOT = Path(__file__).resolve().parents[2]


def test_kill_9_then_resume_continues(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "querytrack.run", "debug=tiny", "logger=none", "trainer.max_epochs=500",
        "trainer.check_val_every_n_epoch=1000", f"data.root={tmp_path / 'cache'}", f"output_dir={run_dir}",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not last.exists():
            time.sleep(0.2)
        assert last.exists(), "no checkpoint was written"
        time.sleep(1.5)  # let it go on writing checkpoints, then kill it at an arbitrary moment
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    state = torch.load(last, map_location="cpu", weights_only=False)  # loadable: never half-written
    step, epoch = state["global_step"], state["epoch"]
    assert step >= 2 and step == 2 * (epoch + 1)
    out = train(
        make_cfg(
            "logger=none",
            f"trainer.max_epochs={epoch + 2}",
            "ckpt_path=last",
            "trainer.check_val_every_n_epoch=1000",
        )
    )
    assert out is not None
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == step + 2


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "last.ckpt"
    io_plugin = TorchCheckpointIO()
    io_plugin.save_checkpoint({"global_step": 1, "w": torch.ones(3)}, path)
    import lightning.fabric.utilities.cloud_io as cloud_io

    def failing_save(obj: object, f: io.BytesIO) -> None:
        f.write(b"partial bytes")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(cloud_io.torch, "save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        io_plugin.save_checkpoint({"global_step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["global_step"] == 1  # the previous checkpoint is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary left behind


def test_non_finite_loss_keeps_last_good_checkpoint(
    make_cfg: Callable[..., DictConfig], make_loss_nan: Callable[[], None]
) -> None:
    cfg = make_cfg("logger=none", "trainer.max_epochs=1")
    train(cfg)
    last = Path(cfg.output_dir) / "checkpoints" / "last.ckpt"
    good = torch.load(last, map_location="cpu", weights_only=False)
    make_loss_nan()
    with pytest.raises(NonFiniteLossError, match="non-finite training loss"):
        train(make_cfg("logger=none", "trainer.max_epochs=2", "ckpt_path=last"))
    after = torch.load(last, map_location="cpu", weights_only=False)
    assert after["global_step"] == good["global_step"] == 2
    assert all(torch.equal(after["state_dict"][k], v) for k, v in good["state_dict"].items())
