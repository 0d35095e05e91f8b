"""The kit's modules import without a cycle, and each one imports on its own in a fresh interpreter.

A cycle makes a module's meaning depend on which one was imported first (and
`kit bench` once imported kit/cli.py, which imported it back). Imports inside
functions count too: they are cycles that wait for a call.
"""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from conftest import KIT_ROOT

PACKAGE = KIT_ROOT / "kit"
MODULES = sorted(f"kit.{path.stem}" for path in PACKAGE.glob("*.py") if path.stem not in ("__init__", "__main__"))


def imported_kit_modules(module: str) -> set[str]:
    """The kit modules that module imports anywhere in its text (kit itself, the package, is not one)."""
    path = PACKAGE / f"{module.removeprefix('kit.')}.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = "kit" if node.level == 1 else node.module or ""
            if node.level == 1 and node.module:
                base = f"kit.{node.module}"
            if base == "kit":  # from . import catalogue, render
                found |= {f"kit.{alias.name}" for alias in node.names}
            elif base.startswith("kit."):
                found.add(base)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("kit.")}
    return {name for name in found if name in MODULES and name != module}


def cycle_from(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle, as a path that returns to its start, or []."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_the_kit_has_no_import_cycle():
    graph = {module: imported_kit_modules(module) for module in MODULES}
    assert "kit.cli" in graph["kit.bench"] or "kit.bench" in graph["kit.cli"], "the graph should see real imports"
    cycle = cycle_from(graph)
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle():
    assert cycle_from({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_from({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_alone(module):
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120,
                          cwd=KIT_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
