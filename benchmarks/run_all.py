"""``make bench``: run every benchmark in this folder in turn, then print one table of their headline figures.

Each benchmark prints its own detailed table first and writes its headline figures to a json (``--summary``);
the combined table at the end puts them side by side with the machine they ran on, plus one derived figure: the
share of a 360p frame spent in tracking + mask paste/RLE next to the real detector. Benchmarks whose file is
missing are skipped with a note; ``gpu_step.py`` runs only where CUDA is available.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (file, extra arguments): the tracking benchmark runs at the detector benchmark's 360 x 640 so the two combine.
ORDER: list[tuple[str, list[str]]] = [
    ("data.py", []),
    ("detector.py", ["--threads", "2"]),
    ("backbones.py", ["--threads", "2"]),
    ("tracking.py", ["--height", "360", "--width", "640"]),
    ("evaluation.py", ["--workload", "dense"]),
    ("evaluation.py", ["--workload", "ytvis"]),
    ("evaluation.py", ["--workload", "realres"]),
    ("training.py", []),
    ("compiled.py", ["--threads", "2"]),
    ("onnx_frame.py", ["--threads", "2"]),
    ("gpu_step.py", []),
]
GOALS = {
    "detector frame / backbone+FPN": "<= 1.5",
    "streaming peak RSS": "<= 1.05",
    "data pipeline / raw decode": ">= 0.8",
    "evaluator speed-up vs official": ">= 2",
}


def machine() -> str:
    """CPU model, cores and torch version of this machine."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores, {gpu}, torch {torch.__version__}, Python {platform.python_version()}"
    )


def combined_table(figures: dict[str, float | str]) -> str:
    """The headline figures as an aligned text table (value and goal where the issue names one)."""
    derived = dict(figures)
    det_ms, trk_ms = figures.get("detector ms/frame"), figures.get("tracker + paste/RLE ms/frame")
    if isinstance(det_ms, float) and isinstance(trk_ms, float):
        derived["tracker + paste/RLE share of a frame (with the detector)"] = trk_ms / (det_ms + trk_ms)
    rows = []
    for name, value in derived.items():
        goal = next((g for prefix, g in GOALS.items() if name.startswith(prefix)), "")
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        rows.append((name, shown, goal))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure':<{width}}  {'value':>9}  goal", f"{'-' * width}  {'-' * 9}  ----"]
    lines += [f"{n:<{width}}  {v:>9}  {g}" for n, v, g in rows]
    return "\n".join(lines)


def main() -> int:
    status = 0
    figures: dict[str, float | str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in ORDER:
            path = HERE / name
            if not path.is_file():
                print(f"== {name}: not present, skipped\n")
                continue
            summary = Path(tmp) / f"{path.stem}{'_'.join(['', *extra])}.json"
            args = [] if name == "gpu_step.py" else ["--summary", str(summary)]
            print(f"== {name} {' '.join(extra)}", flush=True)
            rc = subprocess.call([sys.executable, str(path), *extra, *args])
            status |= rc
            if summary.is_file():
                figures.update(json.loads(summary.read_text()))
            print(flush=True)
    print("== make bench: headline figures (each measured side by side in its own benchmark, this run)")
    print(f"machine: {machine()}")
    print(combined_table(figures))
    return status


if __name__ == "__main__":
    assert importlib.util.find_spec("querytrack") is not None, "install the project first (make install)"
    raise SystemExit(main())
