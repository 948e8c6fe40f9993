"""``querytrack-export CKPT --out model.onnx``: the per-frame detector as an ONNX graph with a dynamic image size.

The graph is the detector of a training checkpoint (``python -m querytrack.run``): backbone → FPN → the dynamic
stages → last-stage outputs, for one zero-padded frame:

======================  ==========================  =====================================================
input / output          shape                       meaning
======================  ==========================  =====================================================
``images``              ``uint8[1, 3, 32·h, 32·w]``  RGB, the resized frame zero-padded to a multiple of 32
``image_sizes``         ``int64[1, 2]``             ``(h, w)`` of the valid content
``cls_logits``          ``float[1, N, K]``          class logits of the N queries (sigmoid → scores)
``boxes``               ``float[1, N, 4]``          absolute xyxy in the resized frame
``mask_indices``        ``int64[1, k]``             the top-k queries whose masks were computed
``mask_logits``         ``float[1, k, K, 28, 28]``  their class-specific mask logits
``track_embeddings``    ``float[1, k, D]``          track embeddings of the ``mask_indices`` queries
======================  ==========================  =====================================================

These are the fields of :class:`~querytrack.modeling.outputs.DetectorOutput`, so the Python tracker runs on them
unchanged (:class:`~querytrack.inference.onnx_model.OnnxDetector`, ``querytrack-demo --onnx``). What the tracker
needs besides (class names and ids, tracker arguments, test-time resize, top-k) is stored in the model's metadata
(``querytrack`` key, JSON). The multi-level RoIAlign exports as RoIAlign on every level with a per-roi select (no
data-dependent shapes; the same values). Needs the ``onnx`` extra (onnx, onnxscript; onnxruntime to run it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from querytrack.inference.onnx_model import (
    EMBEDDINGS_KEY,
    EMBEDDINGS_OF_TOPK,
    INPUT_NAMES,
    METADATA_KEY,
    OUTPUT_NAMES,
)


class _FrameGraph(nn.Module):
    """The detector with plain tensor outputs (``OUTPUT_NAMES``)."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: Tensor, image_sizes: Tensor) -> tuple[Tensor, ...]:
        out = self.detector(images, image_sizes)
        return out.cls_logits, out.boxes, out.mask_indices, out.mask_logits, out.track_embeddings


def _spec_of(ckpt: str | os.PathLike[str]) -> dict[str, Any]:
    obj = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    spec = obj.get("querytrack") if isinstance(obj, dict) else None
    if not isinstance(spec, dict):
        raise ValueError(f"{ckpt}: not a querytrack training checkpoint (no 'querytrack' entry)")
    return spec


def export_onnx(
    ckpt: str | os.PathLike[str],
    out: str | os.PathLike[str],
    example_size: tuple[int, int] = (128, 192),
    opset: int = 18,
) -> Path:
    """Export the detector of ``ckpt`` to ``out`` (written atomically: a temporary file renamed into place).

    Args:
        ckpt: a checkpoint written by ``python -m querytrack.run`` (its ``querytrack`` entry rebuilds the model).
        out: the ``.onnx`` file; must differ from ``ckpt``.
        example_size: ``(H, W)`` of the example frame traced (multiples of 32); any multiple of 32 runs.
        opset: ONNX opset (RoIAlign with half-pixel alignment needs >= 16).

    Raises:
        ValueError: ``out`` is ``ckpt``, the checkpoint is not ours, the model has no track heads, or the
            example size is not a multiple of 32.
    """
    from querytrack.inference.load import load_for_inference

    ckpt, out = Path(ckpt), Path(out)
    if out.resolve() == ckpt.resolve():
        raise ValueError(f"{out}: the output would overwrite the input checkpoint")
    if example_size[0] % 32 or example_size[1] % 32:
        raise ValueError(f"example_size {example_size} is not a multiple of 32")
    spec = _spec_of(ckpt)
    bundle = load_for_inference(ckpt)
    detector = getattr(bundle.model, "detector", bundle.model)
    if not getattr(detector, "with_track_head", False):
        raise ValueError(
            f"{ckpt}: the model has no track heads; the exported graph must give track embeddings"
        )
    graph = _FrameGraph(detector).eval()
    h, w = example_size
    images = torch.zeros((1, 3, h, w), dtype=torch.uint8)
    sizes = torch.tensor([[h, w]], dtype=torch.int64)
    dim_h, dim_w = torch.export.Dim("h32", min=1, max=256), torch.export.Dim("w32", min=1, max=256)
    meta: dict[str, Any] = {
        k: spec.get(k)
        for k in ("class_names", "category_ids", "tracker", "test_short_size", "test_max_size", "top_k")
    }
    meta[EMBEDDINGS_KEY] = EMBEDDINGS_OF_TOPK
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".onnx", prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                graph,
                (images, sizes),
                dynamo=True,
                dynamic_shapes={"images": {2: 32 * dim_h, 3: 32 * dim_w}, "image_sizes": None},
                input_names=list(INPUT_NAMES),
                output_names=list(OUTPUT_NAMES),
                opset_version=opset,
                verbose=False,
            )
        assert program is not None
        program.model.metadata_props[METADATA_KEY] = json.dumps(meta)
        program.save(tmp)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="querytrack-export", description=__doc__.split("\n\n")[0])
    p.add_argument("ckpt", help="checkpoint written by python -m querytrack.run")
    p.add_argument("--out", required=True, help="output .onnx file")
    p.add_argument("--example-size", type=int, nargs=2, default=(128, 192), metavar=("H", "W"))
    p.add_argument("--opset", type=int, default=18)
    args = p.parse_args(argv)
    try:
        path = export_onnx(args.ckpt, args.out, tuple(args.example_size), args.opset)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"querytrack-export: {e}", file=sys.stderr)
        return 1
    print(
        f"exported {args.ckpt} -> {path} (inputs {', '.join(INPUT_NAMES)}; outputs {', '.join(OUTPUT_NAMES)})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
