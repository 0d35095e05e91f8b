"""The checkpoint cell as JupyterLab shows it: run in a real kernel, it leaves exactly one output.

rich's Console turns Jupyter-aware inside a kernel and displays each print itself, so a recording
console once showed the table three times (display_data, display_data, execute_result), two of them
cut off at the notebook's right edge. The kernel here is the one JupyterLab starts (nbclient, python3),
working in the lesson's folder, so notebooks/bn/ speaks Bengali as a learner's kernel does.
"""
from __future__ import annotations

import os

import pytest
from conftest import KIT_ROOT

from kit.course import catalogue

CELLS = [
    'from kit import check\ncheck("settings")',
    # A second checkpoint in the same kernel: grading leaves no zombie behind ("[bwrap] <defunct>").
    'check("settings", "asgi")\nimport psutil\n'
    'print("zombies:", [c.name() for c in psutil.Process().children(recursive=True) if c.status() == "zombie"])',
]


def run_cells(folder, project, cells=CELLS):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    env = dict(os.environ, KIT_PROJECT=str(project))
    env.pop("KIT_LANG", None)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute(env=env)
    return nb


@pytest.mark.parametrize("lang", ["en", "bn"])
def test_a_checkpoint_cell_shows_one_table_that_wraps(lang, starter_tree):
    from kit.course.i18n import gettext_in

    folder = catalogue.NOTEBOOKS_DIR / ("bn" if lang == "bn" else "")
    nb = run_cells(folder, starter_tree)
    # The live "Grading ..." line is removed when the table arrives: JupyterLab draws even an emptied
    # display as a row of its own, so every output counts here, empty or not.
    outputs = nb.cells[0].outputs
    kinds = [output.output_type for output in outputs]
    assert kinds == ["execute_result"], f"a checkpoint cell should show one result, not {kinds}"
    html = outputs[0].data["text/html"]
    assert html.count("<table") == 1, "the verdict table is shown more than once"
    # An HTML table wraps to the notebook's width: no fixed-width <pre> grid that runs off the right edge.
    assert "<pre" not in html and "width:100%" in html
    assert gettext_in(lang, "what to fix next") in html and gettext_in(lang, "fail") in html
    if lang == "bn":
        assert "INSTALLED_APPS" in html and "what to fix next" not in html
    plain = outputs[0].data["text/plain"]
    assert plain.count(gettext_in(lang, "score {score} / {max_score}   (isolation: {isolation})").split("{")[0]) == 1
    assert all(len(line) <= 100 for line in plain.splitlines()[:-1]), "the plain table is wider than 100 columns"

    printed = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert "zombies: []" in printed, f"grading left zombies under the kernel: {printed}"


RECOVER = '''
import sys
from pathlib import Path
from kit.notebook import LessonError, load, use_project
tree = Path(sys.argv[1])
settings = tree / "myproject" / "settings.py"
good = settings.read_text()
settings.write_text(good.replace('"channels"', '"channel"', 1))
for attempt in range(2):
    try:
        use_project(tree)
    except LessonError as exc:
        print("error:", exc)
settings.write_text(good)
use_project(tree)
from django.conf import settings as django_settings
print("set up:", "channels" in django_settings.INSTALLED_APPS, load("myapp.consumers").ChatConsumer.__name__)
'''


def test_use_project_recovers_from_a_typo_in_settings_without_a_restart(solved_tree):
    """A typo in INSTALLED_APPS, then the fix: the same kernel sets Django up (it once said
    "populate() isn't reentrant" until the kernel was restarted)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", RECOVER, str(solved_tree)], capture_output=True, text=True,
                          timeout=120, cwd=KIT_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    errors = [line for line in done.stdout.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and all("No module named 'channel'" in line for line in errors), done.stdout
    assert "reentrant" not in done.stdout
    assert "set up: True ChatConsumer" in done.stdout, done.stdout


def test_a_long_checkpoint_shows_a_live_line_that_it_removes_at_the_end(tmp_path, starter_tree):
    """A checkpoint can take a minute on a busy laptop: a line says it is grading (and what is done) while
    the cell runs, drawn by the kernel, and is removed when the verdict arrives."""
    drawn = 'from kit.lessons.gradingline import GradingLine\nline = GradingLine(["users"])\nline.began -= 65\nline.tick()'
    shown = run_cells(catalogue.NOTEBOOKS_DIR, starter_tree, [drawn]).cells[0].outputs
    assert [o.output_type for o in shown] == ["display_data"], shown
    assert shown[0].data["text/plain"].startswith("Grading users") and " 65 s" in shown[0].data["text/plain"]
    assert "<span" in shown[0].data["text/html"]
    # the verdict's arrival removes it: the cell then shows the verdict alone (an emptied display would
    # still take a row of its own in JupyterLab)
    ended = run_cells(catalogue.NOTEBOOKS_DIR, starter_tree, [drawn + "\nline.close()\n'the table'"]).cells[0].outputs
    assert [(o.output_type, o.data.get("text/plain")) for o in ended] == [("execute_result", "'the table'")], ended
    # a cell that shows no table (the result kept in a name) is left with the line emptied, not a stale count
    kept = run_cells(catalogue.NOTEBOOKS_DIR, starter_tree, [drawn + "\nline.close()"]).cells[0].outputs
    assert [o.data.get("text/plain") for o in kept] == [""], kept
