"""``torch.compile`` for the detector: its dense parts compiled in place, the data-dependent glue left eager.

What is compiled (``nn.Module.compile``: in place, so parameter names, ``state_dict`` keys and checkpoints stay
those of the eager model): the backbone, the FPN and every stage's box, mask and track heads. What stays eager:
the RoI pooling between them (one host sync per pooling, the number of RoIs per pyramid level), the Hungarian
matching of the losses (SciPy) and the post-processing. Training and inference (validation, ``querytrack-eval``)
run the same compiled modules; inductor is the backend. Graph breaks and measured speed: ``docs/benchmarks.md``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from querytrack.modeling.detector import QueryInstDetector


def compiled_parts(detector: QueryInstDetector) -> list[nn.Module]:
    """The submodules ``compile_detector`` compiles: backbone, neck and each stage's heads (in that order)."""
    parts: list[nn.Module] = [detector.backbone, detector.neck]
    for t in range(detector.num_stages):
        stage = detector.stage(t)
        parts += [m for m in (stage.bbox_head, stage.mask_head, stage.track_head) if m is not None]
    return parts


def compile_detector(detector: QueryInstDetector, **compile_kwargs: Any) -> QueryInstDetector:
    """Compile ``detector``'s dense parts in place (:func:`compiled_parts`) and return it.

    Args:
        detector: a ``QueryInstDetector``.
        **compile_kwargs: forwarded to ``torch.compile`` (e.g. ``mode``, ``dynamic``); backend: inductor.
    """
    for part in compiled_parts(detector):
        part.compile(**compile_kwargs)
    detector.compiled = True  # type: ignore[assignment]  # our own mark (nn.Module keeps its compiled call in a private attribute)
    return detector


def is_compiled(detector: QueryInstDetector) -> bool:
    """Whether :func:`compile_detector` has compiled ``detector`` (its backbone has a compiled call)."""
    return bool(getattr(detector, "compiled", False))
