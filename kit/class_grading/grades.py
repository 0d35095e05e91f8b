"""What a learner's row of the gradebook says: each stage's cell, the reasons and the note, the machine's
failures ("not graded, re-run"), the class's numbers; and writing a file atomically."""
from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from kit.course import catalogue
from kit.course.catalogue import KIT_ROOT
from kit.class_grading.classfolder import NO_TREE, Submission
from kit.grading.report import ADVISORY, CONTROL, Failure, Report, StageResult  # CONTROL: U+202E showed 'ecila' as 'alice'
from kit.course.i18n import N_, SOURCE, T, recall, revive, translated



NOT_GRADED = N_("not graded")
FILES = ("grades.json", "grades.csv", "report.html")
FEEDBACK = "feedback"
INVISIBLE = ("Cf", "Cc", "Zs", "Zl", "Zp", "Mn", "Me")   # what a spreadsheet may skip before a formula's "="
NOTE_LENGTH = 240                 # characters of one stage's reason in the CSV's note


def clean(text: str) -> str:
    """Learner-derived text as data: no control characters (a newline becomes a space)."""
    text = str(text).encode("utf-8", "surrogatepass").decode("utf-8", "replace")   # lone surrogates: U+FFFD
    return CONTROL.sub("", text.replace("\r\n", " ").replace("\n", " ").replace("\t", " "))


def spreadsheet_text(text: str, marks: str = "=+-@") -> str:
    """A learner-derived CSV cell a spreadsheet shows as text, never runs as a formula (=, +, -, @), however
    it starts (spaces, a byte-order mark, other invisible format characters); a learner's name is also marked
    when it starts with "(", so it never reads as one of the gradebook's own rows ("(maximum)")."""
    text = clean(text)
    start = 0
    while start < len(text) and (text[start].isspace() or unicodedata.category(text[start]) in INVISIBLE):
        start += 1
    return "'" + text if text[start:start + 1] and text[start] in marks else text


def short(text: str, limit: int = NOTE_LENGTH) -> str:
    text = clean(text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass
class Meta:
    directory: str
    stages: list[str]
    isolation: str
    kit_commit: str = ""
    started: str = ""
    updated: str = ""
    status: str = "running"               # running, partial (stopped before the end), complete
    interrupted: str = ""                 # the signal that stopped it
    machine_not_graded: dict = field(default_factory=dict)   # stage id -> why this machine cannot grade it
    hidden_orphans: list = field(default_factory=list)       # hidden checks that name no stage (never run)
    language: str = ""                    # `grade-all --lang`: every feedback file in it (else each learner's guess)


def kit_commit() -> str:
    """The kit's commit, as `git describe --always --dirty` says it; 'unknown' outside a git checkout."""
    try:
        done = subprocess.run(["git", "-C", str(KIT_ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else "unknown"


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")


# -- a stage's state -------------------------------------------------------------------------------
def is_not_graded(result: StageResult | None) -> bool:
    """A stage whose checks were skipped (the machine lacked a browser, Redis): not graded, never failed."""
    return bool(result is not None and result.skipped and all(f.test == "stage" for f in result.failures))


# -- the machine's failures: not graded, re-run -------------------------------------------------------
# A learner whose grading failed for a reason of the machine (the kit itself failed or ran out of its own time,
# a service or the sandbox could not start, the machine was too busy to grade a check in time) has this status:
# the row says "not graded: <reason>, re-run", the learner is left out of the class's numbers (never a 0), and
# `grade-all --resume` grades them again.
MACHINE = "machine"
RERUN = N_("not graded: {reason}, re-run")


def rerun(reason) -> T:
    """The row's sentence; a long reason is cut (a service's log) so that ", re-run" is always read."""
    return T(RERUN, reason=reason if len(str(reason)) <= NOTE_LENGTH - 40 else short(str(reason), NOTE_LENGTH - 40))


def machine_failure(report: Report, stage_ids: list[str], class_wide: dict) -> T | None:
    """Why this report holds a failure of the machine, not of the learner's code; None when it holds none.
    A stage the whole class goes without (class_wide: no browser, allowed) is no failure of this grading."""
    for stage_id in stage_ids:
        result = next((r for r in report.stages if r.id == stage_id), None)
        if result is None or stage_id in class_wide:
            continue
        if is_not_graded(result):
            return T("stage {stage}: {why}", stage=stage_id, why=recall(result.skipped[0]))
        if result.machine_busy:   # the grader's own mark: a failure's sentence may be the tree's (tenth review)
            return T("stage {stage}: the machine was too busy to grade it in time", stage=stage_id)
    return None


def not_graded_result(stage_id: str, why: str) -> StageResult:
    stage = catalogue.get(stage_id)
    return StageResult(id=stage.id, title=stage.title, passed=False, points=0, max_points=stage.points,
                       skipped=[why], failures=[Failure("stage", T("Not graded: {skipped}", skipped=why),
                                                        stage.hints[0])])


def cell(sub: Submission, stage_id: str) -> str:
    result = sub.result(stage_id)
    if is_not_graded(result):
        return NOT_GRADED
    return str(result.points if result is not None else 0)


def learner_max(sub: Submission, stage_ids: list[str]) -> int:
    return sum(catalogue.get(s).points for s in stage_ids if not is_not_graded(sub.result(s)))


def reasons(sub: Submission, stage_ids: list[str], lang: str = SOURCE) -> list[tuple[str, str]]:
    """(stage id or "", why) for everything that cost this learner points, in lang; [] for full marks."""
    if sub.error:
        return [("", translated(sub.error, lang))]
    if sub.report is None:
        return [("", translated(T("Not graded yet: the batch stopped before this learner."), lang))]
    found = []
    for stage_id in stage_ids:
        result = sub.result(stage_id)
        if result is None or result.passed or not result.failures:
            continue
        message = translated(_revived(result.failures[0]), lang)
        if is_not_graded(result):
            message = translated(T("not graded: {why}", why=recall(result.skipped[0])), lang)
        found.append((stage_id, message))
    return found


def _revived(failure: Failure) -> str:
    return revive(failure.message, failure.template) if failure.template else failure.message


def advisory(sub: Submission) -> bool:
    """Graded without a sandbox (kit/grading/report.py, Report.advisory): the row's points are advice."""
    return sub.report is not None and sub.report.advisory


def note(sub: Submission, stage_ids: list[str], lang: str = SOURCE) -> str:
    """The reasons in one cell: stages that failed for the same reason share it ("settings, asgi: ..."); an
    advisory row says so first."""
    grouped: dict[str, list[str]] = {}
    for stage, why in reasons(sub, stage_ids, lang):
        grouped.setdefault(why, []).append(stage)
    said = [short(f"{', '.join(stages)}: {why}" if any(stages) else why) for why, stages in grouped.items()]
    return " | ".join([ADVISORY, *said] if advisory(sub) else said)


# -- the class's numbers: only learners with a tree (or refused for theirs) count --------------------------
def stage_summary(submissions: list[Submission], stage_ids: list[str]) -> list[dict]:
    counted = [s for s in submissions if s.counted and (s.report is not None or s.error)]
    rows = []
    for stage_id in stage_ids:
        stage = catalogue.get(stage_id)
        graded = [s for s in counted if not is_not_graded(s.result(stage_id))]
        passed = sum(1 for s in graded if s.points(stage_id) == stage.points)
        failures = Counter(short(_revived(s.result(stage_id).failures[0]), 120) for s in graded
                           if s.result(stage_id) is not None and s.result(stage_id).failures)
        common = failures.most_common(1)[0] if failures else None
        rows.append({"stage": stage_id, "title": stage.title, "points": stage.points, "passed": passed,
                     "learners": len(graded), "not_graded": len(counted) - len(graded),
                     "rate": passed / len(graded) if graded else 0.0,
                     "common_failure": common[0] if common else "", "common_count": common[1] if common else 0})
    return rows


def max_score(stage_ids: list[str]) -> int:
    return sum(catalogue.get(s).points for s in stage_ids)


BAND_LABELS = ("0-19 %", "20-39 %", "40-59 %", "60-79 %", "80-100 %")


def distribution(submissions: list[Submission], stage_ids: list[str]) -> dict:
    counted = [s for s in submissions if s.counted and (s.report is not None or s.error)]
    totals = [s.total for s in counted]
    bands = [0] * 5   # 0-19 %, 20-39 %, ..., 80-100 %
    for sub in counted:
        top = learner_max(sub, stage_ids)
        bands[min(4, int(5 * sub.total / top)) if top else 0] += 1
    return {"learners": len(totals), "folders": len(submissions), "max_score": max_score(stage_ids),
            "mean": statistics.fmean(totals) if totals else 0.0,
            "median": statistics.median(totals) if totals else 0, "min": min(totals, default=0),
            "max": max(totals, default=0),
            "full_marks": sum(1 for s in counted if s.total == learner_max(s, stage_ids) and s.report is not None),
            "no_tree": sum(1 for s in submissions if s.status == NO_TREE), "bands": bands,
            "machine": [s.learner for s in submissions if s.status == MACHINE]}


# -- writing, atomically ---------------------------------------------------------------------------
def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

def status_line(meta: Meta) -> str:
    if meta.status == "complete":
        return "complete"
    if meta.interrupted:
        return f"partial: interrupted by {meta.interrupted}; run again with --resume to finish"
    return "partial: still running, or stopped; run again with --resume to finish"
