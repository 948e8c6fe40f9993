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

PACKAGE = "querytrack.conf"
_PACKAGE_DIR = Path(__file__).resolve().parents[1]  # .../querytrack
_INSTALLED = _PACKAGE_DIR / "conf"  # a wheel install: the package data
_CHECKOUT = _PACKAGE_DIR.parent / "conf"  # a checkout: the top-level folder
_MARKER = "train.yaml"


def hydra_config_path() -> str:
    """``config_path`` for ``@hydra.main``: ``pkg://querytrack.conf`` when installed, else the checkout's ``conf/``.

    Falls back to ``pkg://querytrack.conf`` when neither folder is on disk (e.g. an install Hydra reads through
    the import system), so that Hydra names the package it could not find.
    """
    try:
        folder = config_dir()
    except FileNotFoundError:
        return f"pkg://{PACKAGE}"
    return str(folder) if folder == _CHECKOUT else f"pkg://{PACKAGE}"


def config_dir() -> Path:
    """The folder holding ``train.yaml`` and ``eval.yaml`` (for ``hydra.initialize_config_dir``).

    Raises:
        FileNotFoundError: neither the installed package data nor a checkout's ``conf/`` exists.
    """
    for folder in (_INSTALLED, _CHECKOUT):
        if (folder / _MARKER).is_file():
            return folder
    raise FileNotFoundError(f"no Hydra configs: neither {_INSTALLED} nor {_CHECKOUT} has {_MARKER}")
