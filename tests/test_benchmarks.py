"""``make bench``'s combined table (the benchmarks themselves are run by ``make bench``, not by the tests)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _run_all():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location("bench_run_all", BENCH / "run_all.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_combined_table_derives_the_tracking_share_and_names_goals() -> None:
    table = _run_all().combined_table(
        {
            "detector frame / backbone+FPN (r50 100q 360x640)": 1.7,
            "detector ms/frame": 90.0,
            "tracker + paste/RLE ms/frame": 10.0,
            "streaming peak RSS 2000 / 200 frames": 1.014,
            "tracking size": "360x640",
        }
    )
    lines = {line.split("  ")[0].strip(): line for line in table.splitlines()}
    share = lines["tracker + paste/RLE share of a frame (with the detector)"]
    assert "0.100" in share  # 10 / (90 + 10)
    assert lines["detector frame / backbone+FPN (r50 100q 360x640)"].rstrip().endswith("<= 1.5")
    assert lines["streaming peak RSS 2000 / 200 frames"].rstrip().endswith("<= 1.05")
    assert "360x640" in lines["tracking size"]


def test_every_benchmark_in_make_bench_exists() -> None:
    assert all((BENCH / name).is_file() for name, _ in _run_all().ORDER)


def _parts():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_parts", BENCH / "parts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_part_timer_own_times_exclude_nested_regions_and_add_up(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import torch

    parts = _parts()
    clock = iter(range(100))
    monkeypatch.setattr(parts.time, "perf_counter", lambda: float(next(clock)))
    timer = parts.PartTimer(split_no_grad=True)
    inner = torch.nn.Identity()
    timer.module(inner, "head", 0)
    with timer.region("outer"):  # t=0
        inner(torch.zeros(1))  # 1 -> 2
        with torch.no_grad():
            inner(torch.zeros(1))  # 3 -> 4: the no-grad pass is a "ref:" row
    # outer ends at 5
    assert timer.own() == {("head", 0): 1.0, ("ref: head", 0): 1.0, ("outer", None): 3.0}
    table = parts.format_table(timer.own(), 6.0, 1, "t")
    assert "untimed" in table and table.splitlines()[-1].split()[-2] == "6000.0"
    timer.remove_hooks()
    inner(torch.zeros(1))
    assert next(clock) == 6  # no hook left: the clock was not read again


def test_evaluation_benchmark_runs_every_make_bench_workload(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "QUERYTRACK_OFFICIAL_YTVIS"}
    for workload, videos in (("dense", 2), ("ytvis", 4), ("realres", 1)):
        summary = tmp_path / f"{workload}.json"
        args = ["--workload", workload, "--videos", str(videos), "--repeat", "1", "--files", str(tmp_path)]
        out = subprocess.run(
            [sys.executable, str(BENCH / "evaluation.py"), *args, "--summary", str(summary)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        assert "evaluate_ytvis (validated)" in out and "no comparison" in out
        two_cpus = (
            hasattr(os, "fork") and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
        )
        assert ("two-core bound" in out) == two_cpus  # a half may hold no video (realres: 1)
        assert json.loads(summary.read_text())[f"evaluator s ({videos} videos, {workload}, validated)"] > 0
