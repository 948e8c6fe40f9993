"""The data module on the synthetic set, and the Hydra data/augmentation configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from querytrack.core.config_path import config_dir
from querytrack.data.datamodule import SyntheticDataModule
from querytrack.data.datasets import VideoClip
from querytrack.inference.stream import inference_resize
from querytrack.types import PairBatch

CONF = config_dir()
TINY = {
    "num_train_videos": 2,
    "num_valid_videos": 1,
    "min_frames": 3,
    "max_frames": 4,
    "height": 48,
    "width": 64,
}


def test_synthetic_datamodule_generates_and_loads(tmp_path: Path) -> None:
    dm = SyntheticDataModule(
        root=str(tmp_path), synthetic=TINY, batch_size=2, num_workers=0, test_short_size=96, test_max_size=128
    )
    dm.prepare_data()
    dm.setup("fit")
    assert dm.num_classes == 5
    batch = next(iter(dm.train_dataloader()))
    assert isinstance(batch, PairBatch) and len(batch) == 2
    assert batch.key.images.shape[0] == 2 and batch.key.images.shape[-1] % 32 == 0
    clip = next(iter(dm.val_dataloader()))
    assert isinstance(clip, VideoClip)
    frame = next(iter(clip))
    assert frame.image.shape[-2:] == (48, 64)  # original frames: the tracker resizes
    resize = inference_resize(dm.test_short_size, dm.test_max_size)  # what the module does with the sizes
    assert resize(frame.image).shape[-2:] == (96, 128)


def test_synthetic_set_summary_prints_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """run.py and Lightning both call prepare_data: the set's summary is printed by the first call only."""
    dm = SyntheticDataModule(root=str(tmp_path), synthetic=TINY, num_workers=0)
    dm.prepare_data()
    dm.prepare_data()
    dm.setup("fit")
    assert capsys.readouterr().out.count("synthetic YouTube-VIS set (generated)") == 1
    again = SyntheticDataModule(root=str(tmp_path), synthetic=TINY, num_workers=0)  # a new run: its own line
    again.prepare_data()
    assert capsys.readouterr().out.count("synthetic YouTube-VIS set (using)") == 1


def test_synthetic_datamodule_rejects_unknown_option(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown synthetic set option"):
        SyntheticDataModule(root=str(tmp_path), synthetic={"frames": 3})


def test_synthetic_datamodule_can_validate_on_the_training_videos(tmp_path: Path) -> None:
    dm = SyntheticDataModule(root=str(tmp_path), synthetic=TINY, num_workers=0, val_split="train")
    dm.setup("validate")
    train_ids = sorted(v["id"] for v in json.loads(Path(dm.train_ann).read_text())["videos"])
    assert sorted(clip.video_id for clip in dm.val_set) == train_ids
    assert len(train_ids) == TINY["num_train_videos"]
    assert Path(dm.val_ann).name == "train.json"
    with pytest.raises(ValueError, match="val_split"):
        SyntheticDataModule(root=str(tmp_path), synthetic=TINY, val_split="test")


@pytest.mark.parametrize("augmentation", ["paper", "paper_nocrop", "none", "synthetic"])
def test_hydra_configs_instantiate(tmp_path: Path, augmentation: str) -> None:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            overrides=[
                "+data=synthetic",
                f"+augmentation={augmentation}",
                f"data.root={tmp_path}",
                "data.num_workers=0",
            ]
        )
    dm = instantiate(cfg.data)
    assert isinstance(dm, SyntheticDataModule)
    assert dm.train_transform is not None
    assert dm.data_dir.parent == tmp_path


@pytest.mark.parametrize("data", ["ytvis19", "ytvis21", "ytvis22", "ovis", "custom"])
def test_real_dataset_configs_instantiate_without_looking(data: str, tmp_path: Path) -> None:
    """Building the data module does not touch the disk; the layout is looked for on first use
    (tests/data/test_layout.py)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(overrides=[f"+data={data}", "+augmentation=paper", f"data.root={tmp_path}"])
    dm = instantiate(cfg.data)
    assert dm.root == str(tmp_path) and dm.dataset == (None if data == "custom" else data)
    assert dm.holdout_config.fraction == 0.05 and dm.holdout_config.max_videos == 300


def _epoch_draws(dm: SyntheticDataModule, epoch: int, loader: object) -> list[tuple[int, int, int]]:
    """(video, key, reference) frame of every pair the loader yields in ``epoch`` (sorted: order-free)."""
    dm.set_epoch(epoch)
    loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]  # what Lightning does at each epoch start
    out = []
    for batch in loader:  # type: ignore[attr-defined]
        out += list(zip(batch.key.video_ids, batch.key.frame_indices, batch.ref.frame_indices, strict=True))
    return sorted(out)


def test_persistent_workers_see_each_new_epoch(tmp_path: Path) -> None:
    """With 2 persistent workers the epoch-1 draws differ from epoch 0's and equal those of 0 workers."""
    syn = {**TINY, "num_train_videos": 4, "min_frames": 8, "max_frames": 10}
    kwargs = {"root": str(tmp_path), "synthetic": syn, "batch_size": 2, "seed": 5}
    persistent = SyntheticDataModule(num_workers=2, persistent_workers=True, **kwargs)
    inline = SyntheticDataModule(num_workers=0, **kwargs)
    for dm in (persistent, inline):
        dm.prepare_data()
        dm.setup("fit")
    p_loader, i_loader = persistent.train_dataloader(), inline.train_dataloader()
    p0, p1 = _epoch_draws(persistent, 0, p_loader), _epoch_draws(persistent, 1, p_loader)
    assert p0 == _epoch_draws(inline, 0, i_loader)
    assert p1 == _epoch_draws(inline, 1, i_loader)
    assert p0 != p1  # the reference frames were re-drawn for epoch 1
