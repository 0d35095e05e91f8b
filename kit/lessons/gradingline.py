"""One live line under a checkpoint cell while it grades: which stages are done, how long it has run.

A checkpoint can take a minute on a busy laptop; a cell that shows nothing but [*] for that long looks hung.
The line appears after a moment, is redrawn in place, and is removed when the verdict table arrives, so the
cell ends with the table alone. Only the kernel's own thread draws: the grader reports stages from its thread.
"""
from __future__ import annotations

import html
import time

from kit.course import i18n
from kit.course.i18n import T

SHOW_AFTER = 1.5   # seconds: a quick checkpoint shows its table and nothing else
MARKS = {"pass": "✔", "fail": "✘"}


class GradingLine:
    def __init__(self, stages: list[str]):
        self.stages = stages
        self.began = time.monotonic()
        self.finished: list = []   # StageResults, appended by the grader's thread
        self.handle = None
        self.drawn = 0.0
        self.live = _in_a_kernel()

    def stage_done(self, result) -> None:
        self.finished.append(result)

    def text(self) -> str:
        lang = i18n.language()
        seconds = i18n.numeral(int(time.monotonic() - self.began), lang)
        asked = ", ".join(self.stages) if self.stages else T("every stage").translate()
        line = T("Grading {stages} … {seconds} s", stages=asked, seconds=seconds).translate()
        done = "  ".join(f"{MARKS.get(r.verdict, '·')} {r.id}" for r in list(self.finished))
        return f"{line}   {done}" if done else line

    def tick(self) -> None:
        """Called often from the kernel's thread; redraws at most once a second."""
        now = time.monotonic()
        if not self.live or now - self.began < SHOW_AFTER or now - self.drawn < 1.0:
            return
        from IPython.display import display

        self.drawn = now
        text = self.text()
        shown = {"text/plain": text, "text/html": f'<span style="opacity:.7;font-style:italic">{html.escape(text)}</span>'}
        if self.handle is None:
            self.handle = display(shown, raw=True, display_id=True)
        else:
            self.handle.update(shown, raw=True)

    def close(self) -> None:
        """Remove the line. An emptied display still takes a row of its own in JupyterLab, so the cell's
        output is cleared, and only when the table arrives (wait=True): the cell never blinks empty. The line
        is emptied too, for a cell that shows no table (result = check(...))."""
        if self.handle is not None:
            from IPython.display import clear_output

            clear_output(wait=True)
            self.handle.update({"text/plain": ""}, raw=True)


def _in_a_kernel() -> bool:
    """Inside a Jupyter kernel (a plain `python` calling check() gets its table, no live line)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None
