"""mmdet QueryInst checkpoint import (state dict generated from the documented key list) and Lightning loading.

``mmdet_queryinst_r50_c80_p100_keys.json`` (next to this file) lists the state-dict keys and shapes of the
mmdetection 3.3.0 QueryInst R50 COCO checkpoint (``configs/queryinst/queryinst_r50_fpn_1x_coco.py``, 80 classes,
100 proposals), read from a built model; the tests fill those shapes with random values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from querytrack.checkpoints import load_lightning_checkpoint, load_mmdet_checkpoint, mmdet_key_to_ours
from querytrack.modeling import build_detector, build_querytrack

KEYS_JSON = Path(__file__).with_name("mmdet_queryinst_r50_c80_p100_keys.json")


@pytest.fixture(scope="module")
def mmdet_state_dict() -> dict[str, torch.Tensor]:
    spec = json.loads(KEYS_JSON.read_text())
    g = torch.Generator().manual_seed(0)
    sd: dict[str, torch.Tensor] = {}
    for key, shape in spec["state_dict"]:
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(3)
        else:
            sd[key] = torch.randn(shape, generator=g)
    return sd


def test_key_renames() -> None:
    assert mmdet_key_to_ours("backbone.layer3.5.bn2.weight") == "backbone.body.layer3.5.bn2.weight"
    assert mmdet_key_to_ours("neck.lateral_convs.2.conv.bias") == "neck.fpn.inner_blocks.2.0.bias"
    assert mmdet_key_to_ours("neck.fpn_convs.0.conv.weight") == "neck.fpn.layer_blocks.0.0.weight"
    assert (
        mmdet_key_to_ours("rpn_head.init_proposal_bboxes.weight") == "proposals.init_proposal_bboxes.weight"
    )
    assert (
        mmdet_key_to_ours("roi_head.mask_head.4.convs.1.bn.running_var")
        == "stages.4.mask_head.convs.1.bn.running_var"
    )
    assert (
        mmdet_key_to_ours("roi_head.bbox_head.5.ffn.layers.0.0.weight")
        == "stages.5.bbox_head.ffn.layers.0.0.weight"
    )
    assert mmdet_key_to_ours("something.else") is None


def test_import_coco_checkpoint_into_querytrack(mmdet_state_dict: dict[str, torch.Tensor]) -> None:
    model = build_querytrack(backbone="r50", num_queries=100, num_classes=80, with_track_head=True)
    ckpt = {
        "meta": {"mmdet_version": "2.x"},
        "state_dict": {f"module.{k}": v for k, v in mmdet_state_dict.items()},
    }
    report = load_mmdet_checkpoint(model, ckpt, verbose=False)
    assert len(report.mapped) == len(mmdet_state_dict) == 780
    assert report.unexpected == [] and report.shape_mismatch == []
    assert report.missing and all(".track_head." in k for k in report.missing)
    det = model.detector
    assert torch.equal(
        det.backbone.body.layer2[1].conv2.weight, mmdet_state_dict["backbone.layer2.1.conv2.weight"]
    )
    assert torch.equal(
        det.neck.fpn.inner_blocks[3][0].weight, mmdet_state_dict["neck.lateral_convs.3.conv.weight"]
    )
    assert torch.equal(
        det.stages[5].bbox_head.attention.attn.in_proj_weight,
        mmdet_state_dict["roi_head.bbox_head.5.attention.attn.in_proj_weight"],
    )
    assert torch.equal(
        det.stages[2].mask_head.upsample.weight, mmdet_state_dict["roi_head.mask_head.2.upsample.weight"]
    )
    assert torch.equal(
        det.proposals.init_proposal_features.weight,
        mmdet_state_dict["rpn_head.init_proposal_features.weight"],
    )
    assert "780 mapped" in report.summary()


def test_class_count_mismatch_is_reported(mmdet_state_dict: dict[str, torch.Tensor]) -> None:
    model = build_detector(backbone="r50", num_queries=100, num_classes=40, with_track_head=False)
    before = model.stages[0].bbox_head.fc_cls.weight.clone()
    report = load_mmdet_checkpoint(model, mmdet_state_dict, verbose=False)
    mism = {m for _, m, _, _ in report.shape_mismatch}
    assert mism == {
        f"stages.{t}.{k}"
        for t in range(6)
        for k in (
            "bbox_head.fc_cls.weight",
            "bbox_head.fc_cls.bias",
            "mask_head.conv_logits.weight",
            "mask_head.conv_logits.bias",
        )
    }
    assert report.missing == [] and report.unexpected == []
    assert torch.equal(model.stages[0].bbox_head.fc_cls.weight, before)


def test_lightning_checkpoint_with_prefix(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = build_querytrack(backbone="r18", num_queries=6, num_classes=3, num_stages=1, embed_dim=8)
    torch.manual_seed(1)
    dst = build_querytrack(backbone="r18", num_queries=6, num_classes=3, num_stages=1, embed_dim=8)
    path = tmp_path / "last.ckpt"
    torch.save({"epoch": 1, "state_dict": {f"model.{k}": v for k, v in src.state_dict().items()}}, path)
    report = load_lightning_checkpoint(dst, path, verbose=False)
    assert report.missing == [] and report.unexpected == [] and report.shape_mismatch == []
    for k, v in src.state_dict().items():
        assert torch.equal(v, dst.state_dict()[k]), k
    # the same checkpoint into the bare detector (prefix "model.detector." detected)
    det = build_detector(backbone="r18", num_queries=6, num_classes=3, num_stages=1, embed_dim=8)
    report = load_lightning_checkpoint(det, path, verbose=False)
    assert report.missing == [] and len(report.mapped) == len(det.state_dict())


def test_class_map_selects_coco_rows(mmdet_state_dict: dict[str, torch.Tensor]) -> None:
    model = build_detector(
        backbone="r50", num_queries=100, num_classes=3, with_track_head=False, num_stages=6
    )
    keep = model.stages[1].mask_head.conv_logits.weight[2].clone()
    report = load_mmdet_checkpoint(model, mmdet_state_dict, verbose=False, class_map=[0, 16, None])
    assert report.shape_mismatch == [] and report.missing == []
    w = mmdet_state_dict["roi_head.bbox_head.4.fc_cls.weight"]
    assert torch.equal(model.stages[4].bbox_head.fc_cls.weight[:2], w[[0, 16]])
    assert torch.equal(model.stages[1].mask_head.conv_logits.weight[2], keep)
