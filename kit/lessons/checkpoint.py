"""The checkpoint cell: check() grades the saved files and shows the verdict table; hint() climbs the hint
ladder; progress() shows every stage as a strip.

    from kit import check
    check("consumer")                  # grades the saved files, shows the verdict table
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path

from kit.course import catalogue, i18n
from kit.course.i18n import T, _
from kit.course.project import active_project, validate
from kit.lessons.notebook import LessonError, active_tree


# -- the checkpoint cell ---------------------------------------------------------
class CheckResult:
    """What check() returns. It shows itself as the verdict table with a verdict line under it
    (HTML in JupyterLab, text anywhere else), as otter-grader's check results do.

    When grading could not run at all, `error` says why in one sentence and `report` is None.
    """

    def __init__(self, report=None, *, error: str | None = None, stages=()):
        self.report = report
        self.error = error
        self.stages = [s.id for s in report.stages] if report is not None else list(stages)
        self.passed = report is not None and report.all_passed
        self.score = report.score if report is not None else 0
        self.max_score = report.max_score if report is not None else 0

    def verdict(self) -> str:
        names = ", ".join(self.stages) or _("every stage")
        if self.error:
            return _("Checkpoint {names}: not graded. {error}").format(names=names, error=i18n.translated(self.error))
        if self.passed:
            said = _("Checkpoint {names}: passed, {score}/{max_score} points.").format(
                names=names, score=self.score, max_score=self.max_score)
            following = _stage_after(self.stages)
            if following is None:
                return said
            return said + " " + _("Next: stage {number} {id}, in {notebook}.").format(
                number=i18n.numeral(following.number), id=following.id, notebook=following.notebook)
        broken = self.report.broken if self.report is not None else []
        if len(broken) > 1:
            return _("Checkpoint {names}: not passed yet ({score}/{max_score} points), and stages {broken}, "
                     "graded again, fail now. Fix what the table says, save the file, and run this cell "
                     "again.").format(names=names, score=self.score, max_score=self.max_score,
                                      broken=", ".join(broken))
        if broken:  # the points are the asked stages' alone; a re-checked stage that fails is said here
            return _("Checkpoint {names}: not passed yet ({score}/{max_score} points), and stage {broken}, "
                     "graded again, fails now. Fix what the table says, save the file, and run this cell "
                     "again.").format(names=names, score=self.score, max_score=self.max_score,
                                      broken=", ".join(broken))
        return _("Checkpoint {names}: not passed yet ({score}/{max_score} points). "
                 "Fix what the table says, save the file, and run this cell again.").format(
            names=names, score=self.score, max_score=self.max_score)

    def _recorded(self):
        """The table as rich records it, for the plain-text view. force_jupyter=False: inside a kernel a
        Jupyter-aware console would display every print itself, a second and third copy of the table."""
        import io

        from rich.console import Console

        from kit.output.render import table

        console = Console(record=True, file=io.StringIO(), width=100, color_system="truecolor",
                          force_jupyter=False, force_terminal=False)
        console.print(table(self.report))
        return console

    def __repr__(self) -> str:
        if self.report is None:
            return self.verdict()
        return self._recorded().export_text() + self.verdict()

    def _repr_html_(self) -> str:
        colour = "#2a9d8f" if self.passed else "#c0392b"
        line = f'<p style="color:{colour};font-weight:bold">{_escape(self.verdict())}</p>'
        if self.report is None:
            return line
        return _report_html(self.report) + line


_VERDICT_COLOUR = {"pass": "#2a9d8f", "fail": "#c0392b", "not yet available": "#6c757d"}


def _report_html(report) -> str:
    """The verdict table as an HTML table: it wraps to whatever width the notebook has, and the browser
    shapes Bengali itself (rich's fixed-width grid is cut off at the right edge and slips on Bengali).
    Styles are inline: JupyterLab's own table style centres tables and right-aligns cells."""
    from kit.course.catalogue import get
    from kit.output.render import VERDICTS, said

    lang = i18n.language()
    cell = "text-align:left;vertical-align:top;padding:4px 8px;border-bottom:1px solid rgba(128,128,128,.35)"
    heads = ["#", _("stage"), _("points"), _("verdict"), _("what to fix next")]
    rows = []
    for result in report.stages:
        fix = ""
        if result.failures:
            message, hint = said(result.failures[0], lang)
            fix = _escape(message)
            if hint:
                fix += f'<br><span style="opacity:.7">{_escape(_("hint: {hint}").format(hint=hint))}</span>'
        verdict = result.verdict if lang == i18n.SOURCE else _(VERDICTS[result.verdict])
        points = f"{result.points}/{result.max_points}" if result.available else "-"
        # A stage graded again for the asked one: below it, dimmer, its points not in the score.
        again = _("re-checked")
        again = f'<br><span style="opacity:.7">{_escape(again)}</span>' if result.recheck_of else ""
        rows.append(
            f'<tr style="{"opacity:.75" if result.recheck_of else ""}">'
            f'<td style="{cell};text-align:right">{i18n.numeral(get(result.id).number, lang)}</td>'
            f'<td style="{cell};white-space:nowrap"><code>{_escape(result.id)}</code>{again}</td>'
            f'<td style="{cell};text-align:right;white-space:nowrap">{points}</td>'
            f'<td style="{cell};white-space:nowrap;font-weight:bold;color:{_VERDICT_COLOUR[result.verdict]}">'
            f'{_escape(verdict)}</td>'
            f'<td style="{cell};white-space:pre-wrap;overflow-wrap:anywhere;width:100%">{fix}</td></tr>')
    head = "".join(f'<th style="{cell};font-weight:bold">{_escape(h)}</th>' for h in heads)
    from kit.output.render import caption_of

    title = _("Channels Kit: {project}").format(project=report.project)
    caption = caption_of(report)
    return (f'<table class="kit-report" style="table-layout:auto;margin:0;width:100%;max-width:100%;'
            f'border-collapse:collapse">'
            f'<caption style="caption-side:top;text-align:left;font-style:italic;padding:2px 8px">'
            f'{_escape(title)}</caption><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<p style="font-style:italic;opacity:.7;margin:2px 8px">{_escape(caption)}</p>')


def check(*stages: str, project=None) -> CheckResult:
    """Grade the learner's saved files; the result shows the verdict. Never raises into the cell.

    One hop: the grader runs here, and it already grades each stage in fresh
    child processes, so the kernel's event loop never meets the checks.
    """
    try:
        root = active_tree(project)
        for stage_id in stages:
            catalogue.get(stage_id)
    except LessonError as exc:
        return CheckResult(error=str(exc), stages=stages)
    except catalogue.UnknownStage as exc:
        return CheckResult(error=str(exc).strip("\"'") + ".", stages=stages)
    report, error = _grade(root, list(stages), recheck=True)
    if report is None:
        return CheckResult(error=error, stages=stages)
    result = CheckResult(report)
    if stages:  # the verdict names the stages asked for; the table also shows the earlier ones re-checked
        result.stages = list(stages)
    return result


def _grade(root: Path, stages: list[str], *, recheck: bool = False):
    """(report, None), or (None, one sentence saying why grading could not run).

    The grader runs in a thread of its own: it needs no main-thread signal
    handling there, and no running event loop is in its way. Ctrl-C (the
    kernel's interrupt) stops its checks and says so.
    """
    from kit.grading import checker, grader
    from kit.isolation import procs
    from kit.lessons.gradingline import GradingLine

    outcome = {}
    line = GradingLine(stages)

    def work():
        try:
            outcome["report"] = grader.grade(root, stages, recheck=recheck, on_stage_done=line.stage_done)
        except BaseException as exc:  # anything at all becomes a sentence for the learner
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="kit-check", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
            line.tick()
    except KeyboardInterrupt:
        # The grader stops its own checks only when interrupted in its own thread; these are its checkers.
        for proc in list(checker.running):
            procs.stop_tree(proc, grace=2)
        worker.join(30)
        return None, T("Interrupted: grading was stopped before it finished.")
    finally:
        line.close()
    if "report" in outcome:
        return outcome["report"], None
    exc = outcome.get("error")
    detail = str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else type(exc).__name__
    return None, T("The grader could not run: {detail}.", detail=detail.rstrip("."))


def hint(stage: str | None = None, project=None) -> str:
    """Print the next hint for the first failing check (of `stage`, else of the first failing stage).

    Runs `kit hint` in a fresh process, as check() grades, so the saved files are
    what counts and the hint ladder climbed here is the one `kit hint` climbs.
    Never raises: a hint cell that fails would leave the learner with less help.
    """
    import subprocess

    try:
        root = active_tree(project)
        cmd = [sys.executable, "-m", "kit", "hint", *([stage] if stage else []), "--project", str(root)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        text = done.stdout.strip() if done.returncode in (0, 1) and done.stdout.strip() else \
            T("No hint could be found: {error}", error=(done.stderr or done.stdout).strip()).translate()
    except Exception as exc:  # noqa: BLE001 - see the docstring
        text = T("No hint could be found: {error}", error=str(exc)).translate()
    print(text)
    return text


# -- progress strip ---------------------------------------------------------------
def progress(project=None):
    """A strip of every stage (passed, next, still to come) for the top of a lesson.

    Grades every stage, as check() does, so it takes a little while; the last
    expression of a cell, it shows as HTML.
    """
    from IPython.display import HTML

    root = validate(project or active_project())
    report, error = _grade(root, [])
    if report is None:
        return HTML(f"<p><b>{_escape(error)}</b></p>")
    return HTML(_progress_html(report.to_dict()))


def _escape(text: str) -> str:
    """Text for the notebook's HTML: no control characters (kit/grading/report.py as_data), then HTML-escaped."""
    import html

    from kit.grading.report import as_data

    return html.escape(as_data(text), quote=True)


def _progress_html(report: dict) -> str:
    """The strip for one `kit check --json` report: green passed, amber next, grey to come."""
    from kit.course import catalogue

    upcoming = next((s for s in report["stages"] if s.get("available", True) and not s["passed"]), None)
    boxes = []
    for entry in report["stages"]:
        stage = catalogue.get(entry["id"])
        if not entry.get("available", True):
            mark, colour, why = "·", "#adb5bd", _("not yet available")
        elif entry["passed"]:
            mark, colour, why = "✔", "#2a9d8f", _("{points}/{max_points} points").format(
                points=entry['points'], max_points=entry['max_points'])
        else:
            mark, colour = ("➜", "#e9a23b") if entry is upcoming else ("✘", "#6c757d")
            first = entry["failures"][0] if entry["failures"] else None
            why = ((first.get("translation") or {}).get("message") or first["message"]) if first \
                else _("not passed yet")
        boxes.append(f'<span title="{_escape(why)}" style="padding:3px 8px;border-radius:4px;color:white;'
                     f'background:{colour};white-space:nowrap">'
                     f'{mark} {i18n.numeral(stage.number)} {_escape(stage.id)}</span>')
    if upcoming is None:
        after = "<b>" + _escape(_("Every available stage passes.")) + "</b>"
    else:
        stage = catalogue.get(upcoming["id"])
        after = _("Next: stage {number} {title} in {notebook} (files: {files})").format(
            number=i18n.numeral(stage.number), title=f"<b>{_escape(_(stage.title))}</b>",
            notebook=f'<a href="{_escape(stage.notebook)}">{_escape(stage.notebook)}</a>',
            files=_escape(", ".join(stage.files)))
    score = _("Score {score}/{max_score}.").format(score=report["score"], max_score=report["max_score"])
    return (f'<div class="kit-progress" style="font-family:sans-serif;line-height:2">'
            f'<div style="display:flex;flex-wrap:wrap;gap:4px">{"".join(boxes)}</div>'
            f'<div>{_escape(score)} {after}</div></div>')


def _stage_after(stage_ids) -> "catalogue.Stage | None":
    """The course's next available stage after the last of these (a passed checkpoint names where to go)."""
    known = [s.id for s in catalogue.STAGES]
    asked = [known.index(i) for i in stage_ids if i in known]
    later = [s for s in catalogue.STAGES[max(asked) + 1:] if s.available] if asked else []
    return later[0] if later else None
