"""`kit grade-all DIR`: grade every learner's project tree under DIR, then write the class's grades.

DIR holds one folder per learner. A learner's tree is that folder itself or
one folder below it (e.g. a cloned repository's project/): a folder holding
manage.py, myproject/ and myapp/. Trees are graded one after another with the
real grader (each stage in its own process, as `kit check` does); whatever a
submission holds (a syntax error, an infinite loop, no tree at all), it gets
its row and the batch goes on.

Writes grades.csv (learner, points per stage, total), grades.json (every
report in full) and report.html (self-contained: tables and a chart as an
embedded PNG), and prints a summary: pass rate per stage, score distribution.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import catalogue
from .grader import Report, grade
from .i18n import N_, T, _, language, translated
from .project import NotAProjectTree

SKIPPED_NAMES = ("__MACOSX",)     # what unzipping an archive made on a Mac leaves behind


class GradeAllError(ValueError):
    """DIR cannot be graded as a class: missing, empty, or a single tree."""


@dataclass
class Submission:
    learner: str
    folder: Path                   # the learner's folder under DIR
    tree: Path | None              # the project tree inside it, None when there is none
    report: Report | None = None
    error: str = ""
    seconds: float = 0.0

    def points(self, stage_id: str) -> int:
        if self.report is None:
            return 0
        return next((s.points for s in self.report.stages if s.id == stage_id), 0)

    @property
    def total(self) -> int:
        return self.report.score if self.report else 0


def looks_like_tree(folder: Path) -> bool:
    return (folder / "manage.py").is_file() and (folder / "myproject").is_dir() and (folder / "myapp").is_dir()


def find_submissions(directory: str | Path, *, skip: Path | None = None) -> list[Submission]:
    root = Path(directory).expanduser().resolve()
    if not root.exists():
        raise GradeAllError(T("{root} does not exist.", root=str(root)))
    if not root.is_dir():
        raise GradeAllError(T("{root} is a file; give the folder that holds one folder per learner.", root=str(root)))
    if looks_like_tree(root):
        raise GradeAllError(T("{root} is itself one project tree: grade it with `kit check --project {root}`, or "
                              "give grade-all the folder that holds one folder per learner.", root=str(root)))
    folders = sorted((d for d in root.iterdir()
                      if d.is_dir() and not d.name.startswith(".") and d.name not in SKIPPED_NAMES
                      and (skip is None or d.resolve() != skip)), key=lambda d: d.name.lower())
    if not folders:
        raise GradeAllError(T("{root} holds no learner folders. Put each learner's work in a folder of its own "
                              "(DIR/<learner>/manage.py or DIR/<learner>/<repo>/manage.py) and run again.",
                              root=str(root)))
    submissions = []
    for folder in folders:
        trees = [folder] if looks_like_tree(folder) else sorted(
            child for child in folder.iterdir() if child.is_dir() and looks_like_tree(child))
        if not trees:
            submissions.append(Submission(folder.name, folder, None,
                                          error=T("No project tree found: no folder here holds manage.py, "
                                                  "myproject/ and myapp/.")))
        for tree in trees:
            name = folder.name if len(trees) == 1 else f"{folder.name}/{tree.name}"
            submissions.append(Submission(name, folder, tree))
    return submissions


def grade_all(submissions: list[Submission], stage_ids: list[str], console: Console) -> None:
    """Grade each submission in turn, with a progress bar; no submission can stop the batch."""
    stage_count = len(stage_ids)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(_("grading"), total=len(submissions) * stage_count)
        for number, sub in enumerate(submissions, 1):
            progress.update(task, description=f"{number}/{len(submissions)} {sub.learner}")
            begun = time.monotonic()
            if sub.tree is not None:
                try:
                    sub.report = grade(sub.tree, stage_ids, on_stage_done=lambda _: progress.advance(task))
                except NotAProjectTree as exc:
                    sub.error = exc.args[0] if exc.args and isinstance(exc.args[0], T) else str(exc)
                except Exception as exc:  # a batch must survive anything one submission does
                    sub.error = T("Grading failed: {error}", error=f"{type(exc).__name__}: {exc}")
            sub.seconds = time.monotonic() - begun
            progress.update(task, completed=number * stage_count)
            verdict = f"{sub.total}/{max_score(stage_ids)}" + (f"  [red]{escape(translated(sub.error))}[/]"
                                                               if sub.error else "")
            progress.console.print(f"  {sub.learner}: {verdict}  [dim]({sub.seconds:.1f} s)[/]")


def max_score(stage_ids: list[str]) -> int:
    return sum(catalogue.get(s).points for s in stage_ids)


# -- the class's numbers ----------------------------------------------------------------
def stage_summary(submissions: list[Submission], stage_ids: list[str]) -> list[dict]:
    rows = []
    for stage_id in stage_ids:
        stage = catalogue.get(stage_id)
        passed = sum(1 for s in submissions if s.points(stage_id) == stage.points)
        rows.append({"stage": stage_id, "title": stage.title, "points": stage.points, "passed": passed,
                     "learners": len(submissions), "rate": passed / len(submissions)})
    return rows


def distribution(submissions: list[Submission], stage_ids: list[str]) -> dict:
    totals = [s.total for s in submissions]
    top = max_score(stage_ids)
    bands = [0] * 5   # 0-19 %, 20-39 %, ..., 80-100 %
    for total in totals:
        bands[min(4, int(5 * total / top)) if top else 0] += 1
    return {"learners": len(totals), "max_score": top, "mean": statistics.fmean(totals),
            "median": statistics.median(totals), "min": min(totals), "max": max(totals),
            "full_marks": sum(1 for t in totals if t == top), "bands": bands}


BAND_LABELS = ("0-19 %", "20-39 %", "40-59 %", "60-79 %", "80-100 %")
PASS_RATE = N_("Pass rate per stage")


# -- outputs ----------------------------------------------------------------------------------
def write_csv(path: Path, submissions: list[Submission], stage_ids: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["learner", *stage_ids, "total", "max_score", "note"])
        for sub in submissions:
            out.writerow([sub.learner, *(sub.points(s) for s in stage_ids), sub.total, max_score(stage_ids),
                          sub.error])


def write_json(path: Path, directory: Path, submissions: list[Submission], stage_ids: list[str]) -> None:
    data = {"directory": str(directory), "stages": stage_ids, "max_score": max_score(stage_ids),
            "learners": [{"learner": s.learner, "tree": str(s.tree) if s.tree else None, "total": s.total,
                          "error": s.error, "report": s.report.to_dict() if s.report else None}
                         for s in submissions]}
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def summary_tables(submissions: list[Submission], stage_ids: list[str]) -> tuple[Table, Table]:
    stages = Table(title=_(PASS_RATE))
    for name, justify in (("#", "right"), (N_("stage"), "left"), (N_("points"), "right"), (N_("passed"), "right"),
                          (N_("rate"), "right")):
        stages.add_column(_(name) if name != "#" else name, justify=justify)
    for row in stage_summary(submissions, stage_ids):
        stages.add_row(str(catalogue.get(row["stage"]).number), row["stage"], str(row["points"]),
                       f"{row['passed']}/{row['learners']}", f"{row['rate']:.0%}")
    dist = distribution(submissions, stage_ids)
    scores = Table(title=T("Scores out of {max_score}: {learners} learner(s)", max_score=dist["max_score"],
                           learners=dist["learners"]).translate(), min_width=60)
    scores.add_column(_("band"))
    scores.add_column(_("learners"), justify="right")
    for label, count in zip(BAND_LABELS, dist["bands"]):
        scores.add_row(label, str(count))
    scores.caption = T("mean {mean:.1f}, median {median:g}, min {min}, max {max}, full marks {full_marks}",
                       mean=dist["mean"], median=dist["median"], min=dist["min"], max=dist["max"],
                       full_marks=dist["full_marks"]).translate()
    return stages, scores


def chart_png(submissions: list[Submission], stage_ids: list[str]) -> bytes:
    """Pass rate per stage beside the score histogram, as PNG bytes (no display needed)."""
    from matplotlib.figure import Figure

    rows = stage_summary(submissions, stage_ids)
    dist = distribution(submissions, stage_ids)
    figure = Figure(figsize=(10, 3.8), dpi=100, layout="constrained")
    rates, scores = figure.subplots(1, 2)
    rates.bar([r["stage"] for r in rows], [100 * r["rate"] for r in rows], color="#2a9d8f")
    rates.set_ylim(0, 100)
    rates.set_ylabel("learners passing (%)")
    rates.set_title("Pass rate per stage")
    rates.tick_params(axis="x", labelrotation=30)
    scores.bar(BAND_LABELS, dist["bands"], color="#e76f51")
    scores.set_ylabel("learners")
    scores.set_title(f"Score distribution (out of {dist['max_score']})")
    scores.yaxis.get_major_locator().set_params(integer=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def write_html(path: Path, directory: Path, submissions: list[Submission], stage_ids: list[str]) -> None:
    esc = html.escape   # learner folder names and messages are untrusted text
    dist = distribution(submissions, stage_ids)
    chart = base64.b64encode(chart_png(submissions, stage_ids)).decode("ascii")
    stage_rows = "".join(
        f"<tr><td>{esc(r['stage'])}</td><td>{esc(_(r['title']))}</td><td>{r['points']}</td>"
        f"<td>{r['passed']}/{r['learners']}</td><td>{r['rate']:.0%}</td></tr>"
        for r in stage_summary(submissions, stage_ids))
    head = "".join(f"<th>{esc(s)}</th>" for s in stage_ids)
    learner_rows = []
    for sub in submissions:
        cells = []
        for stage_id in stage_ids:
            result = next((s for s in sub.report.stages if s.id == stage_id), None) if sub.report else None
            ok = result is not None and result.passed
            why = result.failures[0].message if result is not None and result.failures else sub.error
            why = translated(why) if why else why
            cells.append(f'<td class="{"pass" if ok else "fail"}" title="{esc(why)}">{sub.points(stage_id)}</td>')
        learner_rows.append(f"<tr><td>{esc(sub.learner)}</td>{''.join(cells)}<td><b>{sub.total}</b></td>"
                            f"<td>{esc(translated(sub.error) if sub.error else '')}</td></tr>")
    title = esc(_("Channels Kit: class report"))
    graded = T("{directory}: {learners} learner(s), graded {when}. Mean {mean:.1f}, median {median:g} of "
               "{max_score}; {full_marks} with full marks.", directory=str(directory), learners=dist["learners"],
               when=time.strftime("%Y-%m-%d %H:%M"), mean=dist["mean"], median=dist["median"],
               max_score=dist["max_score"], full_marks=dist["full_marks"]).translate()
    heads = {name: esc(_(name)) for name in (N_("stage"), N_("title"), N_("points"), N_("passed"), N_("rate"),
                                             N_("learner"), N_("note"), N_("total"))}
    chart_alt, learners = esc(_("Pass rate per stage and score distribution")), esc(_("Learners"))
    hover = esc(_("Hover a cell for the first failing check."))
    page = f"""<!doctype html>
<html lang="{language()}"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: .3em .6em; text-align: left; }}
td.pass {{ background: #d8f3dc; }} td.fail {{ background: #ffe5e0; }}
img {{ max-width: 100%; }}
</style></head><body>
<h1>{title}</h1>
<p>{esc(graded)}</p>
<img alt="{chart_alt}" src="data:image/png;base64,{chart}">
<h2>{esc(_(PASS_RATE))}</h2>
<table><tr><th>{heads["stage"]}</th><th>{heads["title"]}</th><th>{heads["points"]}</th><th>{heads["passed"]}</th>\
<th>{heads["rate"]}</th></tr>{stage_rows}</table>
<h2>{learners}</h2>
<p>{hover}</p>
<table><tr><th>{heads["learner"]}</th>{head}<th>{heads["total"]} / {dist['max_score']}</th><th>{heads["note"]}</th></tr>\
{''.join(learner_rows)}</table>
</body></html>
"""
    path.write_text(page, encoding="utf-8")


def run(directory: str | Path, stage_ids: list[str], out_dir: str | Path | None, console: Console) -> Path:
    """The whole command: find, grade, write; returns the folder the reports went to."""
    root = Path(directory).expanduser().resolve()
    out = Path(out_dir).expanduser().resolve() if out_dir else Path.cwd().resolve() / f"{root.name}-grades"
    submissions = find_submissions(root, skip=out)
    waiting = [s for s in stage_ids if not catalogue.get(s).available]
    if waiting:
        raise GradeAllError(T("stage(s) {stages} have no checkpoint in this kit yet, so cannot be graded.",
                              stages=", ".join(waiting)))
    stage_ids = stage_ids or [s.id for s in catalogue.STAGES if s.available]
    console.print(T("Grading {count} submission(s) in {root}: stages {stages}", count=len(submissions),
                    root=str(root), stages=", ".join(stage_ids)).translate())
    grade_all(submissions, stage_ids, console)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "grades.csv", submissions, stage_ids)
    write_json(out / "grades.json", root, submissions, stage_ids)
    write_html(out / "report.html", root, submissions, stage_ids)
    for grid in summary_tables(submissions, stage_ids):
        console.print(grid)
    console.print(T("Wrote {csv}, {html} and {json}", csv=str(out / "grades.csv"), html=str(out / "report.html"),
                    json=str(out / "grades.json")).translate())
    return out
