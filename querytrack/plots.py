"""The learning-curve PNG of a run: training loss (raw and smoothed) and validation AP against the optimizer step.

Reads the ``metrics.csv`` of Lightning's ``CSVLogger`` (``<output dir>/csv/version_N/metrics.csv``); written by
``python -m querytrack.run`` after training as ``<output dir>/curve.png``, or by hand::

    python -m querytrack.plots outputs/train/<run>/csv/version_0/metrics.csv --out curve.png
"""

from __future__ import annotations

import argparse
import csv
import math
import os
from collections.abc import Sequence
from pathlib import Path

#: Validation series drawn on the right axis, when logged: (column, legend).
AP_SERIES: tuple[tuple[str, str], ...] = (
    ("val/AP", "track AP"),
    ("val/AP50", "track AP50"),
    ("val/frame_AP", "frame AP (detector)"),
    ("val/HOTA", "HOTA"),
)


def read_series(
    metrics_csv: str | os.PathLike[str], columns: Sequence[str]
) -> dict[str, list[tuple[int, float]]]:
    """``{column: [(step, value), ...]}`` for the rows of ``metrics_csv`` where the column has a value."""
    out: dict[str, list[tuple[int, float]]] = {c: [] for c in columns}
    with open(metrics_csv, newline="") as f:
        for row in csv.DictReader(f):
            step = row.get("step")
            if not step:
                continue
            for c in columns:
                value = row.get(c)
                if value not in (None, ""):
                    out[c].append((int(float(step)), float(value)))
    return out


def smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average over ``window`` points (shorter at the start)."""
    out: list[float] = []
    total = 0.0
    for i, v in enumerate(values):
        total += v
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def plot_training_curve(
    metrics_csv: str | os.PathLike[str], out: str | os.PathLike[str], title: str | None = None
) -> Path:
    """Draw ``train/loss`` (left axis, log scale) and the validation AP series (right axis, ×100) to ``out``.

    Raises:
        ValueError: the file has no ``train/loss`` values.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = read_series(metrics_csv, ["train/loss", *(c for c, _ in AP_SERIES)])
    loss = series["train/loss"]
    if not loss:
        raise ValueError(f"{metrics_csv}: no train/loss values to plot")
    steps, values = [s for s, _ in loss], [v for _, v in loss]
    fig, ax = plt.subplots(figsize=(7.0, 3.6), dpi=110)
    ax.plot(steps, values, color="0.75", linewidth=0.8, label="train loss")
    ax.plot(
        steps,
        smooth(values, max(1, len(values) // 10)),
        color="0.2",
        linewidth=1.5,
        label="train loss (smoothed)",
    )
    ax.set_yscale("log")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    handles, labels = ax.get_legend_handles_labels()
    shown = [(c, name) for c, name in AP_SERIES if series[c]]
    if shown:
        ax2 = ax.twinx()
        for (column, name), colour in zip(
            shown, ("tab:blue", "tab:cyan", "tab:orange", "tab:green"), strict=False
        ):
            pts = series[column]
            ax2.plot([s for s, _ in pts], [100 * v for _, v in pts], "o-", color=colour, label=name)
        ax2.set_ylabel("validation (x100)")
        top = max(100 * v for c, _ in shown for _, v in series[c])
        ax2.set_ylim(0, max(10.0, math.ceil(top / 10) * 10))
        h2, l2 = ax2.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
    ax.legend(handles, labels, loc="upper center", fontsize=8, ncol=3, bbox_to_anchor=(0.5, -0.18))
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Plot a run's training loss and validation AP.")
    p.add_argument("metrics_csv")
    p.add_argument("--out", required=True)
    p.add_argument("--title", default=None)
    args = p.parse_args(argv)
    plot_training_curve(args.metrics_csv, args.out, args.title)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
