"""Every Bengali lesson runs top to bottom in a real kernel, and everything it shows is read for English prose
(the rule and its exceptions: tests/test_bengali_prose.py). This is the one run of every lesson's code cells
(the English lessons hold the same cells; tests/test_notebooks.py runs their checkpoints): each cell runs
without an error, and nothing a cell started is left running after the last. Here, besides that rule, the body rows of a
table are data, not the lesson's words: the messages the experiment's clients sent and received.

The checkpoint cell (tag "checkpoint") is skipped here: it is the slowest cell of a lesson (a whole grade)
and what it shows in Bengali is proved elsewhere: every stage's pass as a Bengali checkpoint cell
shows it by tests/test_kit_messages_bn.py::test_each_stages_pass_shows_in_bengali, and
tests/test_notebooks.py runs two Bengali lessons' checkpoint cells in a kernel (issue 17: the suite
must shrink). Every other cell runs, in order, as the learner runs it.
"""
from __future__ import annotations

import re

import pytest

from conftest import KIT_ROOT, lessons_tree
from notebook_runner import assert_nothing_survives, cell_text, describe, execute, survivors
from test_bengali_prose import english_prose

from kit.course import catalogue

LESSONS = [name for name in (catalogue.WELCOME_NOTEBOOK, *(stage.notebook for stage in catalogue.STAGES))
           if (catalogue.NOTEBOOKS_DIR / "bn" / name).exists()]
SKIPPED = {"checkpoint"}
DATA_LINE = re.compile(r"^\s*│")


def shown(cell) -> str:
    """What a code cell showed: its text, and the Markdown or HTML it displayed."""
    parts = [cell_text(cell)]
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        parts += [data.get("text/markdown", ""), re.sub(r"<[^>]+>", " ", data.get("text/html", ""))]
    return "\n".join(parts)


def test_every_bengali_lesson_is_read():
    """The list is the catalogue's: a lesson added to the course is read here without a second list."""
    assert len(LESSONS) == 1 + len(catalogue.STAGES), f"Bengali lessons missing from notebooks/bn/: {LESSONS}"


@pytest.mark.parametrize("name", LESSONS, ids=[name.split("_")[0] for name in LESSONS])
def test_a_bengali_lesson_shows_no_english_prose(name, tmp_path):
    stage = next((s for s in catalogue.STAGES if s.notebook == name), None)
    tree = lessons_tree(stage, tmp_path / "t")
    left_by_cells = []  # what still runs after the last cell, while the kernel lives
    nb, pid = execute(KIT_ROOT / "notebooks" / "bn" / name, tree, skip=SKIPPED, timeout=300,
                      after_last_cell=lambda: left_by_cells.extend(describe(survivors(tree, None))))
    assert not left_by_cells, f"notebooks/bn/{name}: its last cells did not stop {left_by_cells}"
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    # the selection itself: no checkpoint ran, and every other code cell did
    assert not [c for c in code if SKIPPED & set(c.metadata.get("tags", []))], "a skipped cell ran"
    assert all(c.execution_count for c in code), f"notebooks/bn/{name}: a code cell did not run"
    found = []
    for cell in code:
        text = "\n".join(line for line in shown(cell).splitlines() if not DATA_LINE.match(line))
        found += [f"cell {cell.get('id')}: {run}" for run in english_prose(text)]
    assert not found, f"notebooks/bn/{name} shows English prose:\n" + "\n".join(found)
    assert_nothing_survives(tree, pid)
