"""Print the import dependencies between querytrack's packages (the facts behind docs/architecture.md).

Run from the repository root: ``python docs/package_deps.py`` (``-v``: every module edge). It parses every module of ``querytrack/`` with
``ast`` (no import is executed) and reports, for each package (``data``, ``modeling``, ...; top-level modules as
``<top>/<name>``), the packages it imports at module level or inside functions, and every module-level edge that
makes two packages depend on each other.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "querytrack"


def unit_of(module: str) -> str:
    """``querytrack.data.rle`` → ``data``; ``querytrack.run`` → ``<top>/run``; ``querytrack`` → ``<top>``."""
    parts = module.split(".")
    if len(parts) == 1:
        return "<top>"
    if (ROOT / parts[1]).is_dir():
        return parts[1]
    return f"<top>/{parts[1]}"


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[str, bool]]:
    """(imported querytrack module, at module level?) for every import in ``path``.

    "Module level" means not inside a function body (imports under ``if``/``try`` at the top count).
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    pkg = module_name(path).split(".")
    if path.name != "__init__.py":
        pkg = pkg[:-1]
    out: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[: len(pkg) - node.level + 1]
                names = [".".join(base + ([node.module] if node.module else []))]
            elif node.module:
                names = [node.module]
        out.extend((n, not in_function) for n in names if n == "querytrack" or n.startswith("querytrack."))
        inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return out


def main() -> int:
    edges: dict[tuple[str, str], set[str]] = defaultdict(set)
    lazy: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in sorted(ROOT.rglob("*.py")):
        src = module_name(path)
        for target, top in imports_of(path):
            a, b = unit_of(src), unit_of(target)
            if a == b:
                continue
            (edges if top else lazy)[(a, b)].add(f"{src} -> {target}")
    verbose = "-v" in sys.argv[1:]
    units = sorted({u for e in list(edges) + list(lazy) for u in e})
    print("# module-level imports between packages (A -> B: A imports B)")
    for a in units:
        deps = sorted(b for (x, b) in edges if x == a)
        if deps:
            print(f"{a:20s} -> {', '.join(deps)}")
            if verbose:
                for b in deps:
                    for why in sorted(edges[(a, b)]):
                        print(f"    {why}")
    print("\n# imports inside functions only (lazy)")
    for (a, b), why in sorted(lazy.items()):
        if (a, b) not in edges:
            print(f"{a:20s} -> {b:12s} {'; '.join(sorted(why))}")
    print("\n# package pairs that import each other (module-level edges)")
    for a, b in sorted(edges):
        if a < b and (b, a) in edges:
            print(f"{a} <-> {b}")
            for why in sorted(edges[(a, b)] | edges[(b, a)]):
                print(f"    {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
