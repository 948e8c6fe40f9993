"""A fake detector satisfying ``FrameModel``, for tests and benchmarks of the streaming loop.

It "sees" ``num_objects`` boxes moving linearly across the frame; each object has a class and a fixed random
embedding. Query ``j < num_objects`` detects object ``j`` (high logit for its class); the other queries are
background (low logits, random boxes and embeddings).
"""

from __future__ import annotations

import torch
from torch import Tensor

from querytrack.inference.postprocess import RawFrameOutput


class FakeDetector:
    """Deterministic synthetic detector (a frame counter stands in for image content).

    Args:
        num_objects: objects in the scene.
        num_queries: N.
        num_classes: K.
        embed_dim: D.
        mask_size: side of the mask logits (28 as QueryInst).
        per_query_masks: return mask logits for all queries (True) or a callable on the selected ones.
        seed: random seed.
    """

    def __init__(
        self,
        num_objects: int = 3,
        num_queries: int = 100,
        num_classes: int = 40,
        embed_dim: int = 256,
        mask_size: int = 28,
        per_query_masks: bool = False,
        seed: int = 0,
    ) -> None:
        g = torch.Generator().manual_seed(seed)
        self.N, self.K, self.D, self.S = num_queries, num_classes, embed_dim, mask_size
        self.J = num_objects
        self.classes = torch.randint(0, num_classes, (num_objects,), generator=g)
        self.obj_embed = (
            torch.nn.functional.normalize(torch.randn(num_objects, embed_dim, generator=g), dim=1) * 4
        )
        self.start = torch.rand(num_objects, 2, generator=g) * 0.6
        self.size = 0.1 + torch.rand(num_objects, 2, generator=g) * 0.2
        self.vel = (torch.rand(num_objects, 2, generator=g) - 0.5) * 0.01
        self.per_query_masks = per_query_masks
        self.generator = g
        self.t = 0

    def reset(self) -> None:
        """Restart the scene at frame 0."""
        self.t = 0

    def predict_frame(self, image: Tensor) -> RawFrameOutput:
        """Outputs for the next frame; ``image`` only gives the coordinate frame (h, w)."""
        h, w = int(image.shape[-2]), int(image.shape[-1])
        g = self.generator
        logits = torch.randn(self.N, self.K, generator=g) - 6.0
        logits[torch.arange(self.J), self.classes] = 2.5 + 0.3 * torch.randn(self.J, generator=g)
        xy = (self.start + self.vel * self.t).remainder(1.0 - self.size)
        obj_boxes = torch.cat([xy, xy + self.size], dim=1) * torch.tensor([w, h, w, h])
        boxes = torch.rand(self.N, 4, generator=g) * torch.tensor([w, h, w, h]) / 2
        boxes[:, 2:] += boxes[:, :2]
        boxes[: self.J] = obj_boxes
        emb = torch.randn(self.N, self.D, generator=g)
        emb[: self.J] = self.obj_embed + 0.1 * torch.randn(self.J, self.D, generator=g)
        self.t += 1
        masks = torch.full((self.N, 1, self.S, self.S), 4.0)

        def mask_fn(q: Tensor) -> Tensor:
            return torch.full((len(q), 1, self.S, self.S), 4.0)

        return RawFrameOutput(
            cls_logits=logits,
            boxes=boxes,
            mask_logits=masks if self.per_query_masks else mask_fn,
            embeddings=emb,
            image_size=(h, w),
        )
