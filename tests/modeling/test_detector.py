"""Detector: parameter count against mmdetection, forward on odd sizes, stage wiring, top-k heads."""

from __future__ import annotations

import pytest
import torch

from querytrack.modeling import build_detector
from querytrack.modeling.roi_extractor import image_major_rois

ODD_SIZES = [(200, 333), (160, 288)]


def _padded_batch(sizes: list[tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    hp = (max(h for h, _ in sizes) + 31) // 32 * 32
    wp = (max(w for _, w in sizes) + 31) // 32 * 32
    images = torch.zeros((len(sizes), 3, hp, wp), dtype=torch.uint8)
    for i, (h, w) in enumerate(sizes):
        images[i, :, :h, :w] = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
    return images, torch.tensor(sizes)


def test_r50_parameter_count_matches_mmdetection() -> None:
    model = build_detector(backbone="r50", num_queries=100, num_classes=80, with_track_head=False)
    n = sum(p.numel() for p in model.parameters())
    # measured on a built mmdetection 3.3.0 QueryInst R50 (docs/method.md §6.1); we reproduce it exactly
    assert abs(n - 172_688_808) / 172_688_808 < 0.01
    assert n == 172_688_808
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 172_463_464


@pytest.mark.parametrize("backbone", ["r18", "swin_t"])
def test_forward_on_two_odd_sized_padded_images(backbone: str) -> None:
    torch.manual_seed(0)
    model = build_detector(
        backbone=backbone, num_queries=8, num_classes=5, num_stages=2, embed_dim=32, mask_topk=3
    )
    model.eval()
    images, sizes = _padded_batch(ODD_SIZES)
    with torch.no_grad():
        out = model(images, sizes)
    assert out.cls_logits.shape == (2, 8, 5)
    assert out.boxes.shape == (2, 8, 4)
    assert out.mask_indices.shape == (2, 3)
    assert out.mask_logits.shape == (2, 3, 5, 28, 28)
    assert out.track_embeddings is not None and out.track_embeddings.shape == (2, 3, 32)
    for t in (out.cls_logits, out.boxes, out.mask_logits, out.track_embeddings):
        assert torch.isfinite(t).all()
    best = out.cls_logits.max(-1).values.topk(3, dim=1).indices
    assert torch.equal(out.mask_indices, best)


def test_padding_does_not_change_the_result() -> None:
    torch.manual_seed(0)
    model = build_detector(
        backbone="r18", num_queries=4, num_classes=3, num_stages=1, with_track_head=False
    ).eval()
    images, sizes = _padded_batch([(64, 96)])
    bigger = torch.zeros((1, 3, 128, 160), dtype=torch.uint8)
    bigger[..., :64, :96] = images[..., :64, :96]
    x1 = model.preprocess(images, sizes)
    x2 = model.preprocess(bigger, sizes)
    assert torch.equal(x2[..., :64, :96], x1) and x2[..., 64:, :].abs().sum() == 0


def test_stage_inputs_are_detached_and_heads_use_attn_feats() -> None:
    torch.manual_seed(0)
    model = build_detector(backbone="r18", num_queries=4, num_classes=3, num_stages=2, embed_dim=8)
    images, sizes = _padded_batch([(64, 96)])
    feats = model.extract_features(images, sizes)
    outs = model.forward_stages(feats, sizes)
    outs[1].boxes.sum().backward()
    # stage-1 boxes = decode(stage-1 deltas, detached stage-0 boxes): stage-0 regression gets no gradient
    assert model.stages[0].bbox_head.fc_reg.weight.grad is None
    assert model.stages[1].bbox_head.fc_reg.weight.grad is not None
    # the mask head receives q*_{t-1} = LN(q + MHA(q)), which does not depend on the stage's own RoI features
    q = outs[0].attn_feats
    expected = model.stages[0].bbox_head.attention_norm(
        model.stages[0].bbox_head.attention(model.proposals(sizes)[1])
    )
    assert torch.allclose(q, expected, atol=1e-5)


def test_track_embeddings_of_the_top_queries_equal_those_of_all_queries() -> None:
    """``forward`` runs the track head on the ``mask_indices`` queries only: the same embeddings as running it on
    every query (the former output ``[B, N, D]``) and picking those rows."""
    torch.manual_seed(0)
    model = build_detector(
        backbone="r18", num_queries=12, num_classes=5, num_stages=2, embed_dim=16, mask_topk=4
    ).eval()
    images, sizes = _padded_batch(ODD_SIZES)
    with torch.no_grad():
        out = model(images, sizes)
        feats = model.extract_features(images, sizes)
        last = model.forward_stages(feats, sizes)[-1]
        every = model.stage(-1).forward_track(
            feats, image_major_rois(last.boxes), last.attn_feats.reshape(-1, last.attn_feats.shape[-1])
        )
    every = every.view(2, 12, 16)
    expected = torch.stack([every[i, out.mask_indices[i]] for i in range(2)])
    assert out.track_embeddings is not None and out.track_embeddings.shape == (2, 4, 16)
    torch.testing.assert_close(out.track_embeddings, expected, rtol=0, atol=1e-6)


def test_gather_kernel_gives_the_torchvision_outputs() -> None:
    """The opt-in gather RoIAlign (``roi_kernel="gather"``) and torchvision's: same outputs up to rounding."""
    torch.manual_seed(0)
    kwargs = dict(backbone="r18", num_queries=12, num_classes=5, num_stages=2, embed_dim=16, mask_topk=4)
    ref = build_detector(**kwargs).eval()  # type: ignore[arg-type]
    gather = build_detector(**kwargs, roi_kernel="gather").eval()  # type: ignore[arg-type]
    gather.load_state_dict(ref.state_dict())
    images, sizes = _padded_batch(ODD_SIZES)
    with torch.no_grad():
        a, b = gather(images, sizes), ref(images, sizes)
    assert torch.equal(a.mask_indices, b.mask_indices)
    for name in ("cls_logits", "boxes", "mask_logits", "track_embeddings"):
        torch.testing.assert_close(getattr(a, name), getattr(b, name), rtol=1e-4, atol=1e-4, msg=name)


def test_a_model_built_under_inference_mode_runs() -> None:
    """Parameters created under ``torch.inference_mode()`` are inference tensors: the model holds nothing that
    needs their version counters, so it runs (and gives what the same weights give when built normally)."""
    kwargs = dict(backbone="r18", num_queries=12, num_classes=5, num_stages=2, embed_dim=16, mask_topk=4)
    torch.manual_seed(0)
    plain = build_detector(**kwargs).eval()  # type: ignore[arg-type]
    images, sizes = _padded_batch(ODD_SIZES)
    with torch.inference_mode():
        built = build_detector(**kwargs).eval()  # type: ignore[arg-type]
        assert next(built.parameters()).is_inference()
        built.load_state_dict(plain.state_dict())
        got = built(images, sizes)
        again = built(images, sizes)
    with torch.no_grad():
        want = plain(images, sizes)
    for name in ("cls_logits", "boxes", "mask_logits", "track_embeddings"):
        assert torch.equal(getattr(got, name), getattr(again, name)), name
        torch.testing.assert_close(getattr(got, name), getattr(want, name), rtol=1e-5, atol=1e-5, msg=name)
