"""Post-processing: QueryInst top-k indexing, box rescaling, mask pasting."""

from __future__ import annotations

import pytest
import torch

from querytrack.inference.postprocess import RawFrameOutput, paste_masks, postprocess_frame


def _raw(n: int = 4, k: int = 3, c: int = 3) -> RawFrameOutput:
    logits = torch.full((n, k), -10.0)
    logits[2, 1] = 3.0  # best: query 2, label 1
    logits[0, 2] = 2.0  # second: query 0, label 2
    logits[2, 0] = 1.0  # third: query 2 again, label 0
    boxes = torch.tensor([[0.0, 0.0, 10.0, 5.0]] * n)
    masks = torch.full((n, c, 28, 28), -5.0)
    masks[2, 1] = 5.0  # only (query 2, class 1) has a foreground mask
    return RawFrameOutput(
        logits, boxes, masks, torch.arange(n * 2, dtype=torch.float32).reshape(n, 2), (50, 100)
    )


def test_topk_label_query_indexing_and_rescale() -> None:
    det = postprocess_frame(_raw(), orig_size=(100, 200), top_k=3)
    assert det.labels.tolist() == [1, 2, 0]
    assert torch.allclose(det.scores, torch.tensor([3.0, 2.0, 1.0]).sigmoid())
    assert det.embeddings[:, 0].tolist() == [4.0, 0.0, 4.0]  # queries 2, 0, 2
    assert det.boxes[0].tolist() == [0.0, 0.0, 20.0, 10.0]  # ×2 back to the original size
    assert det.masks is not None and det.masks.shape == (3, 100, 200)
    assert det.masks[0].sum() == 200 and det.masks[0, :10, :20].all()  # pasted exactly into the box
    assert det.masks[1].sum() == 0 and det.masks[2].sum() == 0  # class-specific channel picked


def test_class_agnostic_masks_and_callable() -> None:
    raw = _raw()
    seen = []

    def mask_fn(q: torch.Tensor) -> torch.Tensor:
        seen.append(q.tolist())
        return torch.full((len(q), 1, 28, 28), 5.0)

    raw.mask_logits = mask_fn
    det = postprocess_frame(raw, orig_size=(50, 100), top_k=2)
    assert seen == [[2, 0]]
    assert det.masks is not None and (det.masks.sum((1, 2)) == 50).all()


def test_paste_bilinear_partial_box() -> None:
    probs = torch.zeros(1, 28, 28)
    probs[0, :, :14] = 1.0  # left half of the box
    m = paste_masks(probs, torch.tensor([[4.0, 2.0, 12.0, 6.0]]), (10, 20))[0]
    assert m[2:6, 4:8].all() and not m[2:6, 8:12].any() and m.sum() == 16


def test_box_clipped_to_frame() -> None:
    raw = _raw()
    raw.boxes[:] = torch.tensor([-5.0, -5.0, 500.0, 500.0])
    det = postprocess_frame(raw, orig_size=(100, 200), top_k=1)
    assert det.boxes[0].tolist() == [0.0, 0.0, 200.0, 100.0]


def _half_mask_raw(box: list[float]) -> RawFrameOutput:
    """One query, one class; its 28×28 mask is background on the left half and foreground on the right."""
    mask = torch.full((1, 1, 28, 28), -10.0)
    mask[..., 14:] = 10.0
    return RawFrameOutput(torch.tensor([[5.0]]), torch.tensor([box]), mask, torch.zeros(1, 2), (10, 10))


def test_paste_into_the_raw_box_keeps_the_mask_where_the_head_saw_it() -> None:
    # The box reaches 10 px left of the frame: its mask's right half covers the whole frame.
    raw = postprocess_frame(_half_mask_raw([-10.0, 0.0, 10.0, 10.0]), orig_size=(10, 10), paste_box="raw")
    assert raw.boxes[0].tolist() == [0.0, 0.0, 10.0, 10.0]  # the reported box is clamped either way
    assert raw.mask_boxes is not None and raw.mask_boxes[0].tolist() == [-10.0, 0.0, 10.0, 10.0]
    assert raw.masks is not None and bool(raw.masks.all())
    # Clamped: the same mask squeezed into the visible part, so the left half of the frame is background.
    clamped = postprocess_frame(
        _half_mask_raw([-10.0, 0.0, 10.0, 10.0]), orig_size=(10, 10), paste_box="clamped"
    )
    assert clamped.mask_boxes is None and clamped.masks is not None
    assert clamped.masks[0, :, :5].sum() == 0 and bool(clamped.masks[0, :, 5:].all())


def test_paste_boxes_agree_for_a_box_inside_the_frame() -> None:
    dets = [
        postprocess_frame(_half_mask_raw([2.0, 1.0, 8.0, 9.0]), (10, 10), paste_box=p)
        for p in ("raw", "clamped")
    ]
    assert torch.equal(dets[0].masks, dets[1].masks)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="paste_box"):
        postprocess_frame(_half_mask_raw([2.0, 1.0, 8.0, 9.0]), (10, 10), paste_box="inner")
