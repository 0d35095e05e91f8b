"""The lessons: every notebook's checkpoint passes on its stage's tree and fails kindly on the starter.

Each notebook in notebooks/ runs in a real ipykernel (nbclient) with KIT_PROJECT
set to a fresh copy of a tree; daphne, kernels and checkpoint processes are real.
New notebooks (redis, hardening) are picked up from the catalogue as they land.
"""
from __future__ import annotations

import re
import socket

import nbformat
import psutil
import pytest
from conftest import SOLUTIONS, STARTER, copy_tree, lessons_tree
from notebook_runner import assert_nothing_survives, cell_text, describe, execute, lesson_notebooks, stage_of, survivors

from kit.course import catalogue
from kit.isolation.procs import wait_until

NOTEBOOKS = lesson_notebooks()
STAGE_NOTEBOOKS = [path for path in NOTEBOOKS if stage_of(path)]
# Every lesson's code cells are one list in two languages (tests/test_bengali.py::test_code_cells_are_the_
# english_ones): they run once, top to bottom, in the Bengali lesson, which is also read for English prose
# there, and leave nothing running (tests/test_bengali_lessons_run.py). A cell's code reaches the language
# only through the kit's messages, whose two versions share their placeholders (tests/test_kit_messages_bn.py),
# so a second run in English would prove nothing more (issue 17: the suite must shrink). Here each English
# lesson runs its setup and checkpoint cells: the checkpoint passes on its stage's tree, in a kernel, as the
# lesson writes it; and two Bengali lessons do the same (lesson() and a checkpoint in a kernel of
# notebooks/bn/: the welcome, and a lesson whose checkpoint re-checks earlier stages).
BENGALI = [catalogue.NOTEBOOKS_DIR / "bn" / name for name in (catalogue.WELCOME_NOTEBOOK, catalogue.get("hardening").notebook)
           if (catalogue.NOTEBOOKS_DIR / "bn" / name).exists()]
RUN = NOTEBOOKS + BENGALI
SAYING = {"setup", "checkpoint"}  # the cells that run here: the lesson's set-up and what its checkpoint says
RUN_TIMEOUT = 600  # per cell; only stops a hang, never a verdict


def ids(paths):
    return [path.stem if path.parent == catalogue.NOTEBOOKS_DIR else f"{path.parent.name}-{path.stem}"
            for path in paths]


def read(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb, tag=None):
    return [c for c in nb.cells if c.cell_type == "code" and (tag is None or tag in c.metadata.get("tags", []))]


# -- the notebooks as committed ---------------------------------------------------
def test_every_notebook_in_the_folder_is_in_the_catalogue():
    known = {catalogue.WELCOME_NOTEBOOK, *(s.notebook for s in catalogue.STAGES)}
    stray = sorted(p.name for p in catalogue.NOTEBOOKS_DIR.glob("*.ipynb") if p.name not in known)
    assert not stray, f"notebooks not named in kit/course/catalogue.py: {stray}"
    assert catalogue.NOTEBOOKS_DIR / catalogue.WELCOME_NOTEBOOK in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_committed_without_outputs(path):
    dirty = [i for i, c in enumerate(read(path).cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} hold outputs or execution counts; " \
                      f"run `jupyter nbconvert --clear-output --inplace notebooks/{path.name}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_opens_with_goals_time_and_setup(path):
    nb = read(path)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), f"{path.name}: first cell is not a title"
    assert "You will be able to" in first.source and "Time:" in first.source, \
        f"{path.name}: the first cell must say what the learner will be able to do and how long it takes"
    first_code = code_cells(nb)[0]
    assert "setup" in first_code.metadata.get("tags", []) and "lesson(" in first_code.source, \
        f"{path.name}: the first code cell must be the `lesson(...)` cell, tagged setup"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_holds_no_copy_of_a_project_file(path):
    for cell in code_cells(read(path)):
        assert "%%writefile" not in cell.source, f"{path.name}: %%writefile keeps a second copy of a file"
        assert not re.search(r"\.write_text\(|open\([^)]*['\"][wa]b?['\"]", cell.source), \
            f"{path.name}: a cell writes a file:\n{cell.source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_relative_links_lead_to_real_files(path):
    """Links to project files and to other lessons open in JupyterLab; a typo would lead nowhere."""
    for cell in read(path).cells:
        if cell.cell_type != "markdown":
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", cell.source):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if stage_of(target) or target == catalogue.WELCOME_NOTEBOOK:
                continue  # a lesson still being written keeps its place in the order
            assert (path.parent / target).exists(), f"{path.name} links {target}, which does not exist"


@pytest.mark.parametrize("path", STAGE_NOTEBOOKS, ids=ids(STAGE_NOTEBOOKS))
def test_checkpoint_cell_names_this_notebooks_stage(path):
    nb, stage = read(path), stage_of(path)
    checkpoints = code_cells(nb, "checkpoint")
    assert len(checkpoints) == 1, f"{path.name}: needs exactly one code cell tagged checkpoint"
    source = checkpoints[0].source
    assert "from kit import check" in source, f"{path.name}: the checkpoint cell must import check from kit"
    named = re.findall(r"check\(\s*['\"](\w+)['\"]", source)
    assert named == [stage.id], f"{path.name}: its checkpoint grades {named}; the catalogue says {stage.id!r}"
    after = nb.cells[nb.cells.index(checkpoints[0]) + 1:]
    assert any(c.cell_type == "markdown" and "Recap" in c.source for c in after), \
        f"{path.name}: the checkpoint must be followed by a recap"


def test_welcome_has_no_checkpoint():
    welcome = read(catalogue.NOTEBOOKS_DIR / catalogue.WELCOME_NOTEBOOK)
    assert not code_cells(welcome, "checkpoint")


# -- running them -------------------------------------------------------------------
@pytest.mark.parametrize("path", RUN, ids=ids(RUN))
def test_checkpoint_cell_passes_on_the_solutions(path, tmp_path):
    # A lesson runs on the tree its learner holds when they reach it: every stage up to its own solved.
    # (The finished tree is later stages ahead: from `users` on, an anonymous socket only reads.)
    stage = stage_of(path)
    tree = lessons_tree(stage, tmp_path / "solved", through_its_cells=True)
    left_by_cells = []  # what still runs after the last cell, while the kernel lives
    nb, kernel_pid = execute(path, tree, tags=SAYING, timeout=RUN_TIMEOUT,  # raises, naming the cell, if one fails
                             after_last_cell=lambda: left_by_cells.extend(describe(survivors(tree, None))))
    assert not left_by_cells, f"{path.name}: its last cells did not stop {left_by_cells}"
    for cell in code_cells(nb, "checkpoint"):
        text, stage = cell_text(cell), stage_of(path)
        passed = f"চেকপয়েন্ট {stage.id}: পাস" if "bn" in path.parts else f"Checkpoint {stage.id}: passed"
        expected = passed if stage.available else "not yet available"
        assert expected in text, f"{path.name}: the checkpoint did not pass on the solutions:\n{text}"
    assert_nothing_survives(tree, kernel_pid)


def test_the_leak_check_sees_a_left_over_server(tmp_path):
    """The leak check must be able to fail: a process working in the tree counts as a survivor."""
    import sys

    from kit.isolation.procs import spawn, stop_tree

    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    sleeper = spawn([sys.executable, "-c", "import time; time.sleep(60)"], cwd=tree)
    try:
        assert [p.pid for p in survivors(tree, None)] == [sleeper.pid]
        with pytest.raises(AssertionError, match="outlived"):
            assert_nothing_survives(tree, sleeper.pid, timeout=0.5)
    finally:
        stop_tree(sleeper)
    assert not survivors(tree, None)


# -- the helpers the lessons lean on ---------------------------------------------------
def test_serve_reuses_the_running_server_and_restart_replaces_it(solved_tree):
    from kit.notebook import serve, stop

    try:
        first = serve(solved_tree)
        pid = first.process.pid
        again = serve(solved_tree)
        assert again is first and again.process.pid == pid, "re-running serve() started a second daphne"
        fresh = serve(solved_tree, restart=True)
        assert fresh.running and fresh.process.pid != pid
        assert wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie", 10), \
            "the old daphne outlived serve(restart=True)"
        # the chat pages already open reconnect to the address they had (lesson 05 tells learners so)
        assert fresh.port == first.port, "serve(restart=True) moved daphne to another port: open pages are stranded"
        fresh.stop()
        with socket.socket() as squatter:   # someone took the port meanwhile: the restart picks a free one
            squatter.bind(("127.0.0.1", first.port))
            squatter.listen()
            moved = serve(solved_tree, restart=True)
            assert moved.running and moved.port != first.port
    finally:
        stop(solved_tree)
    assert not survivors(solved_tree, None)


def test_bad_tree_and_unknown_stage_get_plain_messages(tmp_path, monkeypatch):
    from kit.notebook import LessonError, lesson, use_project

    monkeypatch.setenv("KIT_PROJECT", str(tmp_path / "nowhere"))
    with pytest.raises(LessonError, match="does not exist.*KIT_PROJECT"):
        lesson("settings")
    with pytest.raises(LessonError, match="does not exist"):
        use_project()
    monkeypatch.setenv("KIT_PROJECT", str(SOLUTIONS))
    with pytest.raises(LessonError, match="unknown stage 'nope'; the stages are: settings"):
        lesson("nope")


def test_check_never_raises_and_always_shows_a_sentence(tmp_path, monkeypatch):
    """The checkpoint cell's result: never None, never an exception, and it says what went wrong."""
    import html

    from kit import check
    from kit.grading import grader

    monkeypatch.setenv("KIT_PROJECT", str(SOLUTIONS))
    for result, words in ((check("nope"), "unknown stage 'nope'"),
                          (check("settings", project=tmp_path / "nowhere"), "does not exist")):
        assert result is not None and not result.passed and result.report is None
        assert "not graded" in repr(result) and words in repr(result)
        assert html.escape(words) in result._repr_html_()

    def broken(*args, **kwargs):
        raise RuntimeError("the grader fell over\nwith a traceback nobody should see")

    monkeypatch.setattr(grader, "grade", broken)
    result = check("settings")
    assert repr(result) == "Checkpoint settings: not graded. The grader could not run: the grader fell over."


def test_check_leaves_the_lessons_daphne_running(solved_tree):
    """check() grades in the kernel's own process: the daphne a lesson serve()d is no leftover of the checks."""
    from kit import check
    from kit.notebook import serve, stop

    try:
        server = serve(solved_tree)
        assert check("settings", project=solved_tree).passed
        assert server.running, "check() stopped the lesson's background daphne"
    finally:
        stop(solved_tree)
