"""A report of what a checkpoint import loaded, and the shape-checked non-strict load behind it."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass
class LoadReport:
    """Outcome of loading foreign weights into a model.

    Attributes:
        mapped: ``(source_key, model_key)`` pairs that were loaded.
        missing: model keys that received nothing (kept their initialisation).
        unexpected: source keys without a model counterpart.
        shape_mismatch: ``(source_key, model_key, source_shape, model_shape)`` skipped for a shape mismatch.
    """

    mapped: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[tuple[str, str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @staticmethod
    def _group(keys: list[str]) -> list[str]:
        """Collapse digits so that per-stage / per-block keys print once with a count."""
        counts = Counter(re.sub(r"\.\d+\.", ".*.", k) for k in keys)
        return [f"{k} (x{n})" if n > 1 else k for k, n in sorted(counts.items())]

    def summary(self, max_lines: int = 40) -> str:
        """Human-readable summary (keys grouped by pattern)."""
        lines = [
            f"checkpoint import: {len(self.mapped)} mapped, {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected, {len(self.shape_mismatch)} shape-mismatched"
        ]
        for title, keys in (("missing", self.missing), ("unexpected", self.unexpected)):
            grouped = self._group(keys)
            if grouped:
                lines.append(f"  {title}:")
                lines += [f"    {k}" for k in grouped[:max_lines]]
                if len(grouped) > max_lines:
                    lines.append(f"    ... {len(grouped) - max_lines} more patterns")
        if self.shape_mismatch:
            lines.append("  shape mismatch (not loaded):")
            lines += [
                f"    {s} -> {m}: {tuple(a)} vs {tuple(b)}" for s, m, a, b in self.shape_mismatch[:max_lines]
            ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def load_mapped(
    model: nn.Module,
    state_dict: Mapping[str, Tensor],
    sources: Mapping[str, str] | None = None,
    unexpected: list[str] | None = None,
) -> LoadReport:
    """Copy the entries of ``state_dict`` whose key and shape match ``model.state_dict()``.

    Args:
        model: target module.
        state_dict: ``{model_key: tensor}`` (already renamed).
        sources: ``{model_key: source_key}`` for the report (identity if None).
        unexpected: source keys already known to have no counterpart.

    Returns:
        The ``LoadReport``.
    """
    sources = sources or {}
    own = model.state_dict()
    report = LoadReport(unexpected=list(unexpected or []))
    loadable: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        src = sources.get(key, key)
        if key not in own:
            report.unexpected.append(src)
            continue
        if tuple(own[key].shape) != tuple(value.shape):
            report.shape_mismatch.append((src, key, tuple(value.shape), tuple(own[key].shape)))
            continue
        loadable[key] = value
        report.mapped.append((src, key))
    report.missing = [
        k for k in own if k not in loadable and k not in {m for _, m, _, _ in report.shape_mismatch}
    ]
    with torch.no_grad():
        result = model.load_state_dict(loadable, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    return report
