"""Bengali lessons run top to bottom in a real kernel, and everything they show is read for English prose
(the rule and its exceptions: tests/test_bengali_prose.py). Here, besides that rule, the body rows of a
table are data, not the lesson's words: the messages the experiment's clients sent and received."""
from __future__ import annotations

import re

import pytest
from conftest import KIT_ROOT, copy_tree, solved_through
from notebook_runner import cell_text, execute
from test_bengali_prose import english_prose

from kit import catalogue

LESSONS = ["00_welcome.ipynb", "03_consumer.ipynb", "04_routing.ipynb"]
DATA_LINE = re.compile(r"^\s*│")


def shown(cell) -> str:
    """What a code cell showed: its text, and the Markdown or HTML it displayed."""
    parts = [cell_text(cell)]
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        parts += [data.get("text/markdown", ""), re.sub(r"<[^>]+>", " ", data.get("text/html", ""))]
    return "\n".join(parts)


@pytest.mark.parametrize("name", LESSONS)
def test_a_bengali_lesson_shows_no_english_prose(name, tmp_path):
    stage = next((s for s in catalogue.STAGES if s.notebook == name), None)
    tree = solved_through(stage, tmp_path / "t") if stage else copy_tree(KIT_ROOT / "solutions", tmp_path / "t")
    nb, _pid = execute(KIT_ROOT / "notebooks" / "bn" / name, tree, timeout=300)
    found = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        text = "\n".join(line for line in shown(cell).splitlines() if not DATA_LINE.match(line))
        found += [f"cell {cell.get('id')}: {run}" for run in english_prose(text)]
    assert not found, f"notebooks/bn/{name} shows English prose:\n" + "\n".join(found)
