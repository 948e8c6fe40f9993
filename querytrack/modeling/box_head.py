"""QueryInst's box head ``DIIHead``: query self-attention, dynamic conv, FFN, classification and regression.

Source: hustvl/QueryInst ``mmdet/models/roi_heads/bbox_heads/dii_head.py`` (forward order, init); parameter names
follow mmdet so that ``roi_head.bbox_head.{t}.*`` maps by a prefix rename.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from querytrack.modeling.dynamic_conv import DynamicConv


class QueryAttention(nn.Module):
    """Multi-head self-attention over the queries of each image with the residual inside (mmcv style).

    Args:
        dim: query width.
        num_heads: attention heads (8).
        dropout: attention-output dropout (0).
    """

    def __init__(self, dim: int = 256, num_heads: int = 8, dropout: float = 0.0) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=dropout, batch_first=True)
        self.proj_drop = nn.Dropout(dropout)

    def forward(self, q: Tensor) -> Tensor:
        """``Tensor[B, N, C]`` → ``q + Dropout(MHA(q, q, q))``, same shape."""
        out = self.attn(q, q, q, need_weights=False)[0]
        return q + self.proj_drop(out)


class FFN(nn.Module):
    """Two-layer feed-forward block with residual (mmcv ``FFN`` layout: ``layers.0.0``, ``layers.1``).

    Args:
        dim: input/output width (256).
        hidden_dim: hidden width (2048).
        dropout: dropout after each layer (0).
    """

    def __init__(self, dim: int = 256, hidden_dim: int = 2048, dropout: float = 0.0) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Sequential(nn.Linear(dim, hidden_dim), nn.ReLU(inplace=True), nn.Dropout(dropout)),
            nn.Linear(hidden_dim, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        """``Tensor[..., C]`` → ``x + layers(x)``."""
        return x + self.layers(x)


def _fc_stack(dim: int, num_fcs: int) -> nn.Sequential:
    """``num_fcs`` × [Linear(no bias) → LayerNorm → ReLU] (mmdet indices 0,1,2 / 3,4,5 / ...)."""
    layers: list[nn.Module] = []
    for _ in range(num_fcs):
        layers += [nn.Linear(dim, dim, bias=False), nn.LayerNorm(dim), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class DIIHead(nn.Module):
    """Dynamic Instance Interactive head of one stage.

    Args:
        num_classes: K (sigmoid classification, no background logit).
        hidden_dim: C (256).
        num_heads: self-attention heads (8).
        ffn_dim: FFN hidden width (2048).
        dynamic_dim: DynamicConv hidden width (64).
        roi_size: box RoI side (7).
        num_cls_fcs: classification tower depth (1).
        num_reg_fcs: regression tower depth (3).
        dropout: dropout in attention / FFN (0).
        prior_prob: initial foreground probability of ``fc_cls`` (0.01).
    """

    def __init__(
        self,
        num_classes: int = 80,
        hidden_dim: int = 256,
        num_heads: int = 8,
        ffn_dim: int = 2048,
        dynamic_dim: int = 64,
        roi_size: int = 7,
        num_cls_fcs: int = 1,
        num_reg_fcs: int = 3,
        dropout: float = 0.0,
        prior_prob: float = 0.01,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.prior_prob = prior_prob
        self.attention = QueryAttention(hidden_dim, num_heads, dropout)
        self.attention_norm = nn.LayerNorm(hidden_dim)
        self.instance_interactive_conv = DynamicConv(hidden_dim, dynamic_dim, hidden_dim, roi_size, True)
        self.instance_interactive_conv_dropout = nn.Dropout(dropout)
        self.instance_interactive_conv_norm = nn.LayerNorm(hidden_dim)
        self.ffn = FFN(hidden_dim, ffn_dim, dropout)
        self.ffn_norm = nn.LayerNorm(hidden_dim)
        self.cls_fcs = _fc_stack(hidden_dim, num_cls_fcs)
        self.fc_cls = nn.Linear(hidden_dim, num_classes)
        self.reg_fcs = _fc_stack(hidden_dim, num_reg_fcs)
        self.fc_reg = nn.Linear(hidden_dim, 4)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """QueryInst ``DIIHead.init_weights``: xavier-uniform for every >1-D parameter, ``fc_reg`` bias 0,
        ``fc_cls`` bias ``-log((1 - p) / p)``."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        nn.init.zeros_(self.fc_reg.bias)
        nn.init.constant_(self.fc_cls.bias, -math.log((1 - self.prior_prob) / self.prior_prob))

    def forward(self, roi_feats: Tensor, query: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Run one stage of the box branch.

        Args:
            roi_feats: ``Tensor[B·N, C, S, S]`` box RoI features, image-major.
            query: ``Tensor[B, N, C]`` queries q_{t-1}.

        Returns:
            cls_logits: ``Tensor[B, N, K]``.
            deltas: ``Tensor[B, N, 4]`` DeltaXYWH regression.
            query_out: ``Tensor[B, N, C]`` q_t (input of the next stage).
            attn_feats: ``Tensor[B, N, C]`` q*_{t-1} = LN(q + MHA(q)), the query used by the mask/track heads.
        """
        b, n, c = query.shape
        attn_feats = self.attention_norm(self.attention(query))
        q = attn_feats.reshape(b * n, c)
        x = self.instance_interactive_conv(q, roi_feats)
        q = self.instance_interactive_conv_norm(q + self.instance_interactive_conv_dropout(x))
        q = self.ffn_norm(self.ffn(q))
        cls_logits = self.fc_cls(self.cls_fcs(q)).view(b, n, -1)
        deltas = self.fc_reg(self.reg_fcs(q)).view(b, n, 4)
        return cls_logits, deltas, q.view(b, n, c), attn_feats
