"""Swin window attention with the padding order of the original Swin and mmdetection: pad, then shift.

timm's ``SwinTransformerBlock._attn`` rolls the feature map and then pads it to a multiple of the window, while the
original detection Swin (hustvl/QueryInst ``mmdet/models/backbones/swin_transformer.py``,
``SwinTransformerBlock.forward``) and mmdetection (open-mmlab/mmdetection ``mmdet/models/backbones/swin.py``,
``ShiftWindowMSA.forward``) pad first and roll the padded map, with the shift mask computed on the padded size.
The two agree when every stage's map is a multiple of the window (7): an image multiple of 224; on any other size
the windows near the bottom and right borders hold different tokens. COCO QueryInst Swin checkpoints were trained
with pad-then-roll, so our Swin blocks use it (:class:`PadFirstSwinBlock`); the parameters are unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.models.swin_transformer import SwinTransformerBlock, window_partition, window_reverse
from torch import Tensor, nn


class PadFirstSwinBlock(SwinTransformerBlock):
    """A timm ``SwinTransformerBlock`` whose (shifted) window attention pads before it rolls."""

    def _attn(self, x: Tensor) -> Tensor:
        """Window attention of ``x`` (``Tensor[B, H, W, C]``, NHWC) → ``Tensor[B, H, W, C]``."""
        _, H, W, C = x.shape
        wh, ww = self.window_size
        x = F.pad(x, (0, 0, 0, (ww - W % ww) % ww, 0, (wh - H % wh) % wh))
        Hp, Wp = x.shape[1], x.shape[2]
        has_shift = any(self.shift_size)
        if has_shift:
            x = torch.roll(x, shifts=(-self.shift_size[0], -self.shift_size[1]), dims=(1, 2))
        mask = self.get_attn_mask(x) if has_shift else None  # on the padded size, as mmdet
        windows = window_partition(x, self.window_size).view(-1, self.window_area, C)
        out = self.attn(windows, mask=mask).view(-1, wh, ww, C)
        x = window_reverse(out, self.window_size, Hp, Wp)
        if has_shift:
            x = torch.roll(x, shifts=self.shift_size, dims=(1, 2))
        return x[:, :H, :W, :].contiguous()


def use_pad_first_attention(model: nn.Module) -> int:
    """Switch every timm Swin block of ``model`` to :class:`PadFirstSwinBlock` in place; return how many."""
    n = 0
    for m in model.modules():
        if type(m) is SwinTransformerBlock:
            m.__class__ = PadFirstSwinBlock
            n += 1
    return n
