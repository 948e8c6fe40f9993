"""Training entry: loss dict, gradients to every parameter (also on an empty batch), predict."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from querytrack.modeling import build_querytrack
from querytrack.types import PairBatch

SIZES = [(100, 167), (80, 144)]


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    m = build_querytrack(backbone="r18", num_queries=10, num_classes=5, num_stages=2, embed_dim=16)
    return m.train()


def _params_without_grad(model: torch.nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]


def test_loss_dict_and_every_parameter_gets_a_gradient(pair_factory: Callable[..., PairBatch]) -> None:
    model = _model()
    pair = pair_factory(SIZES, [3, 2], [2, 3])
    losses = model.loss(pair)
    for t in range(2):
        for name in ("loss_cls", "loss_bbox", "loss_iou", "loss_mask", "loss_track"):
            assert torch.isfinite(losses[f"s{t}.{name}"])
            assert f"raw/s{t}.{name}" in losses
    assert losses["s0.loss_track"].item() > 0
    losses["loss"].backward()
    assert _params_without_grad(model) == []
    frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(".conv1." in n or ".bn1." in n or ".layer1." in n for n in frozen)


def test_empty_batch_is_finite_and_still_reaches_every_parameter(
    pair_factory: Callable[..., PairBatch],
) -> None:
    model = _model()
    pair = pair_factory(SIZES, [0, 0], [0, 0])
    losses = model.loss(pair)
    for t in range(2):
        for name in ("loss_bbox", "loss_iou", "loss_mask", "loss_track"):
            assert losses[f"s{t}.{name}"].item() == 0.0
    assert torch.isfinite(losses["loss"]) and losses["loss"].item() > 0
    losses["loss"].backward()
    assert _params_without_grad(model) == []


def test_key_instances_absent_from_reference(pair_factory: Callable[..., PairBatch]) -> None:
    model = _model()
    pair = pair_factory(SIZES, [2, 1], [0, 0])
    losses = model.loss(pair)
    assert torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert _params_without_grad(model) == []


def test_predict_on_frame_batch(pair_factory: Callable[..., PairBatch]) -> None:
    model = _model().eval()
    out = model.detector.predict(pair_factory(SIZES, [1, 1], [1, 1]).key)
    assert out.track_embeddings is not None and out.track_embeddings.shape == (2, 10, 16)
    assert out.mask_logits.shape == (2, 10, 5, 28, 28)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_autocast_training_step_on_gpu(pair_factory: Callable[..., PairBatch]) -> None:
    model = _model().cuda()
    pair = pair_factory(SIZES, [3, 2], [2, 3]).to("cuda")
    with torch.autocast("cuda", dtype=torch.bfloat16):
        losses = model.loss(pair)
    assert all(torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    assert _params_without_grad(model) == []
    model.eval()
    with torch.autocast("cuda", dtype=torch.bfloat16), torch.no_grad():
        out = model.detector.predict(pair.key)
    assert out.boxes.dtype == torch.float32 and torch.isfinite(out.boxes).all()
