"""``python -m querytrack.evaluate_checkpoint``: a trained checkpoint evaluated with the tracker of the eval config."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from querytrack.evaluate_checkpoint import CheckpointDataMismatchError, evaluate_checkpoint
from querytrack.run import train
from tests.hydra_config import compose_config


@pytest.fixture
def trained(make_cfg: Callable[..., DictConfig], tmp_path: Path) -> Path:
    out = train(make_cfg("logger=none", "callbacks.track_overlay=null"))
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert out["checkpoint"] and last.is_file()
    return last


def _eval_cfg(tmp_path: Path, *overrides: str) -> DictConfig:
    return compose_config(
        "debug=tiny",
        f"data.root={tmp_path / 'cache'}",
        f"output_dir={tmp_path / 'eval'}",
        *overrides,
        config_name="eval",
    )


def _entries(out: dict) -> list:
    return json.loads(Path(out["results"]).read_text())


def test_eval_uses_the_configured_tracker(trained: Path, tmp_path: Path) -> None:
    keep_all = evaluate_checkpoint(
        _eval_cfg(
            tmp_path,
            f"ckpt={trained}",
            "tracker.det_score_threshold=0",
            "tracker.new_track_score_threshold=0",
        )
    )
    assert 0.0 <= keep_all["metrics"]["AP"] <= 1.0
    assert Path(keep_all["results"]).parent == tmp_path / "eval"
    assert len(_entries(keep_all)) > 0
    keep_none = evaluate_checkpoint(
        _eval_cfg(
            tmp_path,
            f"ckpt={trained}",
            "tracker.det_score_threshold=1.01",
            "tracker.new_track_score_threshold=1.01",
        )
    )
    assert _entries(keep_none) == []


def test_cue_ablation_trackers_switch_cues_off(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    cues = {}
    for name in ("appearance_only", "appearance_iou", "appearance_iou_score", "default"):
        t = instantiate(_eval_cfg(tmp_path, "ckpt=x", f"tracker={name}").tracker)
        cues[name] = (t.use_appearance, t.use_iou, t.use_score, t.use_class)
    assert cues == {
        "appearance_only": (True, False, False, False),
        "appearance_iou": (True, True, False, False),
        "appearance_iou_score": (True, True, True, False),
        "default": (True, True, True, True),
    }


def test_checkpoint_of_other_categories_is_refused(trained: Path, tmp_path: Path) -> None:
    ckpt = torch.load(trained, map_location="cpu", weights_only=True)
    ckpt["querytrack"]["category_ids"] = [c + 100 for c in ckpt["querytrack"]["category_ids"]]
    other = tmp_path / "other.ckpt"
    torch.save(ckpt, other)
    with pytest.raises(CheckpointDataMismatchError, match=r"other\.ckpt"):
        evaluate_checkpoint(_eval_cfg(tmp_path, f"ckpt={other}"))


def test_validation_after_training_steps_equals_a_fresh_evaluation_of_the_checkpoint(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    """Two epochs, validated after each: the second validation runs on the weights after the fused AdamW steps,
    so its results equal those of the saved checkpoint evaluated in a fresh model."""
    keep_all = ("tracker.det_score_threshold=0", "tracker.new_track_score_threshold=0")
    out = train(
        make_cfg(
            "logger=none",
            "callbacks.track_overlay=null",
            "trainer.max_epochs=2",
            "trainer.check_val_every_n_epoch=1",
            "module.lr=0.01",  # large steps: stale weights would show
            *keep_all,
        )
    )
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    fresh = evaluate_checkpoint(_eval_cfg(tmp_path, f"ckpt={last}", *keep_all))
    during, after = json.loads(Path(out["results"]).read_text()), _entries(fresh)
    assert len(during) == len(after) > 0
    for a, b in zip(during, after, strict=True):
        assert (a["video_id"], a["category_id"]) == (b["video_id"], b["category_id"])
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
