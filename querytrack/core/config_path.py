"""Where the Hydra configs are: the package data ``querytrack.conf`` of an install, or a checkout's ``conf/``.

The configs live in the repository's top-level ``conf/``; the wheel carries that folder as the package
``querytrack.conf`` (``pyproject.toml`` maps the package onto ``conf/``), so a wheel install has it at
``<site-packages>/querytrack/conf``. A checkout — an editable install, or the source tree on ``PYTHONPATH`` —
has no ``querytrack/conf`` folder; its configs are the ``conf/`` beside the package, which is read directly
rather than through the import system (an editable install's import hook points at the folder it was
installed from, which is not the checkout a worktree runs from).
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

PACKAGE = "querytrack.conf"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../querytrack
_INSTALLED = _PACKAGE_DIR / "conf"  # a wheel install: the package data
_CHECKOUT = _PACKAGE_DIR.parent / "conf"  # a checkout: the top-level folder
_MARKER = "train.yaml"
GPU_ACCELERATORS = ("gpu", "cuda")


def gpus_per_node(accelerator: str, devices: int | str) -> int | None:
    """The ``querytrack.gpus_per_node`` resolver: GPUs a SLURM job asks for, ``None`` (no request) off GPU.

    ``conf/hydra/launcher/slurm.yaml`` passes the trainer's accelerator and device count: a CPU run asking for GPUs
    is refused by a cluster without GPU resources (``Invalid generic resource (gres) specification``).
    ``auto`` requests none: name ``trainer=gpu`` (or set ``hydra.launcher.gpus_per_node``) for a GPU job.
    """
    if str(accelerator).lower() not in GPU_ACCELERATORS:
        return None
    return int(devices) if str(devices).isdigit() and int(devices) > 0 else 1


def register_resolvers() -> None:
    """Register the resolvers the configs use (idempotent); the entry points do it by importing this module."""
    if not OmegaConf.has_resolver("querytrack.gpus_per_node"):
        OmegaConf.register_new_resolver("querytrack.gpus_per_node", gpus_per_node)


def hydra_config_path() -> str:
    """``config_path`` for ``@hydra.main``: ``pkg://querytrack.conf`` when installed, else the checkout's ``conf/``.

    Falls back to ``pkg://querytrack.conf`` when neither folder is on disk (e.g. an install Hydra reads through
    the import system), so that Hydra names the package it could not find.
    """
    if (_INSTALLED / _MARKER).is_file():
        return f"pkg://{PACKAGE}"
    if (_CHECKOUT / _MARKER).is_file():
        return str(_CHECKOUT)
    return f"pkg://{PACKAGE}"


def config_dir() -> Path:
    """The folder holding ``train.yaml`` and ``eval.yaml`` (for ``hydra.initialize_config_dir``).

    Raises:
        FileNotFoundError: neither the installed package data nor a checkout's ``conf/`` exists.
    """
    for folder in (_INSTALLED, _CHECKOUT):
        if (folder / _MARKER).is_file():
            return folder
    raise FileNotFoundError(f"no Hydra configs: neither {_INSTALLED} nor {_CHECKOUT} has {_MARKER}")


register_resolvers()
