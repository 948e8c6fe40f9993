"""Every command the README and docs/ show runs: Hydra entry points compose, the other tools answer ``--help``.

The commands are the ``python -m querytrack…`` and ``querytrack-…`` lines of the fenced code blocks of README.md and
docs/*.md (after a ``srun`` / ``exec`` prefix too, continuation lines joined, comments dropped). Placeholders such as
``<run>`` or ``CKPT`` stay as they are: composing does not open files. Each check runs in-process (no subprocess per
command), so the test stays fast.
"""

from __future__ import annotations

import importlib
import re
import shlex
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from tests.hydra_config import compose_config

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
HYDRA = {"querytrack.run": "train", "querytrack.evaluate_checkpoint": "eval"}
COMMAND = re.compile(r"(python -m querytrack[\w.]*|querytrack-[a-z-]+)(\s.*)?$")


def _scripts() -> dict[str, str]:
    """Console script → module, as installed (``pyproject.toml``'s ``[project.scripts]``)."""
    return {
        ep.name: ep.module
        for ep in entry_points(group="console_scripts")
        if ep.name.startswith("querytrack-")
    }


def _fenced_lines(text: str) -> list[str]:
    lines, inside, pending = [], False, ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("```"):
            inside = not inside
            continue
        if not inside:
            continue
        line = pending + raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        lines.append(line)
    return lines


def commands() -> list[tuple[str, str, list[str]]]:
    """(where, module, arguments) of every command shown."""
    scripts = _scripts()
    found = []
    for doc in DOCS:
        for line in _fenced_lines(doc.read_text()):
            if line.startswith("#"):
                continue
            match = COMMAND.search(re.split(r"\s+#\s", line)[0])
            if not match or "pip " in line:
                continue
            prefix = line[: match.start()].split()
            if prefix and prefix[0] not in ("srun", "exec"):
                continue  # a command quoted inside a message or a sentence, not one to run
            head, rest = match.group(1), (match.group(2) or "").strip()
            module = head.split()[-1] if head.startswith("python") else scripts.get(head)
            if module is None:
                continue  # e.g. a wheel file name, not a command
            found.append((f"{doc.name}: {line[:80]}", module, shlex.split(rest)))
    return found


CASES = commands()


def test_the_docs_show_commands() -> None:
    modules = {m for _, m, _ in CASES}
    assert {
        "querytrack.run",
        "querytrack.evaluate_checkpoint",
        "querytrack.demo",
        "querytrack.score",
    } <= modules


def _first_of_sweeps(overrides: list[str]) -> list[str]:
    """``a=1,2`` → ``a=1`` (the first job of a multirun), the rest as given."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    out = []
    for text, override in zip(overrides, parsed, strict=True):
        if override.is_sweep_override():
            first = next(iter(override.sweep_string_iterator()))
            out.append(f"{override.get_key_element()}={first}")
        else:
            out.append(text)
    return out


@pytest.mark.parametrize(("where", "module", "args"), CASES, ids=[c[0] for c in CASES])
def test_every_shown_command_composes_or_answers_help(
    where: str, module: str, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    if module in HYDRA:
        overrides, search = [], []
        it = iter(args)
        for arg in it:
            if arg in ("-m", "--multirun"):
                continue
            if arg == "--cfg":
                next(it)
            elif arg in ("--config-dir", "-cd"):
                search.append(f"file://{(ROOT / next(it)).resolve()}")
            else:
                overrides.append(re.sub(r"<[^>]*>", "X", arg))
        if search:
            overrides.append(f"hydra.searchpath=[{','.join(search)}]")
        cfg = compose_config(
            *_first_of_sweeps(overrides), config_name=HYDRA[module], return_hydra_config=True
        )
        assert cfg.task_name, where
        return
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code in (0, None), where
    assert "usage" in capsys.readouterr().out.lower(), where
