"""The exported detector (``querytrack-export``) under ONNX Runtime, as the streaming tracker's frame model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor

from querytrack.inference.load import CheckpointError, InferenceBundle
from querytrack.inference.stream import inference_resize
from querytrack.inference.tracker import Tracker

#: The exported graph's interface (``querytrack-export`` writes it, this module reads it).
INPUT_NAMES = ("images", "image_sizes")
OUTPUT_NAMES = ("cls_logits", "boxes", "mask_indices", "mask_logits", "track_embeddings")
METADATA_KEY = "querytrack"  # the model metadata entry holding class names, tracker and test size
#: Metadata entry saying which queries ``track_embeddings`` holds: ``EMBEDDINGS_OF_TOPK`` (``[1, k, D]``, the
#: ``mask_indices`` queries); graphs exported before it was written hold every query (``[1, N, D]``).
EMBEDDINGS_KEY = "track_embeddings_of"
EMBEDDINGS_OF_TOPK = "mask_indices"


class OnnxDetector:
    """Call an exported detector like the PyTorch one: ``(images uint8 [1,3,Hp,Wp], image_sizes [1,2])`` → an
    object with the :class:`~querytrack.modeling.outputs.DetectorOutput` fields (CPU tensors).

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads of ONNX Runtime (``None``: its default).
    """

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise ValueError(f"{path}: not a readable ONNX model ({str(e).splitlines()[0]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in meta:
            raise ValueError(f"{path}: not exported by querytrack-export (no '{METADATA_KEY}' metadata)")
        self.meta: dict[str, Any] = json.loads(meta[METADATA_KEY])

    def __call__(self, images: Tensor, image_sizes: Tensor) -> SimpleNamespace:
        outs = self.session.run(
            list(OUTPUT_NAMES), {"images": images.cpu().numpy(), "image_sizes": image_sizes.cpu().numpy()}
        )
        fields = dict(zip(OUTPUT_NAMES, (torch.from_numpy(o) for o in outs), strict=True))
        if self.meta.get(EMBEDDINGS_KEY) != EMBEDDINGS_OF_TOPK:  # an older graph: embeddings of all N queries
            fields["track_embeddings"] = _rows_of(fields["track_embeddings"], fields["mask_indices"])
        return SimpleNamespace(**fields, image_sizes=image_sizes)


def _rows_of(embeddings: Tensor, indices: Tensor) -> Tensor:
    """``Tensor[B, N, D]`` per-query embeddings, ``Tensor[B, k]`` int64 queries → ``Tensor[B, k, D]`` theirs."""
    return embeddings.gather(1, indices[:, :, None].expand(-1, -1, embeddings.shape[2]))


def load_onnx_for_inference(path: str | os.PathLike[str], threads: int | None = None) -> InferenceBundle:
    """An :class:`~querytrack.inference.load.InferenceBundle` whose ``model`` is the ONNX detector (CPU).

    Raises:
        CheckpointError: the file is missing, not an ONNX model, or not one written by ``querytrack-export``.
    """
    if not Path(path).is_file():
        raise CheckpointError(path, "ONNX model not found" if not Path(path).exists() else "not a file")
    try:
        det = OnnxDetector(path, threads)
        m = det.meta
        tracker_kwargs = {k: v for k, v in (m.get("tracker") or {}).items() if k != "_target_"}
        names, ids = list(m["class_names"]), list(m["category_ids"])
        resize = inference_resize(m["test_short_size"], m["test_max_size"])
    except CheckpointError:
        raise
    except Exception as e:  # onnxruntime raises its own types for truncated / foreign files
        raise CheckpointError(
            path, f"not an ONNX model written by querytrack-export ({type(e).__name__})"
        ) from None
    return InferenceBundle(
        model=det,  # type: ignore[arg-type]
        class_names=names,
        category_ids=ids,
        tracker=Tracker(**tracker_kwargs),
        resize=resize,
        top_k=int(m.get("top_k") or 10),
    )
