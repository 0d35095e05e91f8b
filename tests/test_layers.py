"""The kit's folders are its layers, and imports point one way: down (issue 19; docs/architecture.md).

A module may import its own package and the layers below it, never one above it nor a sibling of the same
height: that keeps the sandbox free of the gradebook, the grader free of the notebooks, and every layer
testable with only what is under it. The checks (exercises/) sit beside the grading layer.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from conftest import KIT_ROOT

# Lowest first. Layers on one line are siblings: neither imports the other.
LAYERS = [
    ("course",),
    ("isolation",),
    ("services",),
    ("grading",),
    ("output",),
    ("class_grading", "lessons", "benchmark"),
    ("commands",),
]
HEIGHT = {name: height for height, names in enumerate(LAYERS) for name in names}
FACES = {"kit/__init__.py", "kit/__main__.py", "kit/notebook.py"}   # the package's front doors: import anything
CHECKS_MAY_IMPORT = {"course", "isolation", "services", "grading"}


def kit_imports(path: Path) -> list[tuple[int, str]]:
    """Every kit module a file imports (top level or inside a function), as (line, dotted name)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "kit":
            names = [node.module] if node.module != "kit" else [f"kit.{a.name}" for a in node.names]
            found += [(node.lineno, name) for name in names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "kit"]
    return found


def layer_of(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in HEIGHT else None


def modules() -> list[Path]:
    return sorted(p for p in (KIT_ROOT / "kit").rglob("*.py") if "lab" not in p.relative_to(KIT_ROOT / "kit").parts)


def test_every_module_of_the_kit_is_in_a_layer_or_a_front_door():
    stray = [str(p.relative_to(KIT_ROOT)) for p in modules()
             if str(p.relative_to(KIT_ROOT)) not in FACES and p.relative_to(KIT_ROOT / "kit").parts[0] not in HEIGHT]
    assert not stray, f"modules outside every layer (put each in the package of its layer): {stray}"
    for name in HEIGHT:
        doc = ast.get_docstring(ast.parse((KIT_ROOT / "kit" / name / "__init__.py").read_text(encoding="utf-8")))
        assert doc and "import" in doc.lower(), f"kit/{name}/__init__.py must say what the layer owns and what it may import"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(KIT_ROOT)))
def test_imports_point_down(path):
    relative = str(path.relative_to(KIT_ROOT))
    if relative in FACES:
        return
    own = path.relative_to(KIT_ROOT / "kit").parts[0]
    wrong = []
    for line, dotted in kit_imports(path):
        other = layer_of(dotted)
        if other == own:
            continue
        if other is None or HEIGHT[other] >= HEIGHT[own]:
            wrong.append(f"line {line}: {dotted}")
    assert not wrong, (f"{relative} ({own}) imports a layer at or above its own, or a front door: {wrong}. "
                       "Move the shared piece down, or the importing code up.")


def test_the_checks_import_only_the_layers_under_the_checker():
    wrong = []
    for path in sorted((KIT_ROOT / "exercises").rglob("*.py")):
        for line, dotted in kit_imports(path):
            if layer_of(dotted) not in CHECKS_MAY_IMPORT:
                wrong.append(f"{path.relative_to(KIT_ROOT)}:{line}: {dotted}")
    assert not wrong, f"a check imports a layer above grading (or a front door): {wrong}"


def test_the_rule_catches_an_upward_import(tmp_path):
    """The rule can fail: an import of the gradebook from the sandbox's layer is reported."""
    bad = tmp_path / "probe.py"
    bad.write_text("def f():\n    from kit.class_grading import gradebook\n", encoding="utf-8")
    [(line, dotted)] = kit_imports(bad)
    assert (line, layer_of(dotted)) == (2, "class_grading") and HEIGHT["class_grading"] > HEIGHT["isolation"]


MAX_LINES = 350   # a module that fits on a screen or two (issue 19)


def test_no_module_of_the_kit_or_the_checks_tools_is_over_the_cap():
    """A stage's own checks (exercises/test_<stage>.py) are one module each by the catalogue's contract
    (Stage.checkpoint), so the cap holds for the kit and for the tools the checks share."""
    places = modules() + sorted((KIT_ROOT / "exercises" / "support").glob("*.py"))
    long = {str(p.relative_to(KIT_ROOT)): n for p in places
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split each along a seam of its job): {long}"
