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

import csv
import io
import json
from collections import Counter
from pathlib import Path

from kit.course import catalogue
from kit.class_grading.classfolder import DUPLICATE, Submission
from kit.class_grading.names import folder_key
from kit.grading.report import ADVISORY, Failure, Report, StageResult
from kit.course.i18n import message_data, revive
from kit.class_grading.grades import (advisory, atomic_write, cell, FEEDBACK, is_not_graded, learner_max, max_score, Meta,
                     NOT_GRADED, note, now, spreadsheet_text, status_line)
from kit.class_grading.feedback import feedback_names, write_feedback
from kit.class_grading.report_page import write_html


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
