"""PackedLinear: the oneDNN packed-weight path equals nn.Linear, is taken only in CPU inference, follows the weight."""

from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F

from querytrack.modeling.packed_linear import MIN_PACKED_WEIGHTS, PackedLinear, packing_available

needs_onednn = pytest.mark.skipif(
    not packing_available(), reason="this PyTorch build has no oneDNN packed linear"
)


def _layer(in_features: int = 256, out_features: int = 1024, bias: bool = True) -> PackedLinear:
    torch.manual_seed(0)
    return PackedLinear(in_features, out_features, bias=bias).eval()


def _plain(layer: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """What ``nn.Linear`` with ``layer``'s current weights gives for ``x``."""
    return F.linear(x, layer.weight, layer.bias)


def _assert_packed_close(out: torch.Tensor, layer: torch.nn.Linear, x: torch.Tensor) -> None:
    """The packed product agrees with the plain one up to float rounding."""
    torch.testing.assert_close(out, _plain(layer, x), rtol=1e-5, atol=1e-5)


@needs_onednn
@pytest.mark.parametrize("shape", [(1, 256), (10, 256), (100, 256), (2, 7, 256)])
@pytest.mark.parametrize("bias", [True, False])
def test_packed_path_equals_the_plain_linear(shape: tuple[int, ...], bias: bool) -> None:
    layer = _layer(bias=bias)
    x = torch.randn(shape)
    with torch.inference_mode():
        out = layer(x)
    assert layer._packed is not None  # the packed path ran
    assert out.shape == (*shape[:-1], 1024)
    _assert_packed_close(out, layer, x)


@needs_onednn
def test_one_packing_serves_every_row_count() -> None:
    layer = _layer()
    with torch.inference_mode():
        layer(torch.randn(100, 256))
        packed = layer._packed
        for rows in (1, 3, 300):
            x = torch.randn(rows, 256)
            _assert_packed_close(layer(x), layer, x)
    assert layer._packed is packed  # packed once


def test_training_gradients_autocast_and_small_layers_run_the_plain_linear() -> None:
    layer = _layer()
    x = torch.randn(4, 256)
    layer.train()
    with torch.no_grad():
        assert torch.equal(layer(x), _plain(layer, x))
    layer.eval()
    out = layer(x)  # gradients on: the autograd graph needs the plain op
    assert out.requires_grad and torch.equal(out.detach(), _plain(layer, x).detach())
    assert layer._packed is None
    small = PackedLinear(256, 40).eval()
    assert not small.packs and MIN_PACKED_WEIGHTS > 256 * 40
    with torch.inference_mode():
        assert torch.equal(small(x), _plain(small, x))
    assert small._packed is None
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer(x).dtype == torch.bfloat16  # autocast's choice stands
    layer.prepack = False
    with torch.inference_mode():
        layer(x)
    assert layer._packed is None


@needs_onednn
def test_the_packing_follows_weight_changes() -> None:
    layer = _layer()
    x = torch.randn(5, 256)
    with torch.inference_mode():
        before = layer(x)
    other = PackedLinear(256, 1024)
    layer.load_state_dict(other.state_dict())  # copies in place: same storage, new version
    with torch.no_grad():
        after = layer(x)
        _assert_packed_close(after, other, x)
        assert not torch.allclose(before, after)
        layer.weight.mul_(2)
        _assert_packed_close(layer(x), layer, x)


@needs_onednn
def test_copies_and_pickles_leave_the_packing_behind() -> None:
    layer = _layer()
    x = torch.randn(3, 256)
    with torch.inference_mode():
        expected = layer(x)
    assert layer._packed is not None
    twin = copy.deepcopy(layer)
    buf = io.BytesIO()
    torch.save(layer, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    assert set(layer.state_dict()) == {"weight", "bias"}
    for clone in (twin, loaded):
        assert clone._packed is None
        with torch.inference_mode():
            torch.testing.assert_close(clone(x), expected, rtol=0, atol=0)
    layer.train()  # training would make the packed copy stale: it is dropped
    assert layer._packed is None


@needs_onednn
def test_an_optimizer_step_or_a_mode_switch_renews_the_packing() -> None:
    """Fused AdamW writes the weight without bumping its version counter, and Lightning restores training flags
    without ``.train()``: the packing must follow the weight anyway."""
    layer = _layer()
    x = torch.randn(5, 256)
    with torch.inference_mode():
        layer(x)
    layer.training = True  # as Lightning restores the mode after validation
    _plain(layer, x).square().sum().backward()
    version = layer.weight._version
    torch.optim.AdamW(layer.parameters(), lr=0.1, fused=True).step()
    assert layer.weight._version == version  # the version counter did not see the step
    layer.training = False
    with torch.inference_mode():
        _assert_packed_close(layer(x), layer, x)
    assert layer._packed is not None
    layer.eval()
    assert layer._packed is None  # every mode switch drops it


def test_tracing_records_the_plain_linear() -> None:
    """``torch.jit.trace`` in inference (eval, no gradients) records ``aten::linear``, not the packed op with its
    opaque weight (which the tracer cannot take)."""
    layer = _layer()
    x = torch.randn(4, 256)
    with torch.no_grad():
        traced = torch.jit.trace(layer, x, check_trace=False)
        out = traced(torch.randn(4, 256) + 1.0)
    assert "mkldnn" not in str(traced.graph) and "aten::linear" in str(traced.graph)
    assert out.shape == (4, 1024)
