"""Per-part wall time of one pass through the model, from forward hooks and wrapped calls (benchmarks only).

A :class:`PartTimer` times named regions that nest (a stage's box head contains its attention, dynamic conv and
FFN); each region's *own* time excludes the regions inside it, so the own times of all regions plus the
untimed remainder add up to the whole. Regions are keyed by ``(part, stage)``: :func:`hook_detector` names the
parts of every stage the same way, so :func:`format_table` prints one row per part and one column per stage.

On CPU every op is synchronous, so wall time around a module's forward is its cost. In a training step the
reference frame's pass runs under ``torch.no_grad``: with ``split_no_grad`` its module regions get the
``ref:`` prefix, so the reference branch is a row group of its own.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

Key = tuple[str, int | None]


class PartTimer:
    """Own (exclusive) and total (inclusive) seconds per ``(part, stage)`` region, summed over passes."""

    def __init__(self, split_no_grad: bool = False) -> None:
        self.split_no_grad = split_no_grad
        self.total: dict[Key, float] = defaultdict(float)
        self.inner: dict[Key, float] = defaultdict(float)
        self._stack: list[tuple[Key, float]] = []
        self._handles: list[Any] = []

    def _enter(self, key: Key) -> None:
        self._stack.append((key, time.perf_counter()))

    def _exit(self) -> None:
        key, t0 = self._stack.pop()
        dt = time.perf_counter() - t0
        self.total[key] += dt
        if self._stack:
            self.inner[self._stack[-1][0]] += dt

    def _key(self, part: str, stage: int | None, by_grad: bool) -> Key:
        if by_grad and self.split_no_grad and not torch.is_grad_enabled():
            part = f"ref: {part}"
        return part, stage

    @contextmanager
    def region(self, part: str, stage: int | None = None) -> Iterator[None]:
        """Time the ``with`` body as ``(part, stage)``."""
        self._enter((part, stage))
        try:
            yield
        finally:
            self._exit()

    def module(self, mod: nn.Module, part: str, stage: int | None = None, by_grad: bool = True) -> None:
        """Time every forward of ``mod`` (``by_grad``: prefix ``ref:`` when run without grad, see above)."""

        def pre(_m: nn.Module, _a: Any) -> None:
            self._enter(self._key(part, stage, by_grad))

        def post(_m: nn.Module, _a: Any, _o: Any) -> None:
            self._exit()

        self._handles += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]

    def wrap(self, owner: Any, attr: str, part: str, stage: int | None = None, by_grad: bool = False) -> None:
        """Replace ``owner.attr`` (a function or bound method) by a timed call of it."""
        original: Callable[..., Any] = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self._enter(self._key(part, stage, by_grad))
            try:
                return original(*args, **kwargs)
            finally:
                self._exit()

        timed.__wrapped__ = original  # type: ignore[attr-defined]
        setattr(owner, attr, timed)

    def remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def own(self) -> dict[Key, float]:
        """Seconds per region without the regions nested in it."""
        return {k: self.total[k] - self.inner.get(k, 0.0) for k in self.total}

    def reset(self) -> None:
        self.total.clear()
        self.inner.clear()


def hook_detector(timer: PartTimer, detector: Any) -> None:
    """Time backbone, FPN, the pyramid's layout for pooling, and per stage: RoIAlign (box / mask / track),
    attention, dynamic conv, FFN, the rest of the box head, the mask head and the track head (a
    ``QueryInstDetector``)."""
    timer.module(detector.backbone, "backbone")
    timer.module(detector.neck, "FPN")
    timer.wrap(detector, "pooling_layout", "pooling layout (channels-last copy)", by_grad=True)
    for t in range(detector.num_stages):
        stage = detector.stage(t)
        timer.module(stage.box_roi, "RoIAlign box 7x7", t)
        timer.module(stage.bbox_head, "box head: norms, cls/reg fcs", t)
        timer.module(stage.bbox_head.attention, "box head: self-attention", t)
        timer.module(stage.bbox_head.instance_interactive_conv, "box head: dynamic conv", t)
        timer.module(stage.bbox_head.ffn, "box head: FFN", t)
        timer.module(stage.mask_roi, "RoIAlign mask 14x14", t)
        timer.module(stage.mask_head, "mask head", t)
        if stage.track_head is not None:
            timer.module(stage.track_roi, "RoIAlign track", t)
            timer.module(stage.track_head, "track head", t)


def format_table(own: dict[Key, float], whole_s: float, passes: int, title: str) -> str:
    """One row per part (ms per pass, in first-seen order), one column per stage, a total and its share."""
    stages = sorted({s for _, s in own if s is not None})
    parts: list[str] = []
    for p, _ in own:
        if p not in parts:
            parts.append(p)
    head = f"{title:<34}" + "".join(f"{'s' + str(s):>8}" for s in stages) + f"{'total':>9}{'share':>8}"
    lines = [head, "-" * len(head)]
    timed = 0.0
    for p in parts:
        cells = [own.get((p, s)) for s in stages]
        total = own.get((p, None), 0.0) + sum(c for c in cells if c is not None)
        timed += total
        shown = "".join(f"{1000 * c / passes:8.1f}" if c is not None else f"{'':>8}" for c in cells)
        lines.append(f"{p:<34}{shown}{1000 * total / passes:9.1f}{100 * total / whole_s:7.1f}%")
    rest = whole_s - timed
    pad = " " * (8 * len(stages))
    lines.append(
        f"{'(untimed: glue, indexing, ...)':<34}{pad}{1000 * rest / passes:9.1f}{100 * rest / whole_s:7.1f}%"
    )
    lines.append(f"{'whole':<34}{pad}{1000 * whole_s / passes:9.1f}{100.0:7.1f}%")
    return "\n".join(lines)
