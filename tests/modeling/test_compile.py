"""torch.compile of the detector (``modeling.compile``): compiled and eager agree, in inference and training."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch

from querytrack.modeling import build_querytrack
from querytrack.modeling.compile import compile_detector, compiled_parts, is_compiled
from querytrack.types import PairBatch

pytestmark = pytest.mark.slow  # inductor compiles C++ kernels on the CPU: tens of seconds per model


def _tiny() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_querytrack(
        backbone="r18",
        num_queries=8,
        num_classes=5,
        num_stages=2,
        embed_dim=16,
        hidden_dim=32,
        ffn_dim=64,
        dynamic_dim=8,
        mask_channels=16,
        mask_topk=4,
    )


def test_compiled_detector_keeps_the_weights_and_gives_the_eager_outputs(
    pair_factory: Callable[..., PairBatch],
) -> None:
    eager = _tiny().eval()
    compiled = copy.deepcopy(eager)
    compile_detector(compiled.detector)
    assert is_compiled(compiled.detector) and not is_compiled(eager.detector)
    assert len(compiled_parts(compiled.detector)) == 2 + 3 * 2
    assert list(compiled.state_dict()) == list(eager.state_dict())  # in place: no "_orig_mod." prefix
    frames = pair_factory([(96, 128), (64, 96)], [2, 1], [1, 1]).key
    with torch.no_grad():
        want = eager.detector(frames.images, frames.image_sizes)
        got = compiled.detector(frames.images, frames.image_sizes)
    assert torch.equal(got.mask_indices, want.mask_indices)
    for name in ("cls_logits", "boxes", "mask_logits", "track_embeddings"):
        torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=1e-4, atol=1e-4, msg=name)


def test_compiled_training_step_gives_the_eager_losses_and_gradients(
    pair_factory: Callable[..., PairBatch],
) -> None:
    eager = _tiny().train()
    compiled = copy.deepcopy(eager)
    compile_detector(compiled.detector)
    batch = pair_factory([(96, 128), (64, 96)], [2, 1], [1, 1])
    want, got = eager.loss(batch), compiled.loss(batch)
    torch.testing.assert_close(got["loss"], want["loss"], rtol=1e-4, atol=1e-4)
    want["loss"].backward()
    got["loss"].backward()
    named = dict(compiled.named_parameters())
    for name, p in eager.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(named[name].grad, p.grad, rtol=1e-3, atol=1e-4, msg=name)
