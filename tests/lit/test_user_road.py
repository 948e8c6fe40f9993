"""The user's road through ``python -m querytrack.run``: a data set as downloaded checked end to end with
``debug=smoke``, and one-line refusals (no traceback, exit 1) for missing data and a mismatched init checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data.test_layout import make_layout

ROOT = Path(__file__).resolve().parents[2]
TABLE = "YouTube-VIS metrics on the validation split"


def run(
    tmp_path: Path, *overrides: str, timeout: float = 600, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m querytrack.run OVERRIDES`` from an empty folder, with its own cache, no dataset variables and
    ``extra_env``."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_ROOT")}
    env |= {"PYTHONPATH": str(ROOT), "QUERYTRACK_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    env |= extra_env or {}
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "querytrack.run", *overrides],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("data", "layout"),
    [
        ("ytvis21", "ytvis21"),
        pytest.param("ytvis19", "ytvis19", marks=pytest.mark.slow),
        pytest.param("ytvis22", "ytvis21", marks=pytest.mark.slow),
        pytest.param("ovis", "ovis", marks=pytest.mark.slow),
    ],
)
def test_smoke_run_on_a_dataset_as_downloaded(tiny_set: Path, tmp_path: Path, data: str, layout: str) -> None:
    """``data=<set> data.root=DIR debug=smoke`` and nothing else: found, held out, trained, tracked, scored."""
    root = make_layout(tiny_set, tmp_path / data, layout)
    proc = run(tmp_path, f"data={data}", f"data.root={root}", "debug=smoke")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "querytrack run:" in out and "held out of train" in out and f"layout {layout}" in out
    assert "QueryTrack, 2 stages, 10 queries" in out and "precision 32-true" in out
    assert out.count(TABLE) == 1
    track = next(line for line in out.splitlines() if line.startswith("track "))
    assert len(track.split()) >= 13  # the 12 stats, computed on the held-out videos
    ids = list((tmp_path / "work" / "outputs" / "smoke").rglob("holdout_videos.json"))
    assert len(ids) == 1


def test_headline_command_without_data_is_one_line(tmp_path: Path) -> None:
    proc = run(tmp_path, "backbone=swin_l", "trainer.devices=8", timeout=300)
    assert proc.returncode == 1
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "YTVIS21_ROOT" in err[0] and "data.root" in err[0] and "train/instances.json" in err[0]
    assert "experiment=synthetic" in err[0]
    assert not list((tmp_path / "cache").glob("weights/*"))  # nothing downloaded before the data check


def test_init_checkpoint_that_does_not_fit_the_model_is_one_line(tmp_path: Path) -> None:
    proc = run(tmp_path, "backbone=swin_l", "init_checkpoint=coco_r50", timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "r50" in err[0] and "swin_l" in err[0], proc.stderr


def test_unreachable_init_checkpoint_is_one_line_before_the_data_is_read(tmp_path: Path) -> None:
    url = "http://127.0.0.1:9/queryinst-0123abcd.pth"  # loopback, nothing listens on the discard port
    proc = run(tmp_path, "debug=tiny", f"init_checkpoint={url}", timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and url in err[0], proc.stderr
    assert "querytrack run:" not in proc.stdout  # stopped before the summary (no data read, no model built)
    assert not list((tmp_path / "cache").glob("weights/*"))  # nothing partial left


def test_unreadable_init_checkpoint_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "coco.pth"
    bad.write_bytes(b"not a checkpoint")
    proc = run(tmp_path, "debug=tiny", f"init_checkpoint={bad}", timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "not a readable PyTorch checkpoint" in err[0], proc.stderr


def test_vit_backbone_smoke_run_from_a_local_weights_file(tmp_path: Path) -> None:
    """``backbone=vit_small_patch14_dinov2 experiment=synthetic debug=smoke`` (on a tiny synthetic set) with the
    DINOv2 weights in a local file, as an offline cluster has them: loaded with a report, trained, scored."""
    import timm
    import torch

    weights = tmp_path / "vit_small_patch14_dinov2.pt"
    torch.save(timm.create_model("vit_small_patch14_dinov2", num_classes=0).state_dict(), weights)
    tiny = ("num_train_videos=4", "num_valid_videos=1", "min_frames=4", "max_frames=5")
    proc = run(
        tmp_path,
        "backbone=vit_small_patch14_dinov2",
        "experiment=synthetic",
        "debug=smoke",
        *(f"data.synthetic.{kv}" for kv in tiny),
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        f"backbone.checkpoint={weights}",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "vit_small_patch14_dinov2, simple feature pyramid, layer decay 0.7" in out
    assert f"init      backbone from {weights}" in out
    assert f"backbone.checkpoint={weights}: checkpoint import: 174 mapped, 0 missing, 0 unexpected" in out
    assert out.count(TABLE) == 1


def test_missing_backbone_weights_file_is_one_line_before_the_data_is_read(tmp_path: Path) -> None:
    missing = tmp_path / "dinov2_vits14_pretrain.pth"
    overrides = (
        "backbone=vit_small_patch14_dinov2",
        "experiment=synthetic",
        f"backbone.checkpoint={missing}",
    )
    proc = run(tmp_path, *overrides, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0] and "no such file" in err[0], proc.stderr
    assert "querytrack run:" not in proc.stdout and not (tmp_path / "cache").exists()  # no synthetic set made


def test_pretrained_weights_unreachable_is_one_line_naming_the_offline_road(tmp_path: Path) -> None:
    """``model.pretrained=true`` on a machine without the hub (``HF_HUB_OFFLINE=1``, empty cache): one line that
    names ``backbone.checkpoint``, exit 1, no traceback."""
    tiny = ("num_train_videos=2", "num_valid_videos=1", "min_frames=4", "max_frames=5")
    proc = run(
        tmp_path,
        "backbone=vit_small_patch14_dinov2",
        "experiment=synthetic",
        "debug=smoke",
        "model.pretrained=true",
        *(f"data.synthetic.{kv}" for kv in tiny),
        timeout=300,
        extra_env={"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")},
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "vit_small_patch14_dinov2" in err[0] and "backbone.checkpoint=PATH" in err[0], (
        err
    )
