"""Simple feature pyramid (ViTDet): strides 4, 8, 16, 32 from a plain ViT's single stride-16 map.

Li et al., "Exploring Plain Vision Transformer Backbones for Object Detection" (ECCV 2022); the structure follows
detectron2 ``modeling/backbone/vit.py`` ``SimpleFeaturePyramid`` (no code copied): from the last map alone,
stride 4 by two 2x2 transposed convolutions (LayerNorm + GELU between), stride 8 by one, stride 16 as it is,
stride 32 by 2x2 max pooling; then each level gets a 1x1 and a 3x3 convolution to the pyramid width, each
followed by a channel LayerNorm. There is no top-down path. The output replaces the FPN's: the same four levels
and the same width, so the dynamic stages are unchanged.
"""

from __future__ import annotations

from timm.layers import LayerNorm2d
from torch import Tensor, nn

#: Output strides, finest first, relative to the backbone's stride-16 input map.
PYRAMID_STRIDES: tuple[int, ...] = (4, 8, 16, 32)


def _level(in_channels: int, scale: float) -> tuple[nn.Sequential, int]:
    """The resampling of one level (input stride 16 → ``16 / scale``) and its output channels."""
    c = in_channels
    if scale == 4.0:
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(c, c // 2, 2, stride=2),
            LayerNorm2d(c // 2),
            nn.GELU(),
            nn.ConvTranspose2d(c // 2, c // 4, 2, stride=2),
        ]
        return nn.Sequential(*layers), c // 4
    if scale == 2.0:
        return nn.Sequential(nn.ConvTranspose2d(c, c // 2, 2, stride=2)), c // 2
    if scale == 1.0:
        return nn.Sequential(), c
    if scale == 0.5:
        return nn.Sequential(nn.MaxPool2d(2, stride=2)), c
    raise ValueError(f"unsupported pyramid scale {scale}")


class SimpleFeaturePyramid(nn.Module):
    """Four levels of ``out_channels`` at strides 4, 8, 16, 32 from one stride-16 map.

    Args:
        in_channels: channels of the backbone map (the ViT's width).
        out_channels: pyramid width (256, as the FPN).
    """

    def __init__(self, in_channels: int, out_channels: int = 256) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.strides = PYRAMID_STRIDES
        self.resample = nn.ModuleList()
        self.output = nn.ModuleList()
        for stride in PYRAMID_STRIDES:
            resample, c = _level(in_channels, 16 / stride)
            self.resample.append(resample)
            self.output.append(
                nn.Sequential(
                    nn.Conv2d(c, out_channels, 1, bias=False),
                    LayerNorm2d(out_channels),
                    nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
                    LayerNorm2d(out_channels),
                )
            )

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        """Args: feats: ``[Tensor[B, C, H / 16, W / 16]]`` (the backbone's one level).

        Returns:
            ``Tensor[B, out_channels, H / s, W / s]`` for s = 4, 8, 16, 32, finest first.
        """
        (x,) = feats
        return [out(res(x)) for res, out in zip(self.resample, self.output, strict=True)]
