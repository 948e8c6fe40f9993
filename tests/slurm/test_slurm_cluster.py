"""The SLURM path on a real one-node SLURM (``tests/slurm/cluster.py``): sweeps, ``srun`` DDP and preemption.

The commands are docs/slurm.md's, shrunk to CPU: ``debug=tiny`` (the tiny synthetic run), CPU trainers, one CPU
per task. Skipped, with the reason, where SLURM cannot be installed or started (not root, no apt-get, a daemon
that does not come up). ``make test-full`` runs them (marker ``slurm``; about 3 minutes on 2 cores).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.slurm.cluster import Cluster, SlurmUnavailableError, start

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[2]
SBATCH_SCRIPT = ROOT / "examples" / "slurm" / "train.sbatch"
TABLE = "YouTube-VIS metrics"
DEADLINE_S = 400


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A one-node cluster whose jobs see this interpreter (``python`` first on ``PATH``) and a shared data cache."""
    root = tmp_path_factory.mktemp("slurm")
    try:
        started = start(root / "cluster")
    except SlurmUnavailableError as e:
        pytest.skip(f"SLURM cannot be started here: {e}")
    started.env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{started.env.get('PATH', '')}",
        QUERYTRACK_CACHE=str(root / "cache"),
        WANDB_MODE="offline",
        OMP_NUM_THREADS="1",
    )
    yield started
    started.stop()


def _run(cluster: Cluster, cmd: list[str], cwd: Path) -> str:
    """Run a client command (``srun``, the sweep) to its end; its output, failing on error or after the deadline."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(timeout=DEADLINE_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} did not finish in {DEADLINE_S} s:\n{out[-3000:]}\n{cluster.logs()}")
    assert proc.returncode == 0, f"{' '.join(cmd)} failed:\n{out[-4000:]}\n{cluster.logs()}"
    return out


def _wait(predicate, what: str, cluster: Cluster, timeout_s: float = DEADLINE_S) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}\n{cluster.logs()}")
        time.sleep(1)


def _global_step(path: Path) -> int:
    return int(torch.load(path, map_location="cpu", weights_only=False)["global_step"])


def test_hydra_multirun_through_the_slurm_launcher(cluster: Cluster, tmp_path: Path) -> None:
    """Two sweep jobs, submitted by hydra-submitit-launcher without a GPU request, both finish with AP."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason="needs the slurm extra")
    cmd = [sys.executable, "-m", "querytrack.run", "-m", "hydra/launcher=slurm", "debug=tiny", "seed=0,1"]
    _run(cluster, [*cmd, "hydra.launcher.cpus_per_task=1"], tmp_path)  # CPU shrink: 1 CPU per task
    (sweep,) = (tmp_path / "multirun" / "debug").iterdir()
    scripts = sorted((sweep / ".submitit").glob("*/*_submission.sh"))
    assert scripts and not any(
        re.search(r"--(gpus|gres)", s.read_text()) for s in scripts
    )  # a CPU run requests no GPU
    logs = sorted((sweep / ".submitit").glob("*/*_log.out"))
    assert len(logs) == 2, logs
    for log in logs:
        text = log.read_text()
        assert text.count(TABLE) == 1 and re.search(r"^track\s+\d+\.\d", text, re.M), text[-3000:]
    for job in ("0", "1"):
        assert list((sweep / job / "checkpoints").glob("*.ckpt")), f"job {job} wrote no checkpoint"


def test_srun_two_tasks_train_ddp_and_print_the_table_once(cluster: Cluster, tmp_path: Path) -> None:
    """``srun -N1 --ntasks-per-node=2``: Lightning's SLURM environment makes the two tasks one gloo DDP run."""
    cmd = [
        "srun", "-N1", "--ntasks-per-node=2",
        "python", "-m", "querytrack.run", "trainer=ddp", "trainer.devices=2", "hydra.run.dir=outputs/ddp",
    ]  # fmt: skip
    shrink = ["debug=tiny", "trainer.accelerator=cpu", "trainer.precision=32-true", "effective_batch_size=4"]
    out = _run(cluster, [*cmd, *shrink], tmp_path)
    assert "MEMBER: 1/2" in out and "MEMBER: 2/2" in out, out[-3000:]  # two ranks, one process group
    assert "2 device(s)" in out
    assert out.count(TABLE) == 1 and re.search(r"^track\s+\d+\.\d", out, re.M), out[-3000:]


def test_preempted_job_saves_requeues_resumes_and_finishes(cluster: Cluster, tmp_path: Path) -> None:
    """USR1 (SLURM's signal before the time limit) mid-run: checkpoint, requeue, resume, the full step count."""
    epochs, batches = 8, 2  # debug=tiny: 2 batches of 2 pairs per epoch, no accumulation
    shrink = ["debug=tiny", f"trainer.max_epochs={epochs}", f"trainer.check_val_every_n_epoch={epochs}"]
    job = cluster.run("sbatch", "--parsable", str(SBATCH_SCRIPT), *shrink, cwd=tmp_path).strip().split(";")[0]
    run_dir = tmp_path / "outputs" / "train" / f"slurm-{job}"
    log = tmp_path / f"slurm-{job}.out"
    _wait(lambda: (run_dir / "checkpoints" / "last.ckpt").is_file(), "the first epoch's checkpoint", cluster)
    cluster.run("scancel", "--signal=USR1", job)  # what --signal=USR1@90 sends 90 s before the time limit
    _wait(lambda: (run_dir / "hpc_ckpt_1.ckpt").is_file(), "the requeue checkpoint", cluster, 120)

    def requeued_or_done() -> bool:
        state = cluster.run("squeue", "-h", "-j", job, "-o", "%T %r").strip()
        if state.startswith("PENDING") and "BeginTime" in state:
            cluster.run("scontrol", "update", f"JobId={job}", "StartTime=now")  # skip SLURM's requeue delay
        return state == ""

    _wait(requeued_or_done, "the requeued job to finish", cluster)
    text = log.read_text()
    assert "Handling auto-requeue signal" in text, text[-3000:]
    assert f"Restoring states from the checkpoint path at {run_dir / 'hpc_ckpt_1.ckpt'}" in text, text[-3000:]
    interrupted_at = _global_step(run_dir / "hpc_ckpt_1.ckpt")
    assert batches <= interrupted_at < epochs * batches  # saved mid-run
    assert _global_step(run_dir / "checkpoints" / "last.ckpt") == epochs * batches  # as an uninterrupted run
    assert text.count(TABLE) == 1, text[-3000:]
