"""Each lesson's checkpoint fails kindly on the starter: it says what failed and gives a hint.

Apart from tests/test_notebooks.py so that xdist (--dist loadfile) can run it beside the lessons' runs.
Every English lesson runs its lesson() and checkpoint cells in a real kernel on a fresh copy of the
starter. In Bengali one lesson does: the Bengali checkpoint cells are the English ones
(tests/test_bengali.py), the Bengali grade of the starter is the English one with every failure
translated, and each stage's failure shown in Bengali with its hint, as check() shows it, is
tests/test_kit_messages_bn.py::test_each_stages_failure_shows_in_bengali_with_its_hint.
"""
from __future__ import annotations

import pytest
from conftest import MUST_FAIL, STARTER, copy_tree
from notebook_runner import assert_nothing_survives, cell_text, execute, lesson_notebooks, stage_of

from kit.course import catalogue

STAGE_NOTEBOOKS = [path for path in lesson_notebooks() if stage_of(path)]
BENGALI = [catalogue.NOTEBOOKS_DIR / "bn" / STAGE_NOTEBOOKS[0].name]  # the kernel in notebooks/bn/ speaks Bengali
RUN = STAGE_NOTEBOOKS + [path for path in BENGALI if path.exists()]
RUN_TIMEOUT = 600  # per cell; only stops a hang, never a verdict
# The starter must fail: a second try under load (kit/grading/busy.py) could only make it fail again, later.
def ids(paths):
    return [path.stem if path.parent == catalogue.NOTEBOOKS_DIR else f"{path.parent.name}-{path.stem}"
            for path in paths]


@pytest.mark.parametrize("path", RUN, ids=ids(RUN))
def test_checkpoint_fails_kindly_on_the_starter(path, tmp_path):
    stage = stage_of(path)
    if not stage.available:
        pytest.skip(f"stage {stage.id} has no checkpoint yet")
    tree = copy_tree(STARTER, tmp_path / "starter")
    nb, kernel_pid = execute(path, tree, tags={"setup", "checkpoint"}, timeout=RUN_TIMEOUT, env=MUST_FAIL)
    # execute() raises if the cell raised; here it must also say plainly what failed and what to try.
    checkpoint = [c for c in nb.cells if c.cell_type == "code" and "checkpoint" in c.metadata.get("tags", [])]
    text = cell_text(checkpoint[0])
    bengali = "bn" in path.parts  # a Bengali lesson speaks Bengali
    failed = "ফেল" if bengali else f"Checkpoint {stage.id}: not passed yet"
    assert failed in text, f"{path.name}: no failure reported:\n{text}"
    hint_label = "হিন্ট" if bengali else "hint:"
    assert ("ফেল" if bengali else "fail") in text and hint_label in text, f"{path.name}: the failure shows no hint:\n{text}"
    assert_nothing_survives(tree, kernel_pid)
