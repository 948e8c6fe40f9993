"""The opt-in gather RoIAlign op: torchvision's samples and weights (rounding apart), gradients, layout."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import roi_align

from querytrack.modeling.ops.roi_gather import roi_align_gather, roi_align_gather_levels
from querytrack.modeling.roi_extractor import MultiLevelRoIAlign


def _rois(m: int, g: torch.Generator, width: float, height: float) -> torch.Tensor:
    """``m`` rois on 2 images: inside, across the border, beyond it, tiny (0.01 px) and large."""
    xy = torch.rand(m, 2, generator=g) * torch.tensor([width * 1.3, height * 1.3]) - 40
    wh = torch.rand(m, 2, generator=g) ** 2 * 2 * max(width, height) + 0.01
    return torch.cat([torch.randint(0, 2, (m, 1), generator=g).float(), xy, xy + wh], 1)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize(("size", "sampling_ratio", "scale"), [(7, 2, 0.25), (14, 2, 0.125), (5, 3, 1.0)])
def test_gather_equals_torchvision_roi_align(
    aligned: bool, size: int, sampling_ratio: int, scale: float
) -> None:
    g = torch.Generator().manual_seed(size + sampling_ratio)
    feat = torch.randn(2, 6, 11, 17, generator=g)
    rois = _rois(60, g, 17 / scale, 11 / scale)
    want = roi_align(feat, rois, size, scale, sampling_ratio, aligned)
    got = roi_align_gather(feat, rois, size, scale, sampling_ratio, aligned)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    channels_last = feat.contiguous(memory_format=torch.channels_last)
    # the layout changes where the table is read from, not the sums
    assert torch.equal(roi_align_gather(channels_last, rois, size, scale, sampling_ratio, aligned), got)


def test_gather_of_a_ramp_is_the_bin_centre() -> None:
    """Feature value = x (column index): inside the map, each bin's mean sample x is its centre."""
    w = 20
    feat = torch.arange(w, dtype=torch.float32).expand(1, 1, 10, w).contiguous()
    roi = torch.tensor([[0.0, 2.5, 1.5, 16.5, 8.5]])  # aligned: x from 2.0 to 16.0 in feature pixels
    out = roi_align_gather(feat, roi, 7, 1.0, 2, aligned=True)
    centres = 2.0 + (torch.arange(7) + 0.5) * 2.0  # 14 px over 7 bins
    torch.testing.assert_close(out[0, 0], centres.expand(7, 7), rtol=0, atol=1e-5)


def test_gather_zeroes_samples_beyond_the_map_and_clamps_the_border_band() -> None:
    feat = torch.ones(1, 1, 4, 4)
    far = torch.tensor([[0.0, 100.0, 100.0, 110.0, 110.0]])  # every sample beyond [-1, size]
    assert roi_align_gather(feat, far, 2, 1.0, 2).abs().sum() == 0
    band = torch.tensor([[0.0, 3.6, 3.6, 4.4, 4.4]])  # samples in (size - 1, size]: read at size - 1
    torch.testing.assert_close(roi_align_gather(feat, band, 2, 1.0, 2), torch.ones(1, 1, 2, 2))


def test_gather_gradient_equals_torchvision_gradient() -> None:
    g = torch.Generator().manual_seed(3)
    feat = torch.randn(2, 5, 9, 13, generator=g)
    rois = _rois(30, g, 13 * 4, 9 * 4)
    weights = torch.randn(30, 5, 7, 7, generator=g)
    a, b = feat.clone().requires_grad_(), feat.clone().requires_grad_()
    (roi_align(a, rois, 7, 0.25, 2, True) * weights).sum().backward()
    (roi_align_gather(b, rois, 7, 0.25, 2, True) * weights).sum().backward()
    assert a.grad is not None and b.grad is not None
    torch.testing.assert_close(b.grad, a.grad, rtol=1e-5, atol=1e-5)


def test_multilevel_kernels_agree_and_pooling_layout_is_shared() -> None:
    g = torch.Generator().manual_seed(5)
    feats = [torch.randn(2, 8, 256 // s, 320 // s, generator=g) for s in (4, 8, 16, 32)]
    rois = _rois(80, g, 320, 256)
    tv = MultiLevelRoIAlign(14, kernel="torchvision")(feats, rois)
    gather = MultiLevelRoIAlign(14, kernel="gather")
    laid = gather.pooling_layout(feats)
    assert all(f.is_contiguous(memory_format=torch.channels_last) for f in laid)
    assert gather.pooling_layout(laid)[0] is laid[0]  # converting twice copies nothing
    assert MultiLevelRoIAlign(14).pooling_layout(feats)[0] is feats[0]  # torchvision's kernel: default layout
    out = gather(laid, rois)
    assert out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out, tv, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gather(feats, rois), out, rtol=0, atol=0)  # any layout in, the same sums


def test_unknown_kernel_and_adaptive_sampling_are_refused() -> None:
    with pytest.raises(ValueError, match="kernel"):
        MultiLevelRoIAlign(7, kernel="cuda")
    with pytest.raises(ValueError, match="sampling_ratio"):
        MultiLevelRoIAlign(7, sampling_ratio=0, kernel="gather")
    with pytest.raises(ValueError, match="sampling_ratio"):
        roi_align_gather(torch.zeros(1, 1, 2, 2), torch.zeros(1, 5), 2, 1.0, 0)


def test_all_levels_in_one_pass_equal_each_level_on_its_own() -> None:
    """``roi_align_gather_levels``: rois in any level order (one level empty) give, bit for bit, the patches
    ``roi_align_gather`` gives each level's rois; gradients reach every level."""
    g = torch.Generator().manual_seed(7)
    strides = (4, 8, 16, 32)
    feats = [torch.randn(2, 5, 96 // s, 160 // s, generator=g, requires_grad=True) for s in strides]
    rois = _rois(50, g, 160, 96)
    levels = torch.randint(0, 4, (50,), generator=g)
    levels[levels == 2] = 3  # level 2 gets no roi
    scales = [1.0 / s for s in strides]
    got = roi_align_gather_levels(feats, rois, levels, 7, scales, 2, True)
    assert got.shape == (50, 5, 7, 7) and got.is_contiguous(memory_format=torch.channels_last)
    for lvl in (0, 1, 3):
        idx = torch.nonzero(levels == lvl, as_tuple=True)[0]
        assert torch.equal(got[idx], roi_align_gather(feats[lvl], rois[idx], 7, scales[lvl], 2, True))
    got.sum().backward()
    assert all(f.grad is not None for f in (feats[0], feats[1], feats[3])) and feats[2].grad is None
