"""Every Bengali lesson runs top to bottom in a real kernel, and everything it shows is read for English prose
(the rule and its exceptions: tests/test_bengali_prose.py). Here, besides that rule, the body rows of a
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
import shutil

from conftest import KIT_ROOT, SOLUTIONS, copy_tree, solved_through
from notebook_runner import assert_nothing_survives, cell_text, execute
from test_bengali_prose import english_prose

from kit import catalogue

LESSONS = [name for name in (catalogue.WELCOME_NOTEBOOK, *(stage.notebook for stage in catalogue.STAGES))
           if (catalogue.NOTEBOOKS_DIR / "bn" / name).exists()]
SKIPPED = {"checkpoint"}
DATA_LINE = re.compile(r"^\s*│")


def learners_tree(stage, dest):
    """The tree a learner holds on opening the lesson: every stage before it solved, and from `history` on the
    migration lesson 11 made with makemigrations (solved_through writes the catalogued files only; without
    it lesson 12's consumer logs "no such table")."""
    if stage is None:
        return copy_tree(SOLUTIONS, dest)
    tree = solved_through(stage, dest)
    if catalogue.STAGES.index(stage) > catalogue.STAGES.index(catalogue.get("history")):
        shutil.copytree(SOLUTIONS / "myapp" / "migrations", tree / "myapp" / "migrations", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tree


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
    tree = learners_tree(stage, tmp_path / "t")
    nb, pid = execute(KIT_ROOT / "notebooks" / "bn" / name, tree, skip=SKIPPED, timeout=300)
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
