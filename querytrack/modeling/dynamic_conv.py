"""Dynamic instance-interactive convolution (Sparse R-CNN / QueryInst ``DynamicConv``).

Sources: PeizeSun/SparseR-CNN ``projects/SparseRCNN/sparsercnn/head.py`` (class DynamicConv) and hustvl/QueryInst
``mmdet/models/utils/transformer.py`` (class DynamicConv); parameter names follow the latter.
"""

from __future__ import annotations

from torch import Tensor, nn


class DynamicConv(nn.Module):
    """Two query-generated 1x1 convolutions applied to each query's own RoI feature.

    One linear layer (``dynamic_layer``) maps the query to the weights of both convolutions
    ``W1 [C, F]`` and ``W2 [F, C']``; the RoI feature passes ``bmm(W1) → LN → ReLU → bmm(W2) → LN → ReLU``.
    With ``with_proj`` the result is flattened spatial-major / channel-minor and projected to ``C'``.

    Args:
        in_channels: C, query and RoI feature width (256).
        feat_channels: F, hidden width of the dynamic convolutions (64).
        out_channels: C' (256).
        input_feat_shape: RoI side S (7 box/track, 14 mask).
        with_proj: flatten + ``fc_layer`` + ``fc_norm`` + ReLU to a vector.
    """

    def __init__(
        self,
        in_channels: int = 256,
        feat_channels: int = 64,
        out_channels: int = 256,
        input_feat_shape: int = 7,
        with_proj: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.feat_channels = feat_channels
        self.out_channels = out_channels
        self.input_feat_shape = input_feat_shape
        self.with_proj = with_proj
        self.num_params_in = in_channels * feat_channels
        self.num_params_out = feat_channels * out_channels
        self.dynamic_layer = nn.Linear(in_channels, self.num_params_in + self.num_params_out)
        self.norm_in = nn.LayerNorm(feat_channels)
        self.norm_out = nn.LayerNorm(out_channels)
        self.activation = nn.ReLU(inplace=True)
        if with_proj:
            self.fc_layer = nn.Linear(out_channels * input_feat_shape**2, out_channels)
            self.fc_norm = nn.LayerNorm(out_channels)

    def forward(self, query: Tensor, roi_feats: Tensor) -> Tensor:
        """Args:
            query: ``Tensor[M, C]`` one query per RoI.
            roi_feats: ``Tensor[M, C, S, S]``.

        Returns:
            ``Tensor[M, C']`` with ``with_proj``, else ``Tensor[M, S·S, C']`` (spatial row-major).
        """
        m = query.shape[0]
        x = roi_feats.flatten(2).transpose(1, 2)  # [M, S², C]
        params = self.dynamic_layer(query)
        w_in = params[:, : self.num_params_in].view(m, self.in_channels, self.feat_channels)
        w_out = params[:, self.num_params_in :].view(m, self.feat_channels, self.out_channels)
        x = self.activation(self.norm_in(x.bmm(w_in)))
        x = self.activation(self.norm_out(x.bmm(w_out)))
        if not self.with_proj:
            return x
        x = self.fc_layer(x.flatten(1))
        return self.activation(self.fc_norm(x))
