"""FPN neck (torchvision.ops.FeaturePyramidNetwork) producing P2..P5 with 256 channels, as in QueryInst."""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork


class FPN(nn.Module):
    """Feature pyramid without extra levels (QueryInst: ``num_outs=4``, so outputs are exactly P2..P5).

    Lateral 1x1 convs and output 3x3 convs have biases and no norm/activation; the top-down path adds the
    nearest-neighbour resized coarser level (torchvision and mmdet FPN agree on this). Module names follow
    torchvision: ``fpn.inner_blocks.{i}.0`` = mmdet ``neck.lateral_convs.{i}.conv``, ``fpn.layer_blocks.{i}.0`` =
    mmdet ``neck.fpn_convs.{i}.conv``.

    Args:
        in_channels: channels of the backbone levels, finest first.
        out_channels: pyramid width (256).
    """

    def __init__(self, in_channels: list[int], out_channels: int = 256) -> None:
        super().__init__()
        self.fpn = FeaturePyramidNetwork(list(in_channels), out_channels)
        self.out_channels = out_channels
        # mmdet FPN init: Xavier-uniform convs, zero bias (mmdet/models/necks/fpn.py init_cfg).
        for m in self.fpn.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        """Args: feats: backbone levels ``Tensor[B, C_l, H_l, W_l]``, finest first.

        Returns:
            ``Tensor[B, 256, H_l, W_l]`` per level, finest (P2) first.
        """
        out = self.fpn(OrderedDict((str(i), f) for i, f in enumerate(feats)))
        return list(out.values())
