"""Installed, not cloned: the wheel carries the Hydra configs and every entry point runs from an empty folder.

The wheel is built from a copy of the package's sources and installed into a fresh virtual environment that sees
the dependencies of the interpreter running the tests (a ``.pth`` line naming its site-packages; ``.pth`` files
there, such as an editable install's import hook, are not processed) but neither the source tree nor
``PYTHONPATH``. An editable install of the copy must still read the copy's top-level ``conf/``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "querytrack", "conf")  # what the build reads
DEADLINE_S = 300
TABLE = "YouTube-VIS metrics"


def test_pyproject_lists_every_package_of_the_source_tree() -> None:
    """``[tool.setuptools] packages`` is an explicit list (for the ``conf`` mapping): a new package must join it."""
    setuptools_cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "querytrack").rglob("__init__.py")}
    listed = set(setuptools_cfg["packages"])
    assert listed - {"querytrack.conf"} == on_disk
    assert setuptools_cfg["package-dir"] == {"querytrack.conf": "conf"}
    assert (ROOT / "conf" / "__init__.py").is_file()


def _pins() -> dict[str, str]:
    """``constraints.txt`` as ``{canonical name: version}``."""
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def test_constraints_pin_every_dependency_inside_the_pyproject_range() -> None:
    """CI's exact versions (``make install`` applies ``constraints.txt``) satisfy the ranges a user gets."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = _pins()
    for spec in [*project["dependencies"], *project["optional-dependencies"]["dev"]]:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is not pinned in constraints.txt (make constraints)"
        assert req.specifier.contains(pins[name], prereleases=True), (spec, pins[name])
    for name in ("torch", "torchvision"):  # a range (oldest tested .. below the next major), never a pin
        req = next(
            Requirement(r) for r in project["dependencies"] if canonicalize_name(Requirement(r).name) == name
        )
        assert {s.operator for s in req.specifier} == {">=", "<"}, req


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without ``PYTHONPATH`` (which would show the source tree), quiet loggers."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    return {**env, "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1", **extra}


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=DEADLINE_S
    )
    assert proc.returncode == 0, f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the build reads, copied (the build writes ``build/`` and ``*.egg-info`` next to them)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(ROOT / name, src / name)
    return src


def _venv(folder: Path) -> Path:
    """A fresh venv whose ``site-packages`` sees this interpreter's dependencies; returns its python."""
    _run([sys.executable, "-m", "venv", "--without-pip", str(folder)], folder.parent, _clean_env())
    python = folder / "bin" / "python"
    site = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], folder, _clean_env()
    )
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    Path(site.strip(), "_querytrack_test_deps.pth").write_text("".join(f"{p}\n" for p in deps))
    return python


@pytest.fixture(scope="module")
def wheel_venv(source_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A venv with the wheel installed (not editable); yields its ``bin`` folder."""
    dist = tmp_path_factory.mktemp("dist")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(dist),
            ".",
        ],
        source_copy,
        _clean_env(),
    )
    (wheel,) = dist.glob("querytrack-*.whl")
    python = _venv(tmp_path_factory.mktemp("venv") / "wheel")
    _run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], dist, _clean_env()
    )
    yield python.parent


def test_wheel_metadata_requires_torch_by_range(source_copy: Path, wheel_venv: Path) -> None:
    code = "import importlib.metadata as m; print('\\n'.join(m.requires('querytrack')))"
    requires = _run([str(wheel_venv / "python"), "-c", code], wheel_venv, _clean_env()).splitlines()
    torch = next(r for r in requires if re.match(r"torch\b", r) and not r.startswith("torchvision"))
    assert ">=" in torch and "<" in torch and "==" not in torch, torch


def test_wheel_install_trains_evaluates_and_answers_help_from_an_empty_folder(
    wheel_venv: Path, tmp_path: Path
) -> None:
    """The smoke run, its checkpoint's evaluation and every console script's ``--help``, from a wheel install."""
    work = tmp_path / "empty"
    work.mkdir()
    env = _clean_env(QUERYTRACK_CACHE=str(tmp_path / "cache"))
    where = _run(
        [
            str(wheel_venv / "python"),
            "-c",
            "import querytrack.core.config_path as c, querytrack; "
            "print(querytrack.__file__); print(c.hydra_config_path())",
        ],
        work,
        env,
    ).split()
    assert Path(where[0]).is_relative_to(wheel_venv.parent), where  # the installed copy, not the checkout
    assert where[1] == "pkg://querytrack.conf"

    train = _run([str(wheel_venv / "querytrack-train"), "debug=tiny"], work, env)
    assert train.count(TABLE) == 1, train[-3000:]
    ckpt = Path(re.search(r"^checkpoint: (\S+)$", train, re.M).group(1))  # type: ignore[union-attr]
    assert ckpt.is_file() and ckpt.is_relative_to(work / "outputs"), ckpt

    evaluate = _run(
        [str(wheel_venv / "querytrack-evaluate-checkpoint"), f"ckpt={ckpt}", "debug=tiny"], work, env
    )
    assert TABLE in evaluate and re.search(r"^track\s+\d+\.\d", evaluate, re.M), evaluate[-3000:]

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    with ThreadPoolExecutor(max_workers=2) as pool:  # each one imports torch: two at a time
        helps = dict(
            zip(
                scripts,
                pool.map(lambda s: _run([str(wheel_venv / s), "--help"], work, env), scripts),
                strict=True,
            )
        )
    for script, text in helps.items():
        assert len(text.strip()) > 40, (script, text)
    assert "config" in helps["querytrack-train"].lower()  # Hydra's help names the config groups
    user_conf = ROOT / "examples" / "my_experiment"  # a user's own config folder (docs/install.md)
    job = _run(
        [
            str(wheel_venv / "querytrack-train"),
            "--config-dir",
            str(user_conf),
            "experiment=my_synthetic",
            "--cfg",
            "job",
        ],
        work,
        env,
    )
    assert re.search(r"^task_name: my_synthetic$", job, re.M) and "det_score_threshold: 0.2" in job, job[
        -2000:
    ]
    assert sorted(p.name for p in work.iterdir()) == ["outputs"]  # nothing else written into the folder


def test_editable_install_reads_the_top_level_conf(
    source_copy: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """``pip install -e`` of the copy composes the copy's own ``conf/`` from an empty folder."""
    python = _venv(tmp_path_factory.mktemp("venv") / "editable")
    _run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-e",
            ".",
        ],
        source_copy,
        _clean_env(),
    )
    work = tmp_path_factory.mktemp("empty")
    where = _run(
        [str(python), "-c", "import querytrack.core.config_path as c; print(c.hydra_config_path())"],
        work,
        _clean_env(),
    )
    assert where.strip() == str(source_copy / "conf")
    job = _run([str(python.parent / "querytrack-train"), "--cfg", "job", "debug=tiny"], work, _clean_env())
    assert re.search(r"^task_name: debug$", job, re.M), job[-2000:]
