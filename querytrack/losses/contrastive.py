"""Contrastive (focal) tracking loss of QueryTrack (report eq. 5-7, docs/method.md §2).

For a key-frame instance i (a matched query, embedding e_i) and the G identified instances of the reference frame
of the same pair (embeddings e_1..e_G), the logits are ``[0, e_iᵀe_1, ..., e_iᵀe_G]``; a softmax gives
``p_i(0) = 1 / (1 + Σ_j exp(e_iᵀe_j))`` (the "new / not in reference" slot, MaskTrack R-CNN's zero column) and
``p_i(n) = exp(e_iᵀe_n) / (1 + Σ_j exp(e_iᵀe_j))``. The target slot is the reference instance with the same
instance id, or slot 0 if the object is absent from the reference frame.

Focal mode (``use_focal=True``): every slot n contributes a binary focal term with ``α_t, p_t`` as in the focal loss
(hustvl/QueryInst#36: "α_t and γ mean the same as in focal loss"):

    target slot:  −α (1 − p)^γ log p            other slots:  −(1 − α) p^γ log(1 − p)

summed over the slots and averaged over the key instances. With ``γ = 0, α = 1`` this is exactly the softmax
cross-entropy ``−log p_i(target)`` (the ``use_focal=False`` mode, kept for the focal-vs-CE ablation).

Default ``α = 0.25, γ = 2``: the values the same model uses for its classification focal loss; the report gives no
numbers and calls its loss a focal loss "as in" detection, so we start from the standard pair. Note that with the
softmax the target and non-target slots are coupled, so the non-target terms only sharpen the push-away; α = 0.25
down-weights the target slot, which the ablation against CE (α = 1, γ = 0) should settle.

``log(1 − p_n)`` is computed as ``logsumexp_{j≠n} l_j − logsumexp_j l_j`` (stable for p → 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def track_logits(key_embeds: Tensor, ref_embeds: Tensor) -> Tensor:
    """``Tensor[M, D] × Tensor[G, D] → Tensor[M, 1 + G]``: a zero "new object" column, then dot products."""
    sim = key_embeds @ ref_embeds.t()
    return torch.cat([sim.new_zeros((sim.shape[0], 1)), sim], dim=1)


def track_targets(key_ids: Tensor, ref_ids: Tensor) -> Tensor:
    """Target slot of each key instance: ``1 + position`` of its id among ``ref_ids``, or 0 if absent.

    Args:
        key_ids: ``Tensor[M]`` int64 instance ids of the key-frame instances.
        ref_ids: ``Tensor[G]`` int64 instance ids of the reference-frame instances (unique).

    Returns:
        ``Tensor[M]`` int64 in ``[0, G]``.
    """
    if ref_ids.numel() == 0:
        return torch.zeros_like(key_ids)
    eq = key_ids[:, None] == ref_ids[None, :]
    return torch.where(eq.any(1), eq.float().argmax(1) + 1, torch.zeros_like(key_ids))


class ContrastiveTrackLoss(nn.Module):
    """Softmax-over-reference-instances tracking loss with a "new identity" slot.

    Args:
        alpha: α of the focal weighting (target slot α, other slots 1 − α).
        gamma: γ of the focal modulation.
        use_focal: False → plain cross-entropy on the target slot (α, γ ignored).
        loss_weight: weight of the tracking term in the total loss (applied by ``QueryTrack.loss``; ``forward``
            returns the unweighted loss).
    """

    def __init__(
        self, alpha: float = 0.25, gamma: float = 2.0, use_focal: bool = True, loss_weight: float = 1.0
    ) -> None:
        super().__init__()
        self.alpha = alpha
        self.gamma = gamma
        self.use_focal = use_focal
        self.loss_weight = loss_weight

    def pair_loss(self, logits: Tensor, target: Tensor) -> Tensor:
        """Summed (unnormalised, unweighted) loss of the key instances of one image.

        Args:
            logits: ``Tensor[M, 1 + G]`` from ``track_logits``.
            target: ``Tensor[M]`` slots from ``track_targets``.

        Returns:
            Scalar tensor: Σ_i Σ_n of the per-slot terms (focal) or Σ_i −log p_i(target) (CE).
        """
        logits = logits.float()
        if not self.use_focal:
            return F.cross_entropy(logits, target, reduction="sum")
        lse = logits.logsumexp(dim=1, keepdim=True)
        log_p = logits - lse
        p = log_p.exp()
        s = logits.shape[1]
        eye = torch.eye(s, dtype=torch.bool, device=logits.device)
        loo = logits[:, None, :].expand(-1, s, -1).masked_fill(eye, float("-inf")).logsumexp(dim=2)
        log_1mp = (loo - lse).clamp(min=-100.0)  # -inf only when the slot is the only one (p = 1)
        is_t = F.one_hot(target, s).bool()
        pos = -self.alpha * (1 - p).pow(self.gamma) * log_p
        neg = -(1 - self.alpha) * p.pow(self.gamma) * log_1mp
        return torch.where(is_t, pos, neg).sum()

    def forward(
        self,
        key_embeds: Tensor,
        key_ids: Tensor,
        key_batch: Tensor,
        ref_embeds: Tensor,
        ref_ids: Tensor,
        ref_batch: Tensor,
        num_images: int,
        normalizer: float | None = None,
    ) -> Tensor:
        """Tracking loss of a batch of pairs.

        Args:
            key_embeds: ``Tensor[M, D]`` embeddings of the matched key-frame queries (with gradient).
            key_ids: ``Tensor[M]`` int64 instance id of each one's ground truth.
            key_batch: ``Tensor[M]`` int64 pair index.
            ref_embeds: ``Tensor[G, D]`` reference-frame embeddings (no gradient needed).
            ref_ids: ``Tensor[G]`` int64 instance ids.
            ref_batch: ``Tensor[G]`` int64 pair index.
            num_images: number of pairs in the batch.
            normalizer: divisor (default: ``max(M, 1)``; pass the all-reduced count under DDP).

        Returns:
            Scalar unweighted loss. With ``M == 0`` it is ``0 · key_embeds.sum()`` so the graph
            still reaches the track head.
        """
        total = key_embeds.sum() * 0.0
        for i in range(num_images):
            km = key_batch == i
            if not bool(km.any()):
                continue
            rm = ref_batch == i
            logits = track_logits(key_embeds[km], ref_embeds[rm].to(key_embeds.dtype))
            total = total + self.pair_loss(logits, track_targets(key_ids[km], ref_ids[rm]))
        denom = float(max(int(key_embeds.shape[0]), 1)) if normalizer is None else normalizer
        return total / denom
