"""The distributed path on CPU: 2 Lightning DDP processes (gloo) train, validate, resume and evaluate.

Every run is a subprocess in its own session with a deadline, so a deadlock (ranks waiting in different
collectives) fails the test in minutes instead of hanging CI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch.distributed as dist

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 300
PROBE = "tests.lit.rank_probe.RankProbe"
TABLE = "YouTube-VIS metrics"

pytestmark = pytest.mark.skipif(not dist.is_gloo_available(), reason="needs the gloo backend")


def run_cli(module: str, *overrides: str) -> str:
    """Run ``python -m module overrides``; return its output, failing on error or after ``DEADLINE_S``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *overrides],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # both ranks: the launcher's children share its session
        out, _ = proc.communicate()
        pytest.fail(f"{module} did not finish in {DEADLINE_S} s (deadlock?):\n{out[-3000:]}")
    assert proc.returncode == 0, out[-4000:]
    return out


def probes(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records of ranks 0 and 1."""
    return tuple(  # type: ignore[return-value]
        [json.loads(line) for line in (folder / f"rank{r}.jsonl").read_text().splitlines()] for r in (0, 1)
    )


def results(path: Path) -> list[tuple[int, int, float]]:
    """A results json as sorted ``(video_id, category_id, score)`` rows."""
    return sorted(
        (e["video_id"], e["category_id"], round(e["score"], 6)) for e in json.loads(path.read_text())
    )


def test_ddp_train_validate_resume_and_evaluate_on_two_cpu_processes(tmp_path: Path) -> None:
    run_dir, probe_dir = tmp_path / "run", tmp_path / "probe"
    common = [
        "debug=tiny",
        f"data.root={tmp_path / 'cache'}",
        "data.synthetic.num_valid_videos=3",  # odd: the distributed sampler repeats a video on the second rank
        "trainer.limit_val_batches=null",
        "tracker.det_score_threshold=0",  # an untrained model: keep every track, so results are not empty
        "tracker.new_track_score_threshold=0",
    ]
    ddp = ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true"]
    train = [
        *common,
        *ddp,
        "effective_batch_size=4",
        "evaluate=true",
        "eval_checkpoint=last",
        f"hydra.run.dir={run_dir}",
        f"+callbacks.probe._target_={PROBE}",
        f"+callbacks.probe.out_dir={probe_dir}",
    ]
    out = run_cli("querytrack.run", *train, "trainer.max_epochs=2")
    assert out.count(TABLE) == 1
    rank0, rank1 = probes(probe_dir)
    assert [r["epoch"] for r in rank0] == [0, 1]
    assert rank0 == rank1  # the same metrics on both ranks after every validation
    assert "AP" in rank0[-1]["metrics"] and "frame_AP" in rank0[-1]["metrics"]
    written = sorted(run_dir.rglob("val_results.json"))
    assert len(written) == 1
    rows = results(written[0])
    assert {v for v, _, _ in rows} == {1, 2, 3}  # every video, none twice (below)

    out = run_cli("querytrack.run", *train, "trainer.max_epochs=3", "ckpt_path=last")
    assert out.count(TABLE) == 1
    rank0, rank1 = probes(probe_dir)
    assert [r["epoch"] for r in rank0] == [0, 1, 2] and rank0[2]["step"] > rank0[1]["step"]
    assert rank0 == rank1

    ckpt = run_dir / "checkpoints" / "last.ckpt"
    evaluate = [*common, f"ckpt={ckpt}", "+callbacks.probe._target_=" + PROBE]
    single = run_cli("querytrack.evaluate_checkpoint", *evaluate, f"+callbacks.probe.out_dir={tmp_path / 'p1'}",
                     f"hydra.run.dir={tmp_path / 'eval1'}")  # fmt: skip
    out = run_cli("querytrack.evaluate_checkpoint", *evaluate, *ddp, f"+callbacks.probe.out_dir={tmp_path / 'p2'}",
                  f"hydra.run.dir={tmp_path / 'eval2'}")  # fmt: skip
    assert single.count(TABLE) == 1 and out.count(TABLE) == 1
    rank0, rank1 = probes(tmp_path / "p2")
    assert rank0 == rank1
    reference = json.loads((tmp_path / "p1" / "rank0.jsonl").read_text())["metrics"]
    assert rank0[0]["metrics"] == pytest.approx(reference)
    # The same tracks as one process, every video once: the repeated video's tracks are not counted twice.
    two = results(tmp_path / "eval2" / "val_results.json")
    assert two == results(tmp_path / "eval1" / "val_results.json") and two
    per_video = Counter(v for v, _, _ in two)
    assert sorted(per_video) == [1, 2, 3]
