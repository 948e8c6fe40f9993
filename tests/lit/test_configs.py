"""The Hydra configs: the bare command is the paper's recipe, every option composes and instantiates, no key is
dead (read by nothing, or silently replaced by a later group), and class defaults agree with the YAML."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from querytrack.core.config_path import config_dir
from querytrack.inference.tracker import Tracker
from querytrack.lit.module import QueryTrackModule
from querytrack.modeling import QueryTrack, build_querytrack
from querytrack.modeling.detector import build_detector
from tests.hydra_config import compose_config

CONF = config_dir()
ROOT = Path(__file__).resolve().parents[2]
#: The groups train.yaml composes before experiment / debug / hparams_search: no two of them may set one key.
BASE_GROUPS = (
    "data",
    "augmentation",
    "model",
    "backbone",
    "tracker",
    "trainer",
    "schedule",
    "logger",
    "callbacks",
)
PAPER_MIN_SIZES = list(range(320, 801, 32))


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def compose_train(*overrides: str, config_name: str = "train") -> DictConfig:
    """The composed config as ``python -m querytrack.run OVERRIDES`` sees it (no test shrink)."""
    return compose_config(*overrides, config_name=config_name)


# --- the bare command and the headline command ---------------------------------------------------------------


def test_headline_command_is_the_papers_recipe() -> None:
    """``python -m querytrack.run backbone=swin_l trainer.devices=8``: Sec. 3.2 of the paper, all of it."""
    cfg = compose_train("backbone=swin_l", "trainer.devices=8")
    m = cfg.model
    assert (m.num_stages, m.hidden_dim, m.num_queries, m.backbone, m.drop_path_rate) == (
        6,
        256,
        300,
        "swin_l",
        0.3,
    )
    assert (
        cfg.init_checkpoint
        == "hustvl_queryinst_swin_large_patch4_window7_fpn_300_proposals_crop_mstrain_400-1200_50e_coco"
    )
    assert cfg.data._target_.endswith("YTVISDataModule") and cfg.data.dataset == "ytvis21"
    assert cfg.effective_batch_size == 32 and cfg.trainer.max_epochs == 12
    assert cfg.module.lr == 1.25e-5 and list(cfg.module.milestones) == [9, 11] and cfg.module.gamma == 0.1
    aug = cfg.augmentation
    assert (
        aug.flip_prob == 0.5 and list(aug.min_sizes) == PAPER_MIN_SIZES and aug.max_size == 1333 and aug.crop
    )
    assert (cfg.data.test_short_size, cfg.data.test_max_size) == (640, 1333)
    assert cfg.trainer.accelerator == "auto" and cfg.trainer.devices == 8 and cfg.trainer.strategy == "auto"
    assert cfg.trainer.precision == "32-true"  # resolved on this CPU machine; bf16-mixed where CUDA is
    assert "wandb" in cfg.logger and cfg.logger.wandb.group is None  # a single run: no sweep group


def test_bare_command_starts_from_the_coco_r50() -> None:
    cfg = compose_train()
    assert (
        cfg.model.backbone == "r50"
        and cfg.init_checkpoint == "queryinst_r50_fpn_300_proposals_crop_mstrain_480-800_3x_coco"
    )
    assert cfg.model.num_queries == 300 and not cfg.model.get("pretrained", False)  # COCO init: no ImageNet


def test_precision_resolver_follows_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert compose_train().trainer.precision == "bf16-mixed"
    assert compose_train("trainer=cpu").trainer.precision == "32-true"


@pytest.mark.parametrize("backbone", _options("backbone"))
def test_backbone_switches_only_the_backbone(backbone: str) -> None:
    """``backbone=X`` changes the model's backbone keys, the init and (ViTs) the layer decay, nothing else."""
    base = OmegaConf.to_container(compose_train("backbone=r18"))
    cfg = OmegaConf.to_container(compose_train(f"backbone={backbone}"))
    assert cfg["model"]["backbone"] == backbone  # type: ignore[index]
    own = {
        "backbone",
        "frozen_stages",
        "norm_eval",
        "drop_path_rate",
        "pretrained",
        "activation_checkpointing",
    }
    changed = {k for k in set(cfg) | set(base) if k not in ("model",) and cfg.get(k) != base.get(k)}  # type: ignore[union-attr]
    assert changed <= {"init_checkpoint", "module"}
    module_changed = {k for k, v in cfg["module"].items() if base["module"].get(k) != v}  # type: ignore[index,union-attr]
    assert module_changed <= {"layer_decay"} and (bool(module_changed) == backbone.startswith("vit_"))
    model_changed = {
        k
        for k in set(cfg["model"]) | set(base["model"])  # type: ignore[index]
        if cfg["model"].get(k) != base["model"].get(k)  # type: ignore[index]
    }
    assert model_changed <= own


def test_vit_backbone_is_the_papers_recipe_on_a_vit() -> None:
    """``backbone=vit_large_patch14_dinov2``: the paper's data, schedule and heads; the ViT from timm's DINOv2
    weights (no COCO QueryInst exists for it), ViTDet's layer decay and drop path for ViT-L."""
    paper, cfg = compose_train(), compose_train("backbone=vit_large_patch14_dinov2")
    assert cfg.model.backbone == "vit_large_patch14_dinov2" and cfg.model.pretrained
    assert cfg.module.layer_decay == 0.8 and cfg.model.drop_path_rate == 0.4 and cfg.init_checkpoint is None
    for key in ("data", "augmentation", "schedule", "trainer", "tracker", "effective_batch_size"):
        assert OmegaConf.select(cfg, key) == OmegaConf.select(paper, key), key
    assert cfg.module.lr == paper.module.lr and cfg.model.num_queries == 300 and cfg.model.num_stages == 6
    assert cfg.backbone.checkpoint is None


def test_model_querytrack_alone_keeps_the_backbone_group() -> None:
    cfg = compose_train("model=querytrack")
    assert cfg.model.backbone == "r50" and cfg.model.frozen_stages == 1 and cfg.model.norm_eval


# --- every option composes and instantiates ------------------------------------------------------------------


def _shrink(cfg: DictConfig) -> DictConfig:
    OmegaConf.set_struct(cfg, False)
    cfg.model.merge_with(
        {
            "num_queries": 4,
            "num_stages": 1,
            "hidden_dim": 32,
            "ffn_dim": 32,
            "dynamic_dim": 8,
            "embed_dim": 16,
            "mask_channels": 16,
            "pretrained": False,
        }
    )
    return cfg


@pytest.mark.parametrize("backbone", ["r18", "r50", "swin_t", "vit_small_patch14_dinov2"])
def test_backbone_options_instantiate(backbone: str, tmp_path: Path) -> None:
    cfg = _shrink(compose_train(f"backbone={backbone}", f"output_dir={tmp_path}"))
    assert isinstance(instantiate(cfg.model, num_classes=5), QueryTrack)


@pytest.mark.slow
@pytest.mark.parametrize(
    "backbone", sorted(set(_options("backbone")) - {"r18", "r50", "swin_t", "vit_small_patch14_dinov2"})
)
def test_large_backbone_options_instantiate(backbone: str, tmp_path: Path) -> None:
    cfg = _shrink(compose_train(f"backbone={backbone}", f"output_dir={tmp_path}"))
    assert isinstance(instantiate(cfg.model, num_classes=40), QueryTrack)


@pytest.mark.parametrize(
    "group", ["augmentation", "data", "model", "schedule", "tracker", "logger", "callbacks"]
)
def test_group_options_instantiate(group: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for option in _options(group):
        cfg = compose_train(f"{group}={option}", f"output_dir={tmp_path}", f"data.root={tmp_path / 'data'}")
        if group == "data":
            assert instantiate(cfg.data).batch_size >= 1
        elif group == "augmentation":
            assert callable(instantiate(cfg.augmentation))
        elif group == "tracker":
            assert isinstance(instantiate(cfg.tracker), Tracker)
        elif group in ("model", "schedule"):
            module = instantiate(cfg.module, model=instantiate(_shrink(cfg).model, num_classes=5))
            assert isinstance(module, QueryTrackModule) and module.hparams.lr == cfg.module.get("lr", 1.25e-5)
        else:
            for node in (cfg.get(group) or {}).values():
                if node is not None:
                    assert instantiate(node) is not None


@pytest.mark.parametrize("trainer", _options("trainer"))
def test_trainer_options_instantiate(trainer: str, tmp_path: Path) -> None:
    # GPU options are instantiated on CPU here (what they would run with is checked on their keys).
    cfg = compose_train(f"trainer={trainer}", f"output_dir={tmp_path}")
    if trainer in ("gpu", "ddp", "ddp_multinode"):
        assert cfg.trainer.precision == "bf16-mixed" and cfg.trainer.accelerator == "gpu"
    if trainer in ("ddp", "ddp_multinode"):
        assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 8
    if trainer == "ddp_multinode":
        assert cfg.trainer.num_nodes == 2
    cfg.trainer.merge_with({"accelerator": "cpu", "precision": "32-true"})
    if trainer != "auto":
        cfg.trainer.devices = 1 if trainer in ("cpu", "gpu") else 2
    assert instantiate(cfg.trainer, logger=False) is not None


@pytest.mark.parametrize("experiment", _options("experiment"))
def test_experiment_options_compose(experiment: str, tmp_path: Path) -> None:
    cfg = compose_train(f"experiment={experiment}", f"output_dir={tmp_path}")
    if experiment.startswith("ytvis"):
        assert cfg.task_name == experiment and cfg.model.num_stages == 6 and cfg.model.hidden_dim == 256
        assert cfg.effective_batch_size == 32
        vit = (
            "_vit_" in experiment
        )  # heads from scratch on a self-supervised ViT: experiments/ytvis21_vit_dinov2
        assert cfg.module.lr == (5e-5 if vit else 1.25e-5) and cfg.module.weight_decay == (
            0.05 if vit else 1e-4
        )
        assert (cfg.module.get("layer_decay") is not None) == vit and (cfg.init_checkpoint is None) == vit
    if experiment in ("ytvis21_vit_l_dinov2", "ytvis21_vit_l_dinov3"):
        assert cfg.model.activation_checkpointing and cfg.module.layer_decay == 0.8
    if experiment == "ytvis21_r50_100q":
        assert cfg.model.num_queries == 100 and cfg.data.test_short_size == 360 and not cfg.augmentation.crop
        assert cfg.init_checkpoint == "queryinst_r50_fpn_mstrain_480-800_3x_coco"
    if experiment == "ytvis19_swinl":
        assert cfg.model.num_queries == 300 and cfg.model.backbone == "swin_l" and cfg.augmentation.crop
    assert isinstance(instantiate(_shrink(cfg).model, num_classes=3), QueryTrack)


def test_synthetic_experiment_is_make_runs_job() -> None:
    cfg = compose_train("experiment=synthetic")
    assert cfg.data._target_.endswith("SyntheticDataModule") and cfg.model.backbone == "r18"
    assert cfg.init_checkpoint == "builtin:synthetic_pretrain" and cfg.trainer.accelerator == "cpu"
    assert cfg.model.num_queries == 16 and cfg.effective_batch_size == 4 and cfg.trainer.max_epochs == 2
    assert cfg.tracker.nms_iou == 0.3 and "csv" in cfg.logger and cfg.eval_checkpoint == "last"
    assert "experiment=synthetic" in (ROOT / "Makefile").read_text()


@pytest.mark.parametrize("debug", _options("debug"))
@pytest.mark.parametrize("base", [(), ("experiment=synthetic",), ("data=ovis", "backbone=swin_l")])
def test_debug_options_shrink_any_choice(debug: str, base: tuple[str, ...], tmp_path: Path) -> None:
    cfg = compose_train(*base, f"debug={debug}", f"output_dir={tmp_path}")
    if debug != "fast":  # fast_dev_run: one batch on whatever trainer was chosen
        assert cfg.trainer.accelerator == "cpu"
    if debug == "smoke":  # keeps the data that was chosen, shrinks the rest
        expected = compose_train(*base).data._target_
        assert cfg.data._target_ == expected and cfg.init_checkpoint is None
        chosen = compose_train(*base).model.backbone  # the chosen backbone, small heads, no download
        assert cfg.model.backbone == chosen and not cfg.model.pretrained
        assert cfg.model.num_stages == 2 and cfg.trainer.limit_train_batches == 4
        assert "csv" in cfg.logger and "wandb" not in cfg.logger
    if debug == "tiny":  # the tiny synthetic set, unless the command line names another data option
        synthetic = not any(o.startswith("data=") for o in base)
        assert cfg.data._target_.endswith("SyntheticDataModule") == synthetic and cfg.init_checkpoint is None


def test_eval_config_composes_with_the_debug_options(tmp_path: Path) -> None:
    for debug in _options("debug"):
        cfg = compose_train("ckpt=x.ckpt", f"debug={debug}", f"output_dir={tmp_path}", config_name="eval")
        assert cfg.trainer.accelerator == "cpu"


@pytest.mark.parametrize("search", _options("hparams_search"))
def test_hparams_search_options_define_a_sweep(search: str) -> None:
    cfg = compose_config(f"hparams_search={search}", return_hydra_config=True)
    params = cfg.hydra.sweeper.params
    assert len(params) >= 1 and all("," in str(v) for v in params.values())
    assert cfg.task_name == search


def test_synthetic_pretrain_is_detection_only_on_a_disjoint_set() -> None:
    default = compose_train("experiment=synthetic")
    cfg = compose_train("experiment=synthetic_pretrain")
    assert cfg.task_name == "pretrain" and cfg.model.with_track_head is False
    assert cfg.init_checkpoint is None  # from scratch, unlike the synthetic run it initialises
    assert cfg.data.synthetic.seed != default.data.synthetic.seed  # never sees the synthetic run's videos
    assert cfg.data.synthetic.num_train_videos > default.data.synthetic.num_train_videos


@pytest.mark.parametrize(
    ("overrides", "frozen_random"),
    [
        (("debug=tiny",), False),  # the tiny run trains its r18 from scratch, nothing frozen
        (("debug=tiny", "model.frozen_stages=0"), True),
        ((), False),  # r50 from the COCO init: freezing the stem + layer1 is the recipe
        (("init_checkpoint=null",), True),
        (("init_checkpoint=null", "model.pretrained=true"), False),
        (
            ("init_checkpoint=null", "backbone.checkpoint=/weights/resnet50.safetensors"),
            False,
        ),  # a local file
        (("backbone=swin_t", "model.pretrained=false"), False),  # frozen_stages applies to ResNets only
    ],
)
def test_frozen_random_layers_are_reported(overrides: tuple[str, ...], frozen_random: bool) -> None:
    from querytrack.run import check_frozen_random_layers

    message = check_frozen_random_layers(compose_train(*overrides))
    assert (message is not None) == frozen_random
    if message:
        assert "frozen_stages=-1" in message


# --- no key that does nothing --------------------------------------------------------------------------------


def _package(path: Path, group: str) -> str:
    """The package a config file's keys land in (``_global_`` → ``""``)."""
    first = path.read_text().splitlines()[0] if path.read_text() else ""
    match = re.match(r"#\s*@package\s+(\S+)", first)
    package = match.group(1) if match else group
    return "" if package == "_global_" else package


def _leaves(node: Any, prefix: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("defaults", "hydra"):
                continue
            yield from _leaves(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix


def _file_leaves(path: Path, group: str) -> set[str]:
    return set(_leaves(yaml.safe_load(path.read_text()) or {}, _package(path, group)))


def test_no_two_base_groups_set_the_same_key() -> None:
    """A key set by two of train.yaml's base groups (or by train.yaml and a group) is silently replaced by the
    later one: the earlier value does nothing."""
    owners: dict[str, set[str]] = {}
    for leaf in _file_leaves(CONF / "train.yaml", ""):
        owners.setdefault(leaf, set()).add("train.yaml")
    for group in BASE_GROUPS:
        for path in (CONF / group).glob("*.yaml"):
            for leaf in _file_leaves(path, group):
                owners.setdefault(leaf, set()).add(group)
    clashes = {leaf: sorted(who) for leaf, who in owners.items() if len(who) > 1}
    assert not clashes, f"keys set by more than one base group (the later one wins silently): {clashes}"


def _yaml_text() -> str:
    return "\n".join(p.read_text() for p in CONF.rglob("*.yaml"))


def test_every_top_level_key_is_read() -> None:
    """Top-level keys without a ``_target_`` are read by the entry point or interpolated by another config."""
    code = "".join((ROOT / "querytrack" / f).read_text() for f in ("run.py", "run_summary.py", "report.py"))
    text = _yaml_text()
    for experiment in ["", "experiment=synthetic"]:
        cfg = OmegaConf.to_container(compose_train(*([experiment] if experiment else [])), resolve=False)
        for key, node in cfg.items():  # type: ignore[union-attr]
            if isinstance(node, dict):
                continue  # groups: checked by instantiation
            read = re.search(rf"cfg\.{key}\b|cfg\.get\(\"{key}\"", code) or "${" + key + "}" in text
            assert read, f"top-level key {key!r} is read by nothing"


def test_target_nodes_take_every_key() -> None:
    """Every key of every ``_target_`` node of every option is a parameter of its target (no **kwargs sink)."""
    forwarded = {build_querytrack: build_detector}
    for group in BASE_GROUPS:
        for option in _options(group):
            cfg = compose_train(f"{group}={option}")
            for node in _target_nodes(cfg):
                target = _import(node["_target_"])
                params = dict(inspect.signature(target).parameters)
                if target in forwarded:
                    params |= inspect.signature(forwarded[target]).parameters
                if any(p.kind is p.VAR_KEYWORD for p in params.values()):
                    continue  # e.g. wandb_logger(**WandbLogger's): checked by instantiation
                unknown = {k for k in node if not k.startswith("_") and k not in params}
                assert not unknown, f"{group}={option}: {node['_target_']} takes no {sorted(unknown)}"


def _target_nodes(cfg: DictConfig) -> Iterator[dict[str, Any]]:
    def walk(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if "_target_" in node:
                yield node
            for value in node.values():
                yield from walk(value)

    yield from walk(OmegaConf.to_container(cfg, resolve=False))


def _import(dotted: str) -> Callable[..., Any]:
    import importlib

    module, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def test_crop_keys_only_where_crop_is_on() -> None:
    for option in _options("augmentation"):
        node = yaml.safe_load((CONF / "augmentation" / f"{option}.yaml").read_text())
        if not node.get("crop", True):
            assert not [k for k in node if k.startswith("crop_")], (
                f"augmentation/{option}: crop_* with crop off"
            )


def _defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    return {
        k: p.default
        for k, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def test_class_defaults_equal_the_yaml() -> None:
    """Where a config spells out a value, it equals the class default, unless the comment gives the reason."""
    tracker = yaml.safe_load((CONF / "tracker" / "default.yaml").read_text())
    del tracker["_target_"]
    assert tracker == _defaults(
        Tracker
    )  # the paper's association = Tracker's defaults, every one spelled out
    model_defaults = _defaults(build_detector) | _defaults(build_querytrack)
    model = yaml.safe_load((CONF / "model" / "querytrack.yaml").read_text())
    differs = {k for k, v in model.items() if k != "_target_" and model_defaults.get(k) != v}
    assert differs == {"num_queries"}  # 300 for the VIS recipe (the comment says why)
    module_defaults = _defaults(QueryTrackModule)
    paper = yaml.safe_load((CONF / "schedule" / "paper.yaml").read_text())["module"]
    assert {k: module_defaults[k] for k in paper} == {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in paper.items()
    }
    from querytrack.data.transforms import build_train_transform

    aug = yaml.safe_load((CONF / "augmentation" / "paper.yaml").read_text())
    aug_defaults = _defaults(build_train_transform)
    assert all(list(aug_defaults[k]) == v if isinstance(v, list) else aug_defaults[k] == v
               for k, v in aug.items() if k != "_target_")  # fmt: skip


def test_ddp_and_compile_compose(tmp_path: Path) -> None:
    """``compile=true trainer=ddp``: the module compiles in place (same parameter names for DDP's buckets) and the
    trainer is a DDP trainer (a compiled 2-process run takes minutes of compilation on CPU: not run here)."""
    from lightning.pytorch.strategies import DDPStrategy

    from querytrack.modeling.compile import is_compiled

    cfg = compose_train(
        "debug=tiny", "compile=true", "trainer=ddp", "trainer.devices=2", f"output_dir={tmp_path}"
    )
    cfg.trainer.merge_with({"accelerator": "cpu", "precision": "32-true"})
    model = instantiate(cfg.model, num_classes=3)
    names = [n for n, _ in model.named_parameters()]
    module = instantiate(cfg.module, model=model, compile=cfg.compile)
    module.configure_model()
    assert is_compiled(module.model.detector) and [n for n, _ in module.model.named_parameters()] == names
    trainer = instantiate(cfg.trainer, logger=False)
    assert isinstance(trainer.strategy, DDPStrategy) and trainer.num_devices == 2
