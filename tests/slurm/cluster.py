"""A one-node SLURM on 127.0.0.1 for the tests: munged, slurmctld and slurmd with their files in one folder.

Debian's ``slurm-wlm`` and ``munge`` packages (installed here with apt-get when missing and running as root);
the daemons run as root with their own munge key, sockets, ports, state and logs in the folder, so they touch
nothing of the machine's own configuration. Clients find the cluster through ``SLURM_CONF``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "scontrol", "squeue", "sinfo", "scancel", "sacct")


class SlurmUnavailableError(RuntimeError):
    """SLURM cannot be installed or started here (the reason is the message)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing() -> list[str]:
    return [
        name
        for name in (*DAEMONS, *CLIENTS)
        if shutil.which(name) is None and shutil.which(name, path="/usr/sbin:/usr/bin") is None
    ]


def ensure_installed() -> None:
    """``apt-get install slurm-wlm munge`` when a daemon or client is missing (needs root and apt-get)."""
    if not _missing():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SlurmUnavailableError(
            f"{', '.join(_missing())} missing and no root apt-get to install slurm-wlm"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "slurm-wlm", "munge"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            raise SlurmUnavailableError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    if _missing():
        raise SlurmUnavailableError(f"still missing after apt-get install: {', '.join(_missing())}")


def _exe(name: str) -> str:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin") or name


SLURM_CONF = """\
ClusterName=querytrack
SlurmctldHost={hostname}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge.socket
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
MailProg=/bin/true
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobRequeue=1
ReturnToService=2
MpiDefault=none
NodeName={hostname} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes={hostname} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""


@dataclass
class Cluster:
    """A running one-node cluster; ``env`` is the environment its clients (and jobs) need."""

    root: Path
    env: dict[str, str]
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def run(self, *cmd: str, cwd: Path | None = None, timeout: float = 60) -> str:
        """Run a client command (``sbatch``, ``squeue``, ...) against this cluster; its stdout."""
        proc = subprocess.run(cmd, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.root.glob("*.log"))
        )

    def jobs(self) -> list[str]:
        """Ids of the jobs the cluster still knows (pending, running or completing)."""
        return self.run(_exe("squeue"), "-h", "-o", "%i").split()

    def stop(self) -> None:
        """Cancel the cluster's jobs, then stop the daemons (each in its own process group)."""
        try:
            if ids := self.jobs():
                self.run(_exe("scancel"), *ids)
                time.sleep(2)
        except (RuntimeError, OSError, subprocess.TimeoutExpired):
            pass
        for proc in reversed(self.processes):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def start(root: Path, cpus: int = 2, timeout_s: float = 60) -> Cluster:
    """Start munged, slurmctld and slurmd (as root, in the foreground of their own processes) under ``root``.

    Raises:
        SlurmUnavailableError: not root, or a daemon did not come up (its log is in the message).
    """
    if os.geteuid() != 0:
        raise SlurmUnavailableError("the one-node SLURM runs its daemons as root")
    ensure_installed()
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    for sub in ("state", "spool"):
        (root / sub).mkdir(exist_ok=True)
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o600)
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            root=root,
            hostname=socket.gethostname(),
            cpus=cpus,
            ctld_port=_free_port(),
            slurmd_port=_free_port(),
        )
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    cluster = Cluster(root, env)
    daemons = [
        [
            _exe("munged"),
            "-F",
            "--force",
            f"--socket={root}/munge.socket",
            f"--key-file={key}",
            f"--pid-file={root}/munged.pid",
            f"--log-file={root}/munged.log",
            f"--seed-file={root}/munged.seed",
        ],
        [_exe("slurmctld"), "-D", "-i", "-f", str(conf)],
        [_exe("slurmd"), "-D", "-N", socket.gethostname(), "-f", str(conf)],
    ]
    try:
        for cmd in daemons:
            with open(root / f"{Path(cmd[0]).name}.out", "wb") as out:
                cluster.processes.append(
                    subprocess.Popen(
                        cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                    )
                )
            time.sleep(0.5)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dead = [
                Path(c[0]).name
                for c, p in zip(daemons, cluster.processes, strict=False)
                if p.poll() is not None
            ]
            if dead:
                raise SlurmUnavailableError(f"{', '.join(dead)} exited:\n{cluster.logs()}")
            state = subprocess.run(
                [_exe("sinfo"), "-h", "-N", "-o", "%t"], env=env, capture_output=True, text=True, timeout=30
            ).stdout.strip()
            if state in ("idle", "mix", "alloc"):
                return cluster
            time.sleep(1)
        raise SlurmUnavailableError(
            f"the node did not become idle in {timeout_s} s (state {state!r}):\n{cluster.logs()}"
        )
    except BaseException:
        cluster.stop()
        raise
