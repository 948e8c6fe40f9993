"""Shared checks of the bad-input tests: run a tool's ``main`` in-process, assert the one-line refusal."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from querytrack.testing.fake_results import make_gt, make_results

GARBAGE_COUNTS = ["\x7f\x7f!!", "zzzzzzzzzz", "0", "o", "1" * 40, "é3", "PP", "`", "0o0o0o"]


def small_gt() -> dict[str, Any]:
    """A 3-video ground truth of small frames (compressed RLE, boxes, areas, file names)."""
    return make_gt(3, num_categories=2, seed=0, frames=(3, 4), sizes=((24, 32),), max_objects=2)


def small_results(gt: dict[str, Any]) -> list[dict[str, Any]]:
    return make_results(gt, seed=0, false_positives=1)


def write(path: Path, obj: Any) -> Path:
    path.write_text(json.dumps(obj))
    return path


def digest(paths: list[Path]) -> dict[str, str]:
    """sha256 of every file under ``paths`` (files or folders; missing ones map to '')."""
    out: dict[str, str] = {}
    for p in paths:
        files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
        for f in files:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest() if f.is_file() else ""
    return out


def assert_refused(
    main: Callable[[list[str]], int],
    argv: list[str],
    capsys: pytest.CaptureFixture[str],
    tool: str,
    culprit: str | Path,
    *needles: str,
    inputs: list[Path] | None = None,
    one_line: bool = True,
) -> str:
    """Run ``main(argv)``: exit code 1, stderr's first line ``tool: culprit...`` holding every needle (on that
    one line unless ``one_line`` is False: several problems are listed below a summary line), no traceback,
    inputs byte-identical. Returns stderr."""
    inputs = inputs or []
    before = digest(inputs)
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "Traceback" not in err
    first = err.splitlines()[0]
    assert first.startswith(f"{tool}: {culprit}"), err
    if one_line:
        assert len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    assert digest(inputs) == before
    return err
