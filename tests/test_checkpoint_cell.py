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

from kit import catalogue

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
    from kit.i18n import gettext_in

    folder = catalogue.NOTEBOOKS_DIR / ("bn" if lang == "bn" else "")
    nb = run_cells(folder, starter_tree)
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
