"""``make bench``: run every benchmark in this folder, one after the other, in this process's environment.

Each benchmark prints its own table of ratios measured side by side in one run. Benchmarks whose module is not
present yet are skipped with a note.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["data.py", "detector.py", "tracking.py", "evaluation.py", "training.py", "gpu_step.py"]


def main() -> int:
    status = 0
    for name in ORDER:
        path = HERE / name
        if not path.is_file():
            print(f"== {name}: not present, skipped\n")
            continue
        print(f"== {name}", flush=True)
        rc = subprocess.call([sys.executable, str(path)])
        status |= rc
        print(flush=True)
    return status


if __name__ == "__main__":
    assert importlib.util.find_spec("querytrack") is not None, "install the project first (make install)"
    raise SystemExit(main())
