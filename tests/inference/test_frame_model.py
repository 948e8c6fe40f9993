"""DetectorFrameModel: the detector's top-k embeddings become per-query rows for the post-processing."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from querytrack.inference.frame_model import DetectorFrameModel
from querytrack.inference.postprocess import postprocess_frame
from querytrack.modeling.outputs import DetectorOutput

N, K, D = 6, 3, 4


class _StubDetector:
    """Returns fixed outputs: queries 4 and 1 are the top-2, their embeddings are ``10 + q``."""

    def __init__(self, with_embeddings: bool = True) -> None:
        self.with_embeddings = with_embeddings

    def __call__(self, images: Tensor, image_sizes: Tensor) -> DetectorOutput:
        logits = torch.full((1, N, K), -5.0)
        logits[0, 4, 2], logits[0, 1, 0] = 3.0, 2.0
        top = torch.tensor([[4, 1]])
        embeds = (10.0 + top.float())[:, :, None].expand(1, 2, D).clone() if self.with_embeddings else None
        return DetectorOutput(
            cls_logits=logits,
            boxes=torch.tensor([[0.0, 0.0, 8.0, 8.0]]).expand(1, N, 4).clone(),
            mask_indices=top,
            mask_logits=torch.zeros((1, 2, K, 28, 28)),
            track_embeddings=embeds,
            image_sizes=image_sizes,
        )


def test_top_k_embeddings_land_on_their_queries() -> None:
    raw = DetectorFrameModel(_StubDetector()).predict_frame(torch.zeros((3, 16, 16), dtype=torch.uint8))
    assert isinstance(raw.embeddings, Tensor) and raw.embeddings.shape == (N, D)
    assert raw.embeddings[:, 0].tolist() == [0.0, 11.0, 0.0, 0.0, 14.0, 0.0]
    det = postprocess_frame(raw, (16, 16), top_k=2, paste=False)
    assert det.embeddings[:, 0].tolist() == [14.0, 11.0]  # queries 4 (score 3) and 1 (score 2)


def test_a_detector_without_track_heads() -> None:
    image = torch.zeros((3, 16, 16), dtype=torch.uint8)
    raw = DetectorFrameModel(_StubDetector(False), require_embeddings=False).predict_frame(image)
    assert torch.equal(raw.embeddings, torch.zeros((N, 1)))
    with pytest.raises(RuntimeError, match="track heads"):
        DetectorFrameModel(_StubDetector(False)).predict_frame(image)
