"""Headline figures of one benchmark, written as json for ``run_all.py``'s combined table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_summary_argument(parser: argparse.ArgumentParser) -> None:
    """``--summary PATH``: also write the headline figures there (``make bench`` collects them)."""
    parser.add_argument("--summary", help="write the headline figures to this json file (make bench)")


def write_summary(path: str | None, figures: dict[str, float | str]) -> None:
    """Write ``figures`` (name → value) to ``path`` when one was given."""
    if path:
        Path(path).write_text(json.dumps(figures, indent=1))
