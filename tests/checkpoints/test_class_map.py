"""YouTube-VIS / OVIS ↔ COCO class maps: table contents, checks against the data, classifier rows loaded."""

from __future__ import annotations

import pytest
import torch

from querytrack.checkpoints import load_mmdet_checkpoint
from querytrack.checkpoints.class_map import COCO_CATEGORIES, TABLES, build_class_map
from querytrack.modeling import build_detector


def _full(table: str):
    names = TABLES[table][0]
    return build_class_map(table, list(range(1, len(names) + 1)), list(names))


def test_coco_categories() -> None:
    assert len(COCO_CATEGORIES) == 80 and len({c for c, _ in COCO_CATEGORIES}) == 80
    assert [c for c, _ in COCO_CATEGORIES] == sorted(c for c, _ in COCO_CATEGORIES)


@pytest.mark.parametrize(
    ("table", "n", "mapped"), [("ytvis19", 40, 19), ("ytvis21", 40, 21), ("ovis", 25, 15)]
)
def test_table_sizes(table: str, n: int, mapped: int) -> None:
    report = _full(table)
    assert len(report.class_map) == n
    assert len(report.mapped) == mapped and len(report.fresh) == n - mapped
    assert f"{mapped} of {n} classes" in report.summary()


def test_golden_rows() -> None:
    y21 = _full("ytvis21").class_map
    # person (ours 25) <- COCO row 0; car (4) <- row 2; motorbike (22) <- motorcycle row 3; flying_disc <- frisbee
    assert (y21[25], y21[4], y21[22], y21[13]) == (0, 2, 3, 29)
    assert y21[31] is None  # squirrel: no COCO class
    y19 = _full("ytvis19").class_map
    assert (y19[5], y19[20], y19[32], y19[39]) == (
        2,
        3,
        31,
        38,
    )  # sedan<-car, motorbike, snowboard, tennis racket
    assert y19[10] is None  # hand
    ovis = _full("ovis")
    assert ovis.class_map[24] == 2 and ("car", "Vehical") in ovis.mapped  # vehicle <- car (also bus, truck)
    assert ovis.class_map[1] is None  # Bird: left out of the published map


def test_data_subset_and_order() -> None:
    # a data set with three YTVIS-2021 categories, listed out of id order: rows follow our labels
    report = build_class_map("ytvis21", [39, 26, 5], ["whale", "person", "car"])
    assert report.class_map == [None, 0, 2]
    assert report.fresh == ["whale"]


@pytest.mark.parametrize(
    ("ids", "names", "match"),
    [([5], ["sedan"], "'car' in the table"), ([41], ["x"], "no such id"), ([1], ["airplane"], "right table")],
)
def test_wrong_table_is_an_error(ids: list[int], names: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_class_map("ytvis21" if names != ["airplane"] else "ytvis19", ids, names)


def test_unknown_table() -> None:
    with pytest.raises(ValueError, match="unknown class map"):
        build_class_map("coco", [1], ["person"])


def test_classifier_rows_loaded_through_the_map() -> None:
    kw = dict(backbone="r18", num_queries=4, num_stages=2, hidden_dim=32, embed_dim=8, with_track_head=False,
              ffn_dim=64, dynamic_dim=8, mask_channels=16)  # fmt: skip
    torch.manual_seed(0)
    coco = build_detector(num_classes=80, **kw)
    sd = {}
    for k, v in coco.state_dict().items():  # our names -> mmdet's, class-specific layers only
        parts = k.split(".")
        if parts[0] == "stages" and ("fc_cls" in k or "conv_logits" in k):
            sd[f"roi_head.{parts[2]}.{parts[1]}." + ".".join(parts[3:])] = v
    assert len(sd) == 8
    torch.manual_seed(1)
    model = build_detector(num_classes=3, **kw)
    before = model.stages[1].bbox_head.fc_cls.weight.detach().clone()
    mapping = build_class_map("ytvis21", [26, 39, 23], ["person", "whale", "motorbike"])
    report = load_mmdet_checkpoint(model, sd, verbose=False, class_map=mapping.class_map)
    assert report.shape_mismatch == [] and len(report.mapped) == 8
    for t in range(2):
        w = model.stages[t].bbox_head.fc_cls.weight
        assert torch.equal(w[0], coco.stages[t].bbox_head.fc_cls.weight[0])  # person
        assert torch.equal(w[2], coco.stages[t].bbox_head.fc_cls.weight[3])  # motorcycle
        m = model.stages[t].mask_head.conv_logits
        assert torch.equal(m.bias[2], coco.stages[t].mask_head.conv_logits.bias[3])
    assert torch.equal(model.stages[1].bbox_head.fc_cls.weight[1], before[1])  # whale keeps its init
