"""backbone.checkpoint=PATH: a backbone's weights from a local file (timm's format or the original DINOv2 release),
loaded with a report; files that do not fit are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from querytrack.checkpoints.backbone_weights import load_backbone_weights
from querytrack.core.errors import UserError
from querytrack.modeling.backbone import TimmBackbone
from querytrack.modeling.vit_backbone import ViTBackbone

NAME = "vit_small_patch14_reg4_dinov2"


def _source() -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    return {k: v.clone() for k, v in ViTBackbone(NAME).body.state_dict().items()}


def _assert_loaded(body: torch.nn.Module, source: dict[str, torch.Tensor]) -> None:
    for key, value in body.state_dict().items():
        torch.testing.assert_close(value, source[key], rtol=0, atol=0, msg=key)


@pytest.mark.parametrize("fmt", ["pt", "safetensors"])
def test_timm_state_dict_loads_whole(tmp_path: Path, fmt: str) -> None:
    source = _source()
    path = tmp_path / f"weights.{fmt}"
    if fmt == "pt":
        torch.save(source, path)
    else:
        save_file(source, str(path))
    torch.manual_seed(2)
    target = ViTBackbone(NAME)
    report = load_backbone_weights(target, path)
    assert len(report.mapped) == len(source) and not report.missing and not report.unexpected
    _assert_loaded(target.body, source)


def test_original_dinov2_release_format_is_converted(tmp_path: Path) -> None:
    """The DINOv2 release (with registers) names them ``register_tokens``, keeps a ``mask_token`` and holds the class
    token's position in ``pos_embed``; timm's converter maps the first, drops the second and folds the third into
    the class token."""
    source = _source()
    cls_pos = torch.full((1, 384), 0.25)
    original = {("register_tokens" if k == "reg_token" else k): v for k, v in source.items()}
    original["pos_embed"] = torch.cat([cls_pos[None], source["pos_embed"]], dim=1)  # [1, 1 + 37 * 37, 384]
    original["cls_token"] = source["cls_token"] - cls_pos
    original["mask_token"] = torch.zeros(1, 384)
    path = tmp_path / "dinov2_vits14_reg4_pretrain.pth"
    torch.save(original, path)
    target = ViTBackbone(NAME)
    report = load_backbone_weights(target, path)
    assert not report.missing and not report.unexpected
    for key, value in target.body.state_dict().items():
        torch.testing.assert_close(value, source[key], msg=key)


def test_head_and_foreign_keys_are_reported(tmp_path: Path) -> None:
    source = _source()
    source["head.weight"] = torch.zeros(1000, 384)
    path = tmp_path / "with_head.pt"
    torch.save(source, path)
    report = load_backbone_weights(ViTBackbone(NAME), path)
    assert report.unexpected == ["head.weight"] and "1 unexpected" in report.summary()


def test_files_that_do_not_fit_are_one_line_errors(tmp_path: Path) -> None:
    body = ViTBackbone(NAME)
    with pytest.raises(UserError, match="no such file"):
        load_backbone_weights(body, tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read weights"):
        load_backbone_weights(body, tmp_path / "junk.pt")
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, tmp_path / "resnet.pt")
    with pytest.raises(UserError, match="no key fits the backbone") as e:
        load_backbone_weights(body, tmp_path / "resnet.pt")
    assert "\n" not in str(e.value) and str(tmp_path / "resnet.pt") in str(e.value)


@pytest.mark.parametrize(
    ("name", "timm_name"), [("r18", "resnet18"), ("swin_t", "swin_tiny_patch4_window7_224")]
)
def test_resnet_and_swin_take_timms_whole_model_file(tmp_path: Path, name: str, timm_name: str) -> None:
    """The ImageNet options' offline road: timm's file for the whole model loads into the ``features_only`` body
    (Swin's ``layers.N`` are the body's ``layers_N``); only the classifier and Swin's final norm (the detection
    Swin has one per level instead) are left over."""
    torch.manual_seed(3)
    source = timm.create_model(timm_name, pretrained=False).state_dict()
    path = tmp_path / "model.pt"
    torch.save(source, path)
    target = TimmBackbone(name, frozen_stages=-1, norm_eval=False)
    report = load_backbone_weights(target, path)
    assert (
        not report.missing
        and report.unexpected
        and all(k.startswith(("fc.", "head.", "norm.")) for k in report.unexpected)
    )
    for key, value in target.body.state_dict().items():
        src = key.replace("layers_", "layers.", 1) if key.startswith("layers_") else key
        torch.testing.assert_close(value, source[src], rtol=0, atol=0, msg=key)
