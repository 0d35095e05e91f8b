"""The kit's modules import without a cycle, and each one imports on its own in a fresh interpreter.

A cycle makes a module's meaning depend on which one was imported first (and
`kit bench` once imported kit/commands/cli.py, which imported it back). Imports inside
functions count too: they are cycles that wait for a call.
"""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from conftest import KIT_ROOT

PACKAGE = KIT_ROOT / "kit"


def _dotted(path) -> str:
    parts = path.relative_to(KIT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


# Python files in a folder without __init__.py are data, not modules (kit/lab/jupyter_lab_config.py is JupyterLab's).
FILES = {_dotted(path): path for path in PACKAGE.rglob("*.py")
         if path.stem != "__main__" and (path.parent / "__init__.py").exists()}
MODULES = sorted(name for name, path in FILES.items() if path.stem != "__init__")


def imported_kit_modules(module: str) -> set[str]:
    """The kit modules that module imports anywhere in its text (a package itself is not one)."""
    path = FILES[module]
    package = module if path.stem == "__init__" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:   # from . import catalogue; from ..i18n import T
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
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
    assert "kit.benchmark.bench" in graph["kit.commands.instructor"], "the graph should see real imports"
    assert "kit.commands.common" in graph["kit.commands.learner"] and "kit.course.i18n" in graph["kit.commands.learner"]
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
