"""Training integration on the tiny synthetic set: fast_dev_run, sweeps, resume, non-finite loss."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig

from querytrack.lit.module import NonFiniteLossError
from querytrack.run import train

ROOT = Path(__file__).resolve().parents[2]


def test_fast_dev_run_train_and_validate(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("trainer.fast_dev_run=true")
    out = train(cfg)
    assert set(out["metrics"]) >= {"AP", "AP50", "AR10"}  # validation ran and was scored
    assert all(-1.0 <= v <= 1.0 for k, v in out["metrics"].items() if k in ("AP", "AR10"))
    videos = list(Path(cfg.output_dir).rglob("overlays/*.mp4"))  # the overlay callback rendered a clip
    assert len(videos) == 1 and videos[0].stat().st_size > 0


class _Probe(Callback):
    """Records the step and LRs at train start and the (video, frame) keys of every batch per epoch."""

    def __init__(self) -> None:
        self.start_step: int | None = None
        self.start_lr: list[float] = []
        self.batches: dict[int, list[list[tuple[int, int]]]] = {}

    def on_train_start(self, trainer, pl_module) -> None:  # type: ignore[no-untyped-def]
        self.start_step = trainer.global_step
        self.start_lr = [g["lr"] for g in trainer.optimizers[0].param_groups]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # type: ignore[no-untyped-def]
        keys = list(zip(batch.key.video_ids, batch.key.frame_indices, strict=True))
        self.batches.setdefault(trainer.current_epoch, []).append(keys)


def _train_with_probe(cfg: DictConfig, monkeypatch: pytest.MonkeyPatch) -> _Probe:
    import querytrack.run as run_module

    probe = _Probe()
    real = run_module.instantiate

    def with_probe(node, *args, **kwargs):  # type: ignore[no-untyped-def]
        if "callbacks" in kwargs:
            kwargs["callbacks"] = [*kwargs["callbacks"], probe]
        return real(node, *args, **kwargs)

    monkeypatch.setattr(run_module, "instantiate", with_probe)
    train(cfg)
    monkeypatch.setattr(run_module, "instantiate", real)
    return probe


def test_resume_from_last_checkpoint_continues_step_lr_and_data_order(
    make_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = make_cfg("trainer.max_epochs=1")
    train(first)
    last = Path(first.output_dir) / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=False)
    assert state["global_step"] == 2
    lr_before = state["lr_schedulers"][0]["_last_lr"]

    resumed = _train_with_probe(make_cfg("trainer.max_epochs=2", "ckpt_path=last"), monkeypatch)
    assert resumed.start_step == 2
    assert resumed.start_lr == pytest.approx(lr_before)
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 4

    straight = _train_with_probe(
        make_cfg("trainer.max_epochs=2", f"output_dir={tmp_path / 'straight'}"), monkeypatch
    )
    assert resumed.batches[1] == straight.batches[1]  # epoch 1 sees the same data in the same order
    assert straight.batches[0] != straight.batches[1]


def test_non_finite_loss_names_the_batch(
    make_cfg: Callable[..., DictConfig], make_loss_nan: Callable[[], None]
) -> None:
    make_loss_nan()
    with pytest.raises(NonFiniteLossError, match=r"non-finite training loss .*key frames \[\(\d+, \d+\)"):
        train(make_cfg("trainer.fast_dev_run=true"))


def test_multirun_sweep_two_values(tmp_path: Path) -> None:
    cmd = [
        sys.executable,
        "-m",
        "querytrack.run",
        "-m",
        "debug=tiny",
        "trainer.fast_dev_run=true",
        "logger=none",
        f"data.root={tmp_path / 'cache'}",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "module.lr=1e-4,2e-4",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir() and p.name.isdigit()) == [
        "0",
        "1",
    ]


def test_run_outputs_frame_ap_strip_curve_and_reuses_the_last_validation(
    make_cfg: Callable[..., DictConfig], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = make_cfg(
        "evaluate=true",
        "trainer.max_epochs=1",
        "trainer.check_val_every_n_epoch=1",
        "trainer.log_every_n_steps=1",
    )
    out = train(cfg)
    assert {"AP", "frame_AP", "frame_AP50"} <= set(out["metrics"])
    assert out["curve"] and Path(out["curve"]).stat().st_size > 0
    video, strip = out["overlay"]
    assert Path(video).suffix == ".mp4" and Path(strip).suffix == ".png" and Path(strip).stat().st_size > 0
    printed = capsys.readouterr().out
    assert "is the checkpoint validated last" in printed  # one validation, so best = last: no second pass
    assert "frame " in printed.split("validation split")[-1]  # the table has a frame-AP row


def test_init_checkpoint_compact_detector(
    make_cfg: Callable[..., DictConfig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hydra.utils import instantiate

    from querytrack.checkpoints.compact import save_compact

    cfg = make_cfg("trainer.fast_dev_run=true")
    det_only = instantiate(cfg.model, num_classes=5, with_track_head=False).detector
    path = tmp_path / "init.pt"
    save_compact(det_only.state_dict(), path, {"description": "tiny detector"})
    out = train(make_cfg("trainer.fast_dev_run=true", f"init_checkpoint={path}"))
    printed = capsys.readouterr().out
    assert "tiny detector" in printed and "missing" in printed and "track_head" in printed
    assert "AP" in out["metrics"]


@pytest.mark.slow  # inductor compiles the detector's kernels on the CPU (minutes on two cores)
def test_compiled_run_trains_and_evaluates(
    make_cfg: Callable[..., DictConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``compile=true``: the detector is compiled in place once, before fit; the run trains, validates, and its
    checkpoint holds the eager parameter names."""
    import querytrack.lit.module as lit_module

    compiled: list[torch.nn.Module] = []
    real = lit_module.compile_detector

    def recording(detector: torch.nn.Module) -> torch.nn.Module:
        compiled.append(detector)
        return real(detector)

    monkeypatch.setattr(lit_module, "compile_detector", recording)
    cfg = make_cfg("compile=true", "trainer.max_epochs=1", "logger=none", "callbacks.track_overlay=null")
    out = train(cfg)
    assert len(compiled) == 1 and lit_module.is_compiled(compiled[0])
    assert set(out["metrics"]) >= {"AP", "AP50", "AR10"}
    last = Path(cfg.output_dir) / "checkpoints" / "last.ckpt"
    keys = torch.load(last, map_location="cpu", weights_only=True)["state_dict"]
    assert keys and not any("_orig_mod" in k for k in keys)
