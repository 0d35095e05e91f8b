"""A real JupyterLab in Chromium, as a learner meets the course: one short lesson, Run All
(`make lab` on the English lesson, `make lab-bn` on the Bengali one).

The lab is started as `make lab` starts it (tests/test_lab.py's fixture: the recipe's own command,
a free port, a token, throw-away Jupyter folders), with the lesson's tree set to a finished copy.
Chromium (kit/services/browser.py finds it) opens the lesson and:
- the notebook is not dirty once its kernel is up (JupyterLab used to mark every lesson modified
  as soon as the kernel filled in its metadata);
- Run All runs every cell, with no error dialog and no notification (JupyterLab's news question);
- the checkpoint cell's output area holds one table (it once held three);
- a template (room.html) opens in the editor, where the learner can paste, not in the HTML viewer.
The lesson file on disk is never written: autosave is off in this lab's (throw-away) user settings,
and the test checks the file is unchanged.
"""
from __future__ import annotations

import hashlib
import json
import os
import time

import pytest
from conftest import KIT_ROOT, copy_tree, SOLUTIONS
from test_lab import get, lab  # noqa: F401 - `lab` is the fixture: JupyterLab as `make lab` starts it

from kit.services import browser
from kit.course.i18n import gettext_in

LESSONS = {"lab": "notebooks/04_routing.ipynb", "lab-bn": "notebooks/bn/04_routing.ipynb"}
BUDGET = 90  # seconds for the browser part; the suite's time budget


@pytest.fixture
def lesson_tree(tmp_path):
    """A finished tree for the lesson's kernels: the lab fixture sets KIT_PROJECT to it."""
    return copy_tree(SOLUTIONS, tmp_path / "solved")


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("lab", ["lab", "lab-bn"], indirect=True)
def test_a_lesson_in_jupyterlab_in_chromium(lab, lesson_tree):
    browser.require()
    from playwright.sync_api import expect

    lesson = LESSONS[lab.target]
    before = digest(KIT_ROOT / lesson)
    # Autosave off in this lab's own user settings (JUPYTER_CONFIG_DIR is the test's): Run All must not
    # write outputs into the tracked lesson.
    get(f"{lab.base}/lab/api/settings/@jupyterlab/docmanager-extension:plugin", lab.token, method="PUT",
        body={"raw": json.dumps({"autosave": False})})
    started = time.monotonic()
    with browser.chromium() as chromium:
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(f"{lab.base}/lab/tree/{lesson}?reset&token={lab.token}", timeout=60_000)
        panel = page.locator(".jp-NotebookPanel").first
        expect(panel).to_be_visible(timeout=60_000)
        idle = page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status='idle']")
        expect(idle.first).to_be_attached(timeout=60_000)
        # The kernel's info reply lands a moment after it is idle: watch the tab for a few seconds.
        tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab").filter(has_text=lesson.rsplit("/", 1)[1])
        dirty = []
        for _ in range(8):
            page.wait_for_timeout(500)
            dirty.append("jp-mod-dirty" in (tab.get_attribute("class") or ""))
        assert not dirty[-4:].count(True), f"{lesson} is marked modified just by opening it ({dirty})"

        panel.click()
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        prompts = page.locator(".jp-NotebookPanel .jp-CodeCell .jp-InputPrompt")
        expect(prompts.first).not_to_have_text("[ ]:", timeout=30_000)
        page.wait_for_function(
            """() => { const p = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')];
                       return p.length && p.every(e => /\\[\\d+\\]/.test(e.textContent)); }""",
            timeout=BUDGET * 1000)

        assert page.locator(".jp-Dialog").count() == 0, page.locator(".jp-Dialog").first.inner_text()
        errors = page.locator(".jp-NotebookPanel .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        tracebacks = [t for t in errors.all_inner_texts() if "Traceback" in t or "Error" in t]
        assert not tracebacks, f"a cell failed: {tracebacks[0][:500]}"
        checkpoint = page.locator(".jp-NotebookPanel .jp-CodeCell").filter(has_text="check(").last
        outputs = checkpoint.locator(".jp-OutputArea-child")
        assert outputs.count() == 1, f"the checkpoint cell shows {outputs.count()} outputs, not one"
        assert checkpoint.locator("table.kit-report").count() == 1
        table = checkpoint.locator("table.kit-report")
        area = checkpoint.locator(".jp-OutputArea")
        assert table.bounding_box()["width"] <= area.bounding_box()["width"] + 1, "the table runs past the cell"
        if os.environ.get("KIT_LAB_SCREENSHOT"):  # a picture of the checkpoint cell, for a person to look at
            checkpoint.screenshot(path=os.environ["KIT_LAB_SCREENSHOT"])
        passed = gettext_in("bn" if lab.target == "lab-bn" else "en", "pass")
        assert passed in table.inner_text(), f"the checkpoint did not say {passed!r}: {table.inner_text()}"
        assert not dialogs, dialogs
        toasts = page.locator(".Toastify__toast").all_inner_texts()
        assert not toasts, f"JupyterLab showed a notification (the news pop-up is off in kit/lab/): {toasts}"

        # A lesson's link to a template the learner edits opens the editor, not the rendered HTML viewer.
        # (A page of its own: leaving the notebook's page would ask about its unsaved outputs.)
        page = chromium.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{lab.base}/lab/tree/project/myapp/templates/myapp/room.html?token={lab.token}", timeout=60_000)
        expect(page.locator("#jp-main-dock-panel .jp-FileEditor").first).to_be_visible(timeout=30_000)
        assert page.locator("#jp-main-dock-panel iframe").count() == 0, "room.html opened in the HTML viewer"
    assert time.monotonic() - started < BUDGET * 1.5, f"the browser part took {time.monotonic() - started:.0f} s"
    assert digest(KIT_ROOT / lesson) == before, f"{lesson} was written while the test ran"
