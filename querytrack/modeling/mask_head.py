"""QueryInst's ``DynamicMaskHead``: dynamic conv on 14x14 mask RoIs, 4 convs, deconv, 28x28 class-specific logits.

Source: hustvl/QueryInst ``mmdet/models/roi_heads/mask_heads/dynamic_mask_head.py`` + ``fcn_mask_head.py``;
parameter names follow mmdet (``convs.{i}.conv`` / ``convs.{i}.bn``, ``upsample``, ``conv_logits``).
"""

from __future__ import annotations

from torch import Tensor, nn

from querytrack.modeling.dynamic_conv import DynamicConv


class ConvBNReLU(nn.Module):
    """3x3 conv (no bias) → BatchNorm → ReLU, named like mmcv ``ConvModule`` (``conv``, ``bn``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.activate = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        """``Tensor[M, Cin, H, W]`` → ``Tensor[M, Cout, H, W]``."""
        return self.activate(self.bn(self.conv(x)))


class DynamicMaskHead(nn.Module):
    """Mask branch of one stage.

    Args:
        num_classes: K (class-specific masks).
        hidden_dim: C (256).
        dynamic_dim: DynamicConv hidden width (64).
        roi_size: mask RoI side (14); output is ``2 · roi_size`` (28).
        num_convs: 3x3 conv-BN-ReLU blocks (4).
        conv_channels: their width (256).
    """

    def __init__(
        self,
        num_classes: int = 80,
        hidden_dim: int = 256,
        dynamic_dim: int = 64,
        roi_size: int = 14,
        num_convs: int = 4,
        conv_channels: int = 256,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.roi_size = roi_size
        self.instance_interactive_conv = DynamicConv(hidden_dim, dynamic_dim, hidden_dim, roi_size, False)
        chans = [hidden_dim] + [conv_channels] * num_convs
        self.convs = nn.ModuleList(ConvBNReLU(chans[i], chans[i + 1]) for i in range(num_convs))
        self.upsample = nn.ConvTranspose2d(chans[-1], conv_channels, kernel_size=2, stride=2)
        self.relu = nn.ReLU(inplace=True)
        self.conv_logits = nn.Conv2d(conv_channels, num_classes, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """QueryInst ``DynamicMaskHead.init_weights``: xavier-uniform for every >1-D parameter, logits bias 0."""
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        if self.conv_logits.bias is not None:
            nn.init.zeros_(self.conv_logits.bias)

    def forward(self, roi_feats: Tensor, query: Tensor) -> Tensor:
        """Args:
            roi_feats: ``Tensor[M, C, S, S]`` mask RoI features (S = 14).
            query: ``Tensor[M, C]`` q*_{t-1} of the same queries.

        Returns:
            ``Tensor[M, K, 2S, 2S]`` mask logits.
        """
        m, c, s, _ = roi_feats.shape
        x = self.instance_interactive_conv(query, roi_feats)  # [M, S², C]
        x = x.transpose(1, 2).reshape(m, c, s, s)
        for conv in self.convs:
            x = conv(x)
        x = self.relu(self.upsample(x))
        return self.conv_logits(x)
