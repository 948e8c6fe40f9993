"""Learning-curve PNG from a CSVLogger metrics file."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from querytrack.plots import plot_training_curve, read_series, smooth


def _csv(path: Path, with_val: bool = True) -> Path:
    rows = ["epoch,step,train/loss,val/AP,val/frame_AP"]
    rows += [f"0,{s},{10.0 / (1 + s)},," for s in range(0, 40, 2)]
    if with_val:
        rows += ["0,19,,0.25,0.4", "1,39,,0.5,0.6"]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_smooth_golden() -> None:
    assert smooth([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert smooth([], 3) == []


def test_read_series_and_plot(tmp_path: Path) -> None:
    csv_file = _csv(tmp_path / "metrics.csv")
    series = read_series(csv_file, ["train/loss", "val/AP"])
    assert series["val/AP"] == [(19, 0.25), (39, 0.5)] and len(series["train/loss"]) == 20
    out = plot_training_curve(csv_file, tmp_path / "sub" / "curve.png", title="t")
    assert Image.open(out).size[0] > 300
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["curve.png"]  # no temporary file left


def test_no_loss_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "m.csv"
    empty.write_text("epoch,step,val/AP\n0,3,0.5\n")
    with pytest.raises(ValueError, match="no train/loss"):
        plot_training_curve(empty, tmp_path / "c.png")
    assert not (tmp_path / "c.png").exists()
