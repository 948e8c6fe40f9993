"""Run the official YouTube-VIS evaluator from a local copy, for equality checks and benchmarks only.

The official code (youtubevos/cocoapi ``PythonAPI/pycocotools/{ytvos,ytvoseval}.py``) is *not* part of this
repository. Point ``QUERYTRACK_OFFICIAL_YTVIS`` (or the ``directory`` argument) at a folder holding those two
files; they are imported as a private package whose ``mask`` module is the installed ``pycocotools.mask``.
Two shims make the 2019 code run on NumPy 2: ``np.float`` (removed alias) and ``np.linspace`` with a float
``num``. Nothing else is changed.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

ENV_VAR = "QUERYTRACK_OFFICIAL_YTVIS"
_PKG = "_querytrack_official_ytvis"


class _NumpyShim(types.ModuleType):
    """``numpy`` with the two aliases the 2019 evaluator relies on."""

    float = float

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def linspace(start: Any, stop: Any, num: Any = 50, **kw: Any) -> np.ndarray:
        return np.linspace(start, stop, int(num), **kw)


def official_dir(directory: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder with the official files, from the argument or ``QUERYTRACK_OFFICIAL_YTVIS``; None if absent."""
    d = directory or os.environ.get(ENV_VAR)
    if not d:
        return None
    p = Path(d)
    return p if (p / "ytvoseval.py").is_file() and (p / "ytvos.py").is_file() else None


def load_official(directory: str | os.PathLike[str]) -> tuple[Any, Any]:
    """Import the official ``YTVOS`` and ``YTVOSeval`` classes from ``directory``."""
    if _PKG not in sys.modules:
        pkg = types.ModuleType(_PKG)
        pkg.__path__ = [str(directory)]
        sys.modules[_PKG] = pkg
        sys.modules[f"{_PKG}.mask"] = mask_utils
    ytvos = importlib.import_module(f"{_PKG}.ytvos")
    ytvoseval = importlib.import_module(f"{_PKG}.ytvoseval")
    shim = _NumpyShim("numpy")
    ytvoseval.np = shim  # type: ignore[attr-defined]
    ytvos.np = shim  # type: ignore[attr-defined]
    return ytvos.YTVOS, ytvoseval.YTVOSeval


def official_stats(
    gt_path: str | os.PathLike[str], res_path: str | os.PathLike[str], directory: Any
) -> list[float]:
    """The 12 official stats for two json files (stdout of the official code is swallowed)."""
    YTVOS, YTVOSeval = load_official(directory)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = YTVOS(str(gt_path))
        dt = gt.loadRes(str(res_path))
        ev = YTVOSeval(gt, dt, "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return [float(x) for x in ev.stats]
