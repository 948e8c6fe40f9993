"""What the training and checkpoint-evaluation runs print and return: the AP table and the swept value."""

from __future__ import annotations

from omegaconf import DictConfig

from querytrack.evaluation.ytvis_eval import STAT_KEYS


def format_metrics(metrics: dict[str, float]) -> str:
    """The 12 YouTube-VIS stats (+ HOTA) of the tracks, and of the per-frame detections (frame AP) when present."""
    keys = [k for k in STAT_KEYS if k in metrics] + [k for k in ("HOTA", "DetA", "AssA") if k in metrics]
    rows = [("track", "")] + ([("frame", "frame_")] if any(k.startswith("frame_") for k in metrics) else [])
    head = f"{'':<6} " + " ".join(f"{k:>6}" for k in keys)
    lines = [head]
    for name, prefix in rows:
        cells = []
        for k in keys:
            v = metrics.get(prefix + k)
            cells.append(f"{100 * v:>6.1f}" if v is not None and v >= 0 else f"{'-':>6}")
        lines.append(f"{name:<6} " + " ".join(cells))
    return "\n".join(lines)


def optimized_value(cfg: DictConfig, metrics: dict[str, float]) -> float | None:
    """The value of ``cfg.optimized_metric`` (e.g. ``val/AP``) in ``metrics``, returned to Hydra sweepers."""
    name = cfg.get("optimized_metric")
    key = name.split("/", 1)[-1] if name else None
    value = metrics.get(key) if key else None
    return float(value) if value is not None else None
