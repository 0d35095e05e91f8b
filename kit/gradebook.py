"""A class's gradebook on disk: grades.json (the state, every report in full), grades.csv, report.html and
one feedback file per learner; each written atomically, after every learner, so an interrupted batch
leaves a gradebook (marked partial) that `kit grade-all --resume` continues.

grades.csv is for a spreadsheet: UTF-8 with a byte-order mark (so Excel reads josé-ñ and Bengali names
right), a row with each stage's maximum under the header, and the kit's commit, the date, the isolation
and whether the gradebook is complete at the bottom. A stage this machine could not grade (no browser,
no Redis) is "not graded", never 0, and does not count in the learner's maximum. Every row that is not
full marks says why in its note.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import re
import stat
import statistics
import subprocess
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import catalogue
from .catalogue import KIT_ROOT
from .classfolder import COUNTED, DUPLICATE, NO_TREE, Submission, folder_key
from .grader import ADVISORY, CONTROL, Failure, Report, StageResult  # CONTROL: U+202E showed 'ecila' as 'alice'
from .i18n import N_, SOURCE, T, _, language, message_data, numeral, recall, revive, translated

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
    """Graded without a sandbox (kit/grader.py, Report.advisory): the row's points are advice."""
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


def write_all(out: Path, meta: Meta, submissions: list[Submission], *, chart: bool = True,
              feedback: list[Submission] | None = None) -> None:
    """Every file of the gradebook, the JSON first (it is what --resume reads); the feedback files of the
    learners named (all that are done when None): after each learner, only that learner's is new."""
    meta.updated = now()
    write_json(out / "grades.json", meta, submissions)
    write_csv(out / "grades.csv", submissions, meta.stages, meta)
    write_html(out / "report.html", meta, submissions, chart=chart)
    names = feedback_names(submissions)
    for sub in submissions if feedback is None else feedback:
        if sub.done and sub.status != DUPLICATE:
            try:
                write_feedback(out / FEEDBACK, sub, meta, name=names.get(id(sub)))
            except Exception:  # noqa: BLE001 (one learner's feedback file never stops the class's gradebook)
                continue


def write_csv(path: Path, submissions: list[Submission], stage_ids: list[str], meta: Meta | None = None) -> None:
    buffer = io.StringIO(newline="")
    out = csv.writer(buffer)
    out.writerow(["learner", *stage_ids, "total", "max_score", "note"])
    out.writerow(["(maximum)", *(catalogue.get(s).points for s in stage_ids), max_score(stage_ids),
                  max_score(stage_ids), "each stage's maximum; a stage the grading machine could not grade says "
                                        "'not graded' and is left out of that learner's max_score"])
    for sub in submissions:
        out.writerow([spreadsheet_text(sub.learner, "=+-@("), *(cell(sub, s) for s in stage_ids), sub.total,
                      learner_max(sub, stage_ids), spreadsheet_text(note(sub, stage_ids))])
    if meta is not None:
        out.writerow([])
        for key, value in (("(kit commit)", meta.kit_commit), ("(graded)", f"{meta.started} .. {meta.updated}"),
                           ("(isolation)", meta.isolation), ("(status)", status_line(meta)),
                           *([("(advisory)", ADVISORY)] if not meta.isolation.startswith("bubblewrap") else []),
                           ("(class folder)", meta.directory)):
            out.writerow([key, value])
        for stage_id, why in meta.machine_not_graded.items():
            out.writerow(["(not graded here)", f"{stage_id}: {why}"])
        for orphan in meta.hidden_orphans:
            out.writerow(["(hidden check not run)", f"{orphan} names no stage (name it test_<stage>_<what>.py)"])
    atomic_write(path, buffer.getvalue().encode("utf-8-sig", "replace"))


def status_line(meta: Meta) -> str:
    if meta.status == "complete":
        return "complete"
    if meta.interrupted:
        return f"partial: interrupted by {meta.interrupted}; run again with --resume to finish"
    return "partial: still running, or stopped; run again with --resume to finish"


def _report_dict(report: Report) -> dict:
    data = report.to_dict()
    for stage, result in zip(data["stages"], report.stages):
        stage["verdict"] = NOT_GRADED if is_not_graded(result) else ("pass" if result.passed else "fail")
        for entry, failure in zip(stage["failures"], result.failures):
            entry["i18n"] = failure.template or message_data(failure.message)
    return data


def write_json(path: Path, meta: Meta, submissions: list[Submission]) -> None:
    data = {"directory": meta.directory, "stages": meta.stages, "max_score": max_score(meta.stages),
            "stage_points": {s: catalogue.get(s).points for s in meta.stages}, "kit_commit": meta.kit_commit,
            "started": meta.started, "updated": meta.updated, "status": meta.status,
            "interrupted": meta.interrupted, "isolation": meta.isolation,
            "advisory": not meta.isolation.startswith("bubblewrap"),
            "machine_not_graded": meta.machine_not_graded, "hidden_orphans": meta.hidden_orphans,
            "learners": [{"learner": s.learner, "key": s.key, "source": str(s.folder),
                          "tree": str(s.tree) if s.tree else None,
                          "status": s.status, "done": s.done, "total": s.total,
                          "max_score": learner_max(s, meta.stages),
                          "not_graded": [st for st in meta.stages if is_not_graded(s.result(st))],
                          "error": str.__str__(s.error) if s.error else "", "error_i18n": message_data(s.error),
                          "note": note(s, meta.stages), "seconds": round(s.seconds, 1), "advisory": advisory(s),
                          "report": _report_dict(s.report) if s.report else None}
                         for s in submissions]}
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False).encode("utf-8", "replace"))


def load(path: Path) -> tuple[dict, dict[str, Submission]]:
    """A gradebook written earlier: (its data, the learners it finished, by folder key). A row with no key (an
    older gradebook) is known by its name, unless two rows share that name: then neither is kept."""
    data = json.loads(path.read_text(encoding="utf-8"))
    done = {}
    shown = Counter(entry.get("learner") for entry in data.get("learners", []))
    for entry in data.get("learners", []):
        if not entry.get("done") or (not entry.get("key") and shown[entry.get("learner")] > 1):
            continue
        sub = Submission(entry["learner"], Path(entry["source"]), Path(entry["tree"]) if entry["tree"] else None,
                         status=entry["status"], done=True, seconds=entry.get("seconds", 0.0),
                         key=entry.get("key") or "")
        if not entry.get("key"):
            sub.key = folder_key(Path(entry["source"]))
        sub.error = revive(entry["error"], entry.get("error_i18n")) if entry.get("error_i18n") else entry["error"]
        if entry.get("report"):
            sub.report = _report_from(entry["report"])
        done[sub.key] = sub
    return data, done


def _report_from(data: dict) -> Report:
    stages = []
    for entry in data["stages"]:
        failures = [Failure(f["test"], f["message"], f["hint"], translation=f.get("translation"),
                            template=f.get("i18n")) for f in entry.get("failures", [])]
        stages.append(StageResult(id=entry["id"], title=entry["title"], passed=entry["passed"],
                                  points=entry["points"], max_points=entry["max_points"],
                                  available=entry.get("available", True), skipped=entry.get("skipped", []),
                                  failures=failures, passed_checks=entry.get("passed_checks", []),
                                  seconds=entry.get("seconds", 0.0), recheck_of=entry.get("recheck_of", ""),
                                  second_try=entry.get("second_try", False),
                                  machine_busy=entry.get("machine_busy", False)))
    return Report(project=data["project"], stages=stages, isolation=data.get("isolation", ""))


# -- feedback for each learner ------------------------------------------------------------------------
SAFE_NAME = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


NAME_BYTES = 80                   # of a feedback file's name before its hash and .md


def _tag(learner: str, length: int = 8) -> str:
    import hashlib

    return hashlib.sha256(learner.encode("utf-8", "replace")).hexdigest()[:length]


def feedback_name(learner: str) -> str:
    """The learner's feedback file name (without .md): safe, at most ~100 bytes; when making it safe or short
    changed the name, a short hash of the real name keeps two learners (ann_lee, ann|lee) apart."""
    safe = SAFE_NAME.sub("_", clean(learner)).lstrip(".") or "_"
    cut = safe
    while len(cut.encode("utf-8")) > NAME_BYTES:
        cut = cut[:-1]
    return cut if cut == learner else f"{cut}-{_tag(learner)}"


def feedback_names(submissions: list[Submission]) -> dict[int, str]:
    """id(submission) -> its feedback file name, unique in the class (ignoring case, as some disks do)."""
    names = {id(s): feedback_name(s.learner) for s in submissions}
    for length in (8, 16, 64):
        seen = Counter(name.lower() for name in names.values())
        clashing = [s for s in submissions if seen[names[id(s)].lower()] > 1]
        if not clashing:
            break
        for sub in clashing:
            names[id(sub)] = f"{feedback_name(sub.learner)}-{_tag(sub.learner, length)}"
    for number, sub in enumerate(submissions):   # same names (a resumed row twice): numbered, last resort
        if sum(1 for other in names.values() if other.lower() == names[id(sub)].lower()) > 1:
            names[id(sub)] = f"{names[id(sub)]}-{number}"
    return names


NOTEBOOK_BYTES = 20 * 2**20


def _regular_bytes(folder_fd: int, name: str, limit: int) -> bytes | None:
    """A regular file's bytes (None for a link, a pipe, a device, a folder or one over limit); never blocks."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(limit + 1)[:limit]
    except OSError:
        return None
    finally:
        os.close(fd)


def _open_folder(base: Path, parts) -> int | None:
    """A descriptor of base/parts..., opened one component at a time, no link followed; None otherwise."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        fd = os.open(base, flags)
    except OSError:
        return None
    for part in parts:
        try:
            inner = os.open(part, flags, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = inner
    return fd


NOTEBOOKS_BYTES = 64 * 2**20     # read in all, per learner, to guess their language


def learner_language(sub: Submission) -> str:
    """The language the learner worked in, when their repository shows it: the lessons they ran (a notebook
    under notebooks/<lang>/ with outputs) in a language other than English; English otherwise. Whatever their
    notebooks hold (nesting deep enough to exhaust the parser, anything), only this guess is lost."""
    try:
        return _learner_language(sub)
    except Exception:  # noqa: BLE001 (a learner's file costs only their language guess)
        return SOURCE


def _learner_language(sub: Submission) -> str:
    if sub.tree is None:
        return SOURCE
    from .i18n import LANGUAGES

    # Only inside the learner's own folder (never the class folder above it), no link followed, regular files
    # only (a named pipe would block the batch), each read bounded.
    home = sub.home or (sub.folder if sub.folder.is_dir() else sub.tree)
    try:
        inside = sub.tree.relative_to(home).parts
    except ValueError:
        return SOURCE
    budget = NOTEBOOKS_BYTES
    for parts in (inside, inside[:-1]) if inside else (inside,):
        for lang in (lang for lang in LANGUAGES if lang != SOURCE):
            fd = _open_folder(home, (*parts, "notebooks", lang))
            if fd is None:
                continue
            try:
                names = sorted(name for name in os.listdir(fd) if name.endswith(".ipynb"))[:40]
                for name in names:
                    data = _regular_bytes(fd, name, min(NOTEBOOK_BYTES, budget))
                    if data is None:
                        continue
                    budget -= len(data)
                    try:
                        cells = json.loads(data.decode("utf-8")).get("cells", [])
                    except Exception:  # noqa: BLE001 (not JSON, too deep (RecursionError), not a notebook)
                        continue
                    if isinstance(cells, list) and any(isinstance(c, dict) and c.get("execution_count")
                                                       for c in cells):
                        return lang
            except OSError:
                continue
            finally:
                os.close(fd)
    return SOURCE


def feedback_text(sub: Submission, meta: Meta, lang: str) -> str:
    from .i18n import translation

    say = translation(lang).gettext
    stage_ids = meta.stages
    heading = say(N_("Channels Kit: feedback for {learner}")).format(learner=clean(sub.learner))
    lines = ["# " + heading, ""]
    score = say(N_("Score: {score} of {max_score}. Graded {when} with kit {commit}."))
    lines += [score.format(score=numeral(sub.total, lang), max_score=numeral(learner_max(sub, stage_ids), lang),
                           when=meta.updated or now(),
                           commit=meta.kit_commit), ""]
    if advisory(sub):
        lines += [say(ADVISORY), ""]
    if sub.error or sub.report is None:
        lines += ["## " + say(N_("What to do next")), "", clean(reasons(sub, stage_ids, lang)[0][1]), ""]
        return "\n".join(lines)
    results = [r for r in (sub.result(s) for s in stage_ids) if r is not None]
    passed = [r for r in results if r.passed]
    failing = [r for r in results if not r.passed and not is_not_graded(r)]
    skipped = [r for r in results if is_not_graded(r)]
    lines += ["## " + say(N_("What passed")), ""]
    nothing = ["- " + say(N_("Nothing yet."))]
    lines += [f"- {r.id} ({say(r.title)}): {r.points}/{r.max_points}" for r in passed] or nothing
    lines.append("")
    if failing:
        from .render import said

        first = failing[0]
        message, hint = said(first.failures[0], lang) if first.failures else ("", "")
        stage = catalogue.get(first.id)
        where = say(N_("Stage {number} {id} ({title}), notebooks/{notebook}:"))
        lines += ["## " + say(N_("What to fix next")), "",
                  where.format(number=numeral(stage.number, lang), id=stage.id, title=say(stage.title),
                               notebook=stage.notebook if lang == SOURCE else f"{lang}/{stage.notebook}"), "",
                  "- " + clean(message), "- " + say(N_("hint: {hint}")).format(hint=clean(hint)), ""]
        if len(failing) > 1:
            lines += ["## " + say(N_("Not passed yet")), ""]
            lines += [f"- {r.id} ({say(r.title)}): 0/{r.max_points}" for r in failing[1:]]
            lines.append("")
    else:
        lines += [say(N_("Every stage that was graded passes. Well done!")), ""]
    if skipped:
        lines += ["## " + say(N_("Not graded")), "",
                  say(N_("The grading machine could not grade these stages; they do not count against you.")), ""]
        lines += [f"- {r.id}: {clean(translated(recall(r.skipped[0]), lang))}" for r in skipped]
        lines.append("")
    return "\n".join(lines)


def plain_feedback(sub: Submission, meta: Meta) -> str:
    """The score and the gradebook's note, in English: what a learner gets when their full feedback fails."""
    lines = ["# " + N_("Channels Kit: feedback for {learner}").format(learner=clean(sub.learner)), "",
             N_("Score: {score} of {max_score}. Graded {when} with kit {commit}.").format(
                 score=sub.total, max_score=learner_max(sub, meta.stages), when=meta.updated or now(),
                 commit=meta.kit_commit), ""]
    return "\n".join([*lines, note(sub, meta.stages), ""])


def write_feedback(folder: Path, sub: Submission, meta: Meta, name: str | None = None) -> Path:
    path = folder / f"{name or feedback_name(sub.learner)}.md"
    lang = meta.language or learner_language(sub)
    try:
        text = feedback_text(sub, meta, lang)
    except Exception:  # noqa: BLE001 (one learner's odd report still gets them their score)
        text = plain_feedback(sub, meta)
    atomic_write(path, text.encode("utf-8", "replace"))
    return path


# -- the HTML page ----------------------------------------------------------------------------------
def chart_png(submissions: list[Submission], stage_ids: list[str]) -> bytes:
    """Pass rate per stage above the score histogram, 800 px wide, as PNG bytes (no display needed)."""
    from matplotlib.figure import Figure

    rows = stage_summary(submissions, stage_ids)
    dist = distribution(submissions, stage_ids)
    figure = Figure(figsize=(8, 5.6), dpi=100, layout="constrained")
    rates, scores = figure.subplots(2, 1)
    rates.bar(range(len(rows)), [100 * r["rate"] for r in rows], color="#2a9d8f")
    rates.set_xticks(range(len(rows)), [r["stage"] for r in rows], rotation=40, ha="right", fontsize=9)
    for number, row in enumerate(rows):
        if not row["learners"]:
            rates.text(number, 4, "not graded", rotation=90, ha="center", va="bottom", fontsize=8, color="#555")
    rates.set_ylim(0, 100)
    rates.set_ylabel("learners passing (%)")
    rates.set_title("Pass rate per stage (of the learners it was graded for)")
    scores.bar(range(len(BAND_LABELS)), dist["bands"], color="#e76f51")
    scores.set_xticks(range(len(BAND_LABELS)), BAND_LABELS, fontsize=9)
    scores.set_ylabel("learners")
    scores.set_title(f"Score distribution ({dist['learners']} learner(s) with a tree)")
    scores.yaxis.get_major_locator().set_params(integer=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


SCRIPT = """
const table = document.getElementById('learners');
const rows = () => Array.from(table.tBodies[0].rows);
document.getElementById('filter').addEventListener('input', e => {
  const want = e.target.value.toLowerCase();
  rows().forEach(r => { r.hidden = want && !r.textContent.toLowerCase().includes(want); });
});
table.tHead.querySelectorAll('th').forEach((th, i) => th.addEventListener('click', () => {
  const down = th.dataset.dir !== 'down'; th.dataset.dir = down ? 'down' : 'up';
  const key = r => { const t = r.cells[i].dataset.v ?? r.cells[i].textContent; const n = parseFloat(t);
                     return isNaN(n) ? t.toLowerCase() : n; };
  rows().sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (down ? -1 : 1))
        .forEach(r => table.tBodies[0].appendChild(r));
}));
"""


def write_html(path: Path, meta: Meta, submissions: list[Submission], *, chart: bool = True) -> None:
    esc = html.escape   # learner folder names and messages are untrusted text
    stage_ids = meta.stages
    dist = distribution(submissions, stage_ids)
    heads = {name: esc(_(name)) for name in (N_("stage"), N_("title"), N_("points"), N_("passed"), N_("rate"),
                                             N_("learner"), N_("why"), N_("total"), N_("most common failure"))}
    stage_rows = "".join(
        f"<tr><td>{catalogue.get(r['stage']).number}</td><td>{esc(r['stage'])}</td><td>{esc(_(r['title']))}</td>"
        f"<td>{r['points']}</td><td>{r['passed']}/{r['learners']}"
        + (" <small>(" + esc(_("{count} not graded").format(count=numeral(r["not_graded"]))) + ")</small>"
           if r["not_graded"] else "")
        + f"</td><td>{format(r['rate'], '.0%') if r['learners'] else '-'}</td><td>{esc(r['common_failure'])}"
        + (f" <small>(×{r['common_count']})</small>" if r["common_count"] else "") + "</td></tr>"
        for r in stage_summary(submissions, stage_ids))
    learner_rows = []
    for sub in submissions:
        cells = []
        for stage_id in stage_ids:
            shown = cell(sub, stage_id)
            result = sub.result(stage_id)
            kind = ("ng" if shown == NOT_GRADED else "pass" if result is not None and result.passed else "fail")
            cells.append(f'<td class="{kind} n" data-v="{-1 if kind == "ng" else esc(shown)}">'
                         f'{esc(_(NOT_GRADED) if kind == "ng" else shown)}</td>')
        why = "".join(f"<li>{('<b>' + esc(stage) + '</b>: ') if stage else ''}{esc(short(text, 400))}</li>"
                      for stage, text in reasons(sub, stage_ids, language()))
        counted = "" if sub.counted else ' class="uncounted"'
        learner_rows.append(f'<tr{counted}><td class="text">{esc(clean(sub.learner))}</td>{"".join(cells)}'
                            f'<td class="n" data-v="{sub.total}"><b>{sub.total}</b>/{learner_max(sub, stage_ids)}</td>'
                            f'<td class="text"><ul>{why}</ul></td></tr>')
    title = esc(_("Channels Kit: class report"))
    summary = T("{directory}: {learners} learner(s) with a tree (of {folders} folder(s)); mean {mean:.1f}, median "
                "{median:g} of {max_score}; {full_marks} with full marks.", directory=meta.directory,
                learners=dist["learners"], folders=dist["folders"], mean=dist["mean"], median=dist["median"],
                max_score=dist["max_score"], full_marks=dist["full_marks"]).translate()
    facts = T("Kit {commit}; graded {started} to {updated}; isolation: {isolation}.", commit=meta.kit_commit,
              started=meta.started, updated=meta.updated, isolation=meta.isolation).translate()
    warnings = []
    if meta.status != "complete":
        warnings.append(T("Partial gradebook: {status}", status=status_line(meta)).translate())
    for stage_id, why in meta.machine_not_graded.items():
        warnings.append(T("Stage {stage} was not graded on this machine: {why}", stage=stage_id, why=why).translate())
    for orphan in meta.hidden_orphans:
        warnings.append(T("The hidden check {check} names no stage (name it test_<stage>_<what>.py); it was not "
                          "run.", check=orphan).translate())
    if not meta.isolation.startswith("bubblewrap"):
        warnings.append(_("Graded without a sandbox: these points are advisory."))
    warned = "".join(f'<p class="warn">{esc(w)}</p>' for w in warnings)
    image = ""
    if chart and any(s.counted for s in submissions):
        png = base64.b64encode(chart_png(submissions, stage_ids)).decode("ascii")
        alt = esc(_("Pass rate per stage and score distribution"))
        image = f'<img alt="{alt}" src="data:image/png;base64,{png}">'
    stage_heads = "".join(f'<th title="{esc(s)}">{catalogue.get(s).number}</th>' for s in stage_ids)
    words = {"rates": esc(_("Pass rate per stage")), "learners": esc(_("Learners")),
             "filter": esc(_("Filter learners (name, stage, reason)")),
             "sort": esc(_("Stages by number, as in the table above. Click a column's head to sort by it. Grey rows "
                           "(no project tree) are left out of the mean and median."))}
    page = f"""<!doctype html>
<html lang="{language()}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1em auto; max-width: 800px; padding: 0 8px; color: #222;
        font-size: 14px; }}
table {{ border-collapse: collapse; margin: .6em 0; width: 100%; }}
th, td {{ border: 1px solid #ccc; padding: .2em .35em; text-align: left; vertical-align: top; }}
td.text {{ overflow-wrap: anywhere; }} td.n {{ white-space: nowrap; }}
#learners th {{ cursor: pointer; font-size: 12px; }} #learners td {{ font-size: 12px; }}
#learners ul {{ margin: 0; padding-left: 1.1em; }}
td.pass {{ background: #d8f3dc; }} td.fail {{ background: #ffe5e0; }} td.ng {{ background: #eee; color: #555; }}
tr.uncounted td {{ color: #777; }} .warn {{ background: #fff3cd; padding: .4em; }}
img {{ width: 100%; height: auto; }} input {{ width: 100%; padding: .3em; box-sizing: border-box; }}
</style></head><body>
<h1>{title}</h1>
<p>{esc(summary)}</p>
<p><small>{esc(facts)}</small></p>
{warned}
{image}
<h2>{words["rates"]}</h2>
<table><thead><tr><th>#</th><th>{heads["stage"]}</th><th>{heads["title"]}</th><th>{heads["points"]}</th>\
<th>{heads["passed"]}</th><th>{heads["rate"]}</th><th>{heads["most common failure"]}</th></tr></thead>
<tbody>{stage_rows}</tbody></table>
<h2>{words["learners"]}</h2>
<p><input id="filter" type="search" placeholder="{words["filter"]}"></p>
<p><small>{words["sort"]}</small></p>
<table id="learners"><thead><tr><th>{heads["learner"]}</th>{stage_heads}<th>{heads["total"]}</th>\
<th>{heads["why"]}</th></tr></thead>
<tbody>{''.join(learner_rows)}</tbody></table>
<script>{SCRIPT}</script>
</body></html>
"""
    atomic_write(path, page.encode("utf-8", "replace"))
