"""QueryTrack's contrastive tracking head (one per stage).

What is public: it consumes q*_{t-1} through a DynamicConv "of the same kind as the mask head's" (hustvl/QueryInst#26)
on a 7x7 RoI (14 gave no improvement, same issue). Our choice for the open points (docs/method.md §5.1):
DynamicConv with projection (flatten 7·7·256 → 256, as the box head's), one ``Linear(no bias) → LN → ReLU`` block
and a linear embedding ``fc_embed`` to ``embed_dim`` (256). ``fc_embed`` starts at N(0, 0.01), zero bias
(MaskTrack R-CNN's track-FC init) so that all similarities start near 0 and the first softmax over reference
instances is near uniform.
"""

from __future__ import annotations

from torch import Tensor, nn

from querytrack.modeling.dynamic_conv import DynamicConv


class DynamicTrackHead(nn.Module):
    """Track branch of one stage: ``(RoI 7x7, q*) → e ∈ R^D``.

    Args:
        hidden_dim: C (256).
        dynamic_dim: DynamicConv hidden width (64).
        roi_size: track RoI side (7).
        num_fcs: ``Linear → LN → ReLU`` blocks after the dynamic conv (1).
        embed_dim: D, embedding size (256).
    """

    def __init__(
        self,
        hidden_dim: int = 256,
        dynamic_dim: int = 64,
        roi_size: int = 7,
        num_fcs: int = 1,
        embed_dim: int = 256,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.instance_interactive_conv = DynamicConv(hidden_dim, dynamic_dim, hidden_dim, roi_size, True)
        layers: list[nn.Module] = []
        for _ in range(num_fcs):
            layers += [
                nn.Linear(hidden_dim, hidden_dim, bias=False),
                nn.LayerNorm(hidden_dim),
                nn.ReLU(inplace=True),
            ]
        self.track_fcs = nn.Sequential(*layers)
        self.fc_embed = nn.Linear(hidden_dim, embed_dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """xavier-uniform for >1-D parameters (as the other heads), then ``fc_embed`` N(0, 0.01), bias 0."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        nn.init.normal_(self.fc_embed.weight, std=0.01)
        nn.init.zeros_(self.fc_embed.bias)

    def forward(self, roi_feats: Tensor, query: Tensor) -> Tensor:
        """Args:
            roi_feats: ``Tensor[M, C, 7, 7]`` track RoI features.
            query: ``Tensor[M, C]`` q*_{t-1} of the same queries.

        Returns:
            ``Tensor[M, D]`` embeddings (not normalised: the loss and the tracker use raw dot products).
        """
        x = self.instance_interactive_conv(query, roi_feats)
        return self.fc_embed(self.track_fcs(x))
