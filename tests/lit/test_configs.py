"""Every option of every config group composes and instantiates (CPU, tiny sizes)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hydra.utils import instantiate
from omegaconf import DictConfig

from querytrack.core.config_path import config_dir
from querytrack.inference.tracker import Tracker
from querytrack.lit.module import QueryTrackModule
from querytrack.modeling import QueryTrack

CONF = config_dir()


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


SMALL_BACKBONES = ["r18", "r50", "swin_t"]


@pytest.mark.parametrize("backbone", _options("backbone"))
def test_backbone_options_compose(make_cfg: Callable[..., DictConfig], backbone: str) -> None:
    cfg = make_cfg(f"backbone={backbone}")
    assert cfg.model.backbone == backbone


@pytest.mark.parametrize("backbone", SMALL_BACKBONES)
def test_backbone_options_instantiate(make_cfg: Callable[..., DictConfig], backbone: str) -> None:
    cfg = make_cfg(f"backbone={backbone}", "model.pretrained=false")
    model = instantiate(cfg.model, num_classes=5)
    assert isinstance(model, QueryTrack)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", sorted(set(_options("backbone")) - set(SMALL_BACKBONES)))
def test_large_backbone_options_instantiate(make_cfg: Callable[..., DictConfig], backbone: str) -> None:
    cfg = make_cfg(f"backbone={backbone}", "model.pretrained=false")
    assert isinstance(instantiate(cfg.model, num_classes=40), QueryTrack)


@pytest.mark.parametrize("group", ["augmentation", "data", "schedule", "tracker", "logger", "callbacks"])
def test_group_options_instantiate(
    make_cfg: Callable[..., DictConfig], group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for option in _options(group):
        tiny = group != "data" or option == "synthetic"  # debug=tiny shrinks the synthetic set only
        cfg = make_cfg(f"{group}={option}", *([] if tiny else ["~debug"]))
        if group == "data":
            dm = instantiate(cfg.data)
            assert dm.batch_size >= 1
        elif group == "augmentation":
            assert callable(instantiate(cfg.augmentation))
        elif group == "tracker":
            assert isinstance(instantiate(cfg.tracker), Tracker)
        elif group == "schedule":
            module = instantiate(cfg.module, model=instantiate(cfg.model, num_classes=5))
            assert isinstance(module, QueryTrackModule) and module.hparams.lr == cfg.module.lr
        else:
            for node in (cfg.get(group) or {}).values():
                assert instantiate(node) is not None


@pytest.mark.parametrize("trainer", _options("trainer"))
def test_trainer_options_instantiate(make_cfg: Callable[..., DictConfig], trainer: str) -> None:
    # GPU options are instantiated on CPU here (what they would run with is checked on their keys).
    cfg = make_cfg(f"trainer={trainer}", "trainer.accelerator=cpu", "trainer.precision=32-true")
    if trainer in ("ddp", "ddp_multinode"):
        assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 8
        cfg.trainer.devices = 2
    if trainer == "ddp_multinode":
        assert cfg.trainer.num_nodes == 2
    if trainer != "cpu":
        assert make_cfg(f"trainer={trainer}").trainer.precision == "bf16-mixed"
    assert instantiate(cfg.trainer, logger=False) is not None


def test_paper_command_composes(make_cfg: Callable[..., DictConfig]) -> None:
    """``python -m querytrack.run backbone=swin_l trainer.devices=8`` with the paper groups."""
    cfg = make_cfg(
        "backbone=swin_l",
        "trainer=ddp",
        "trainer.devices=8",
        "schedule=paper",
        "augmentation=paper",
        "data=ytvis21",
        "~debug",
    )
    assert cfg.model.backbone == "swin_l" and cfg.trainer.devices == 8 and cfg.trainer.strategy == "ddp"
    assert (
        cfg.module.lr == 1.25e-5 and list(cfg.module.milestones) == [9, 11] and cfg.trainer.max_epochs == 12
    )
    assert cfg.effective_batch_size == 32


@pytest.mark.parametrize("experiment", [e for e in _options("experiment") if e.startswith("ytvis")])
def test_experiment_options_compose(make_cfg: Callable[..., DictConfig], experiment: str) -> None:
    cfg = make_cfg(f"experiment={experiment}", "~debug")
    assert cfg.task_name == experiment and cfg.model.num_stages == 6 and cfg.model.hidden_dim == 256
    assert cfg.trainer.strategy == "ddp" and cfg.module.lr == 1.25e-5
    if "r50" in experiment:
        assert cfg.model.num_queries == 100 and cfg.data.test_short_size == 360
        assert not cfg.augmentation.crop
    else:
        assert cfg.model.num_queries == 300 and cfg.model.backbone == "swin_l" and cfg.augmentation.crop


def test_schedule_overrides_trainer_defaults(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg("~debug")
    assert cfg.trainer.max_epochs == 2 and cfg.trainer.check_val_every_n_epoch == 1  # schedule=synthetic
    cfg = make_cfg("~debug", "schedule=paper", "trainer=gpu")
    assert cfg.trainer.max_epochs == 12 and cfg.trainer.gradient_clip_val == 1.0


@pytest.mark.parametrize(
    ("overrides", "frozen_random"),
    [
        ((), False),  # the synthetic default trains its r18 from scratch, nothing frozen
        (("model.frozen_stages=0",), True),
        (("backbone=r50",), False),  # ImageNet weights: freezing the stem + layer1 is the recipe
        (("backbone=r50", "model.pretrained=false"), True),
        (("backbone=r50", "model.pretrained=false", "init_checkpoint=coco.pth"), False),
        (("backbone=swin_t", "model.pretrained=false"), False),  # frozen_stages applies to ResNets only
    ],
)
def test_frozen_random_layers_are_reported(
    make_cfg: Callable[..., DictConfig], overrides: tuple[str, ...], frozen_random: bool
) -> None:
    from querytrack.run import check_frozen_random_layers

    message = check_frozen_random_layers(make_cfg(*overrides))
    assert (message is not None) == frozen_random
    if message:
        assert "frozen_stages=-1" in message


@pytest.mark.parametrize("search", _options("hparams_search"))
def test_hparams_search_options_define_a_sweep(search: str) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"hparams_search={search}"], return_hydra_config=True)
    GlobalHydra.instance().clear()
    params = cfg.hydra.sweeper.params
    assert len(params) >= 1 and all("," in str(v) for v in params.values())
    assert cfg.task_name == search


def test_synthetic_pretrain_is_detection_only_on_a_disjoint_set(make_cfg: Callable[..., DictConfig]) -> None:
    default = make_cfg("~debug")
    cfg = make_cfg("experiment=synthetic_pretrain", "~debug")
    assert cfg.task_name == "pretrain" and cfg.model.with_track_head is False
    assert cfg.init_checkpoint is None  # from scratch, unlike the default run it initialises
    assert cfg.data.synthetic.seed != default.data.synthetic.seed  # never sees the default run's videos
    assert cfg.data.synthetic.num_train_videos > default.data.synthetic.num_train_videos
