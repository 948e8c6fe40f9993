"""``nn.Linear`` whose CPU inference multiplies by a weight oneDNN packed once, instead of MKL on the plain one.

The heads' largest layers are linear: each stage's DynamicConv ``dynamic_layer`` (256 → 32768, the weights of
both dynamic convolutions), its ``fc_layer`` (12544 → 256) and the FFN (256 → 2048 → 256). On the CPU, MKL's
``sgemm`` runs the parameter layer's shape (M = 100 or 10 queries, K = 256, N = 32768) at about half its
square-matrix rate (its packed-weight GEMM too: 16.1 ms against 17.5). oneDNN with a weight reordered once into
its blocked layout (the ``mkldnn._reorder_linear_weight`` / ``mkldnn._linear_pointwise`` ops PyTorch's own
inductor uses for CPU inference) runs it at full rate. Measured on 2 threads of an AVX-512 CPU:

=========================  ==========  ==========
shape (M × K → N)          plain, ms   packed, ms
=========================  ==========  ==========
100 × 256 → 32768          17.5        8.5
10 × 256 → 32768           6.3         1.4
100 × 12544 → 256          3.8         2.9
100 × 256 → 2048           0.62        0.48
100 × 256 → 40             0.018       0.029
=========================  ==========  ==========

Small layers gain nothing (or lose), hence :data:`MIN_PACKED_WEIGHTS`. The packed product differs from the
plain one by float rounding only (≤ 5e-6 absolute on unit-scale inputs).

The packed path is taken only where nothing can tell it apart from a plain layer: eval mode, gradients off
(``torch.inference_mode`` / ``no_grad``), float32 on the CPU, not while exporting or compiling. Training, GPUs,
autocast and exports run ``nn.Linear`` unchanged. The packed copy is a cache, not state: it is not in the
``state_dict``, it is rebuilt when the weight may have changed (``load_state_dict``, an optimizer step, ``.to()``,
a mode switch: ``modeling/inference_cache.py``), and copies and pickles of the module leave it behind. In
inference it costs one more copy of each packed weight in memory: 366 MiB for R50 (the parameter and projection
layers and FFNs of six box stages, of the last mask and track heads; peak RSS of a 360p frame 1.86 → 2.20 GiB).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from querytrack.modeling.inference_cache import InferenceCache, weights_key

MIN_PACKED_WEIGHTS = 1 << 17
"""Layers with fewer weights (``in · out``) than this always run ``nn.Linear``: 256 → 256 is as fast either
way and 256 → 40 is slower packed (table above)."""


def packing_available() -> bool:
    """Whether this PyTorch build has oneDNN and the packed-linear ops."""
    return (
        torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


class PackedLinear(InferenceCache, nn.Linear):
    """A drop-in ``nn.Linear`` (same parameters, same ``state_dict``) with a packed-weight CPU inference path.

    Args:
        in_features / out_features / bias: as ``nn.Linear``.
        prepack: allow the packed path (see the module docstring); layers under :data:`MIN_PACKED_WEIGHTS`
            weights never take it. ``QueryInstDetector(cpu_packed_linear=...)`` sets it for a whole model.
    """

    _caches = ("_packed",)

    def __init__(self, in_features: int, out_features: int, bias: bool = True, prepack: bool = True) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.prepack = prepack
        self._packed: tuple[tuple[object, ...], Tensor] | None = None

    @property
    def packs(self) -> bool:
        """Whether this layer is big enough for, and allowed, the packed path."""
        return self.prepack and self.in_features * self.out_features >= MIN_PACKED_WEIGHTS

    def _use_packed(self, x: Tensor) -> bool:
        return (
            self.packs
            and self.caching()
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and self.weight.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
            and packing_available()
        )

    def packed_weight(self, rows_hint: int) -> Tensor:
        """The weight in oneDNN's blocked layout, packed on first use and again whenever the weight may have changed
        (``inference_cache.weights_key``).

        Args:
            rows_hint: the number of input rows the packing is tuned for (any count works with it).
        """
        key = weights_key([self.weight])
        if self._packed is None or self._packed[0] != key:
            self._packed = (key, torch.ops.mkldnn._reorder_linear_weight(self.weight.detach(), rows_hint))
        return self._packed[1]

    def forward(self, x: Tensor) -> Tensor:
        """``Tensor[..., in_features]`` → ``Tensor[..., out_features]``."""
        if not self._use_packed(x):
            return F.linear(x, self.weight, self.bias)
        rows = x.reshape(-1, self.in_features)
        bias = None if self.bias is None else self.bias.detach()
        out = torch.ops.mkldnn._linear_pointwise(
            rows, self.packed_weight(rows.shape[0]), bias, "none", [], ""
        )
        return out.view(*x.shape[:-1], self.out_features)
