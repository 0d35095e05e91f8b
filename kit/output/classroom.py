"""GitHub Classroom: the reports its autograder reads, and the workflow that produces them.

Two report formats, computed from the same grading Report as the table, the
JSON and the JUnit XML, so every format shows the same numbers:

- `points_line`: `Points <score>/<max>`, the line GitHub Classroom writes on an
  autograding check run (and that a command-grader step can print).
- `classroom_result`: the result object that
  classroom-resources/autograding-grading-reporter decodes from each grading
  step's `result` output (base64 of the JSON). One test per stage, scored all
  or nothing, so the reporter's per-runner table and its total agree.

`python -m kit.output.classroom` prints the workflow for .github/workflows/classroom.yml,
built from the catalogue (tests/test_classroom.py keeps the committed file equal).
"""
from __future__ import annotations

import base64
import json

import yaml

from kit.course import catalogue
from kit.grading.report import ADVISORY, Report, StageResult
from kit.course.i18n import N_, SOURCE, T, gettext_in, language, translated

REPORTER_ACTION = "classroom-resources/autograding-grading-reporter@v1"
WORKFLOW_NAME = "Autograding Tests"        # the check-run name the reporter looks for
JOB_ID = "run-autograding-tests"
STEP_MINUTES = 10                          # a step is stopped after this; the grader's own limits come first


def points_line(report: Report) -> str:
    return f"Points {report.score}/{report.max_score}"


def classroom_result(report: Report) -> dict:
    """The reporter's result object for the graded stages of one report."""
    tests = [_stage_test(result, report.advisory) for result in report.stages]
    if any(not r.available for r in report.stages):
        status = "error"   # a stage with no checkpoint cannot be graded: say so rather than pass it
    else:
        status = "pass" if report.all_passed else "fail"
    return {"version": 1, "status": status, "max_score": report.max_score, "tests": tests,
            "isolation": report.isolation, "advisory": report.advisory}


def error_result(message: str, stage_ids: list[str]) -> dict:
    """What a step reports when grading could not run at all (not a project tree, bad arguments)."""
    stages = [catalogue.get(s) for s in stage_ids] if stage_ids else list(catalogue.STAGES)
    tests = [{"name": _test_name(stage), "status": "error", "score": 0, "message": message,
              "test_code": f"kit check {stage.id}", "filename": "", "line_no": 0, "duration": 0}
             for stage in stages]
    return {"version": 1, "status": "error", "max_score": sum(s.points for s in stages if s.available),
            "tests": tests}


def encode(result: dict) -> str:
    """Base64 of the compact JSON: the value of the step's `result` output."""
    return base64.b64encode(json.dumps(result, ensure_ascii=False).encode("utf-8")).decode("ascii")


def decode(encoded: str) -> dict:
    return json.loads(base64.b64decode(encoded).decode("utf-8"))


def _test_name(stage: catalogue.Stage) -> str:
    return f"Stage {stage.number}: {stage.title} ({stage.id})"


HINT = N_("hint: {hint}")


def _said(message: str, hint: str = "", test: str = "", lang: str = SOURCE) -> str:
    return (f"{test}: " if test else "") + message + ("\n" + gettext_in(lang, HINT).format(hint=hint) if hint else "")


def _stage_test(result: StageResult, advisory: bool = False) -> dict:
    """One stage as the reporter's test; the message in English, and in the chosen language below it."""
    stage = catalogue.get(result.id)
    lang = language()
    if not result.available:
        said = T("This stage has no checkpoint in this copy of the kit yet, so it is not graded.")
        status, message, beside = "error", said, translated(said, lang)
    elif result.passed:
        said = T("All {count} checks pass.", count=len(result.passed_checks))
        status, message, beside = "pass", said, translated(said, lang)
    else:
        first = result.failures[0]
        status = "fail"
        message = _said(first.message, first.hint, first.test)
        other = first.translation or {"message": translated(first.message, lang), "hint": translated(first.hint, lang)}
        beside = _said(other["message"], other.get("hint", ""), first.test, lang)
    message = str(message) + (f"\n\n{beside}" if lang != SOURCE and beside != message else "")
    if advisory:   # no sandbox: said on every stage, in English and the chosen language
        message += "\n" + ADVISORY + ("\n" + gettext_in(lang, ADVISORY) if lang != SOURCE else "")
    # A stage graded again for the named one (kit check hardening re-checks routing): shown, never scored
    # twice; its points belong to its own step.
    name = _test_name(stage) + (f" (re-check for {result.recheck_of})" if result.recheck_of else "")
    return {"name": name, "status": status, "score": 0 if result.recheck_of else result.points, "message": message,
            "test_code": f"kit check {stage.id}", "filename": f"exercises/test_{stage.id}.py", "line_no": 0,
            "duration": round(result.seconds * 1000)}


# -- the workflow ----------------------------------------------------------------------
WORKFLOW_HEADER = """\
# GitHub Classroom autograding: one step per stage, then Classroom's reporter.
# Generated from kit/course/catalogue.py by `python -m kit.output.classroom`; edit the catalogue, not this file.
# FAST FEEDBACK, NOT MARKS: Classroom runs this file from the learner's own repository, so a learner can
# change what it reports. Marks come from grading the collected repositories centrally with `kit grade-all`,
# sandboxed (docs/instructors.md, "GitHub Classroom: feedback, not marks").
# The grader is the student release (`kit release`, a repository learners may read: it holds no solutions),
# checked out without a token and pinned by the organisation variables KIT_REPOSITORY and KIT_REF (a full
# commit SHA); unset, the run fails at once with one sentence. Only the learner's project/ is taken from
# their repository, and a project/ that is a link is refused. Hidden checks never run here: any token that
# could read them would be the learner's to read; they run in central grading only.
# KIT_REQUIRE_BROWSER=1, KIT_REQUIRE_SANDBOX=1: browser checks and the sandbox must work, never skip.
"""
# One sentence each, in the run's log and its annotations (`::error::`), when the grader is not pinned.
NO_KIT_REPOSITORY = ("The organisation variable KIT_REPOSITORY is not set: it names the student release that "
                     "grades this work (docs/instructors.md, GitHub Classroom).")
NO_KIT_REF = ("The organisation variable KIT_REF is not a full commit SHA of KIT_REPOSITORY, so there is no "
              "pinned grader to grade with (docs/instructors.md, GitHub Classroom).")
LINKED_PROJECT = ("The repository's project folder (or the folder holding it) is a symbolic link, and grading "
                  "never follows links: commit project/ as a real folder.")
PINNED = r"^[0-9a-f]{40}$"


def _pin_check() -> str:
    return (f"sha='{PINNED}'\n"
            'if [ -z "$KIT_REPOSITORY" ]; then\n'
            f'  echo "::error::{NO_KIT_REPOSITORY}"; exit 1\n'
            'fi\n'
            'if ! [[ "$KIT_REF" =~ $sha ]]; then\n'
            f'  echo "::error::{NO_KIT_REF}"; exit 1\n'
            'fi\n')


def workflow() -> dict:
    """The workflow as data: the pin check, set-up, one grading step per stage, then the reporter."""
    # `kit check` exits 1 on a failed stage; echo's status is the step's, so the
    # step always hands its result to the reporter, which decides the verdict.
    grading = [{"name": f"Stage {stage.number}: {stage.title} ({stage.points} points)",
                "id": stage.id,
                "timeout-minutes": STEP_MINUTES,
                "working-directory": "grader",
                "run": f'echo "result=$(.venv/bin/kit check {stage.id} --format classroom)" >> "$GITHUB_OUTPUT"'}
               for stage in catalogue.STAGES]
    reporter = {"name": "Autograding Reporter",
                "uses": REPORTER_ACTION,
                "env": {f"{stage.id.upper()}_RESULTS": f"${{{{ steps.{stage.id}.outputs.result }}}}"
                        for stage in catalogue.STAGES},
                "with": {"runners": ",".join(stage.id for stage in catalogue.STAGES)}}
    setup = [
        {"name": "Check that the grader is pinned",
         "env": {"KIT_REPOSITORY": "${{ vars.KIT_REPOSITORY }}", "KIT_REF": "${{ vars.KIT_REF }}"},
         "run": _pin_check()},
        {"name": "Check out the learner's repository", "uses": "actions/checkout@v4",
         "with": {"path": "submission", "persist-credentials": False}},
        # No token: the release is readable by learners (public), and a secret here would be theirs to read.
        {"name": "Check out the grader: the student release (pinned)", "uses": "actions/checkout@v4",
         "with": {"repository": "${{ vars.KIT_REPOSITORY }}", "ref": "${{ vars.KIT_REF }}", "path": "grader",
                  "persist-credentials": False}},
        {"name": "Set up Python", "uses": "actions/setup-python@v5",
         "with": {"python-version": "3.12", "cache": "pip", "cache-dependency-path": "grader/pyproject.toml"}},
        {"name": "Set up the kit (make setup)", "working-directory": "grader",
         # Ubuntu's runners forbid unprivileged user namespaces, which bubblewrap needs.
         "run": "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0 || true\n"
                "bash scripts/ensure-browser.sh\nbash scripts/ensure-sandbox.sh\nmake setup\n"},
        # A linked project/ is refused here in one sentence (and by `kit check`, which also refuses a link
        # inside it that leads out of it).
        {"name": "Choose the tree to grade", "working-directory": "grader",
         "run": 'if [ -L "$GITHUB_WORKSPACE/submission" ] || [ -L "$GITHUB_WORKSPACE/submission/project" ]; then\n'
                f'  echo "::error::{LINKED_PROJECT}"; exit 1\n'
                'fi\n'
                'echo "KIT_PROJECT=$GITHUB_WORKSPACE/submission/project" >> "$GITHUB_ENV"\n'},
    ]
    job = {"runs-on": "ubuntu-latest",
           "if": "github.actor != 'github-classroom[bot]'",
           "env": {"KIT_REQUIRE_BROWSER": "1", "KIT_REQUIRE_SANDBOX": "1"},
           "steps": [*setup, *grading, reporter]}
    return {"name": WORKFLOW_NAME,
            "on": ["push", "workflow_dispatch", "repository_dispatch"],
            "permissions": {"checks": "write", "actions": "read", "contents": "read"},
            # A newer push grades the newer commit: the older run stops and spends no more minutes.
            "concurrency": {"group": "autograding-${{ github.ref }}", "cancel-in-progress": True},
            "jobs": {JOB_ID: job}}


class _BlockDumper(yaml.SafeDumper):
    """Shell scripts as `|` blocks and lists indented under their key, as GitHub's own examples are written."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def _str(dumper, text):
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|" if "\n" in text else None)


_BlockDumper.add_representer(str, _str)


def workflow_yaml() -> str:
    """.github/workflows/classroom.yml: the header comment, then workflow() as YAML."""
    body = yaml.dump(workflow(), Dumper=_BlockDumper, sort_keys=False, width=1000, allow_unicode=True)
    return WORKFLOW_HEADER + body


if __name__ == "__main__":
    print(workflow_yaml(), end="")
