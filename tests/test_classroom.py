"""GitHub Classroom reports and workflow, hidden checks, watch mode and the notebook progress strip."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import yaml

from conftest import KIT_ROOT, SOLUTIONS, grade_json, run_kit, stage
from kit.course import catalogue
from kit.output import classroom
from kit.isolation.procs import kit_processes

WORKFLOW = KIT_ROOT / ".github" / "workflows" / "classroom.yml"


@pytest.fixture
def half_tree(starter_tree):
    """The starter with the settings stage done: settings passes, asgi fails."""
    shutil.copy(SOLUTIONS / "myproject" / "settings.py", starter_tree / "myproject" / "settings.py")
    return starter_tree


# -- the workflow ----------------------------------------------------------------------
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_committed_workflow_is_the_one_the_catalogue_makes():
    assert WORKFLOW.read_text(encoding="utf-8") == classroom.workflow_yaml(), \
        "classroom.yml is out of date: run `python -m kit.output.classroom > .github/workflows/classroom.yml`"


def test_workflow_has_classroom_names_and_a_step_per_stage_with_its_points():
    flow = workflow()
    assert flow["name"] == "Autograding Tests"
    assert list(flow["jobs"]) == ["run-autograding-tests"]
    steps = flow["jobs"]["run-autograding-tests"]["steps"]
    assert steps[0]["name"] == "Check that the grader is pinned" and "uses" not in steps[0]
    assert steps[1]["uses"].startswith("actions/checkout@")
    assert any("make setup" in step.get("run", "") for step in steps), "the workflow must run the kit's set-up"
    graded = [step for step in steps if "--format classroom" in step.get("run", "")]
    assert [step["id"] for step in graded] == [s.id for s in catalogue.STAGES]
    for step, st in zip(graded, catalogue.STAGES):
        assert f"({st.points} points)" in step["name"] and st.title in step["name"]
        assert f"kit check {st.id} --format classroom" in step["run"]
        assert '>> "$GITHUB_OUTPUT"' in step["run"] and "result=" in step["run"]
    reporter = steps[-1]
    assert reporter["uses"].startswith("classroom-resources/autograding-grading-reporter@")
    assert reporter["with"]["runners"].split(",") == [s.id for s in catalogue.STAGES]
    for st in catalogue.STAGES:
        assert reporter["env"][f"{st.id.upper()}_RESULTS"] == f"${{{{ steps.{st.id}.outputs.result }}}}"


def run_step(script: str, env: dict, tmp_path) -> dict:
    """Run a workflow step's shell script as Actions would (bash -e), returning what it wrote to GITHUB_OUTPUT/ENV."""
    outputs = {"GITHUB_OUTPUT": tmp_path / "output", "GITHUB_ENV": tmp_path / "env"}
    for path in outputs.values():
        path.write_text("")
    full = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"}
    full.update(env, **{k: str(v) for k, v in outputs.items()})
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=KIT_ROOT,
                          env=full, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"the step failed: {done.stderr}"
    found = {}
    for path in outputs.values():
        for line in path.read_text().splitlines():
            key, _, value = line.partition("=")
            found[key] = value
    return found


def test_workflow_step_hands_the_reporter_a_result_it_can_decode(solved_tree, starter_tree, tmp_path):
    steps = workflow()["jobs"]["run-autograding-tests"]["steps"]
    step = next(s for s in steps if s.get("id") == "settings")
    passed = classroom.decode(run_step(step["run"], {"KIT_PROJECT": str(solved_tree)}, tmp_path)["result"])
    assert passed["version"] == 1 and passed["status"] == "pass"
    assert passed["max_score"] == catalogue.get("settings").points
    assert [t["score"] for t in passed["tests"]] == [catalogue.get("settings").points]
    failed = classroom.decode(run_step(step["run"], {"KIT_PROJECT": str(starter_tree)}, tmp_path)["result"])
    assert failed["status"] == "fail" and failed["tests"][0]["status"] == "fail" and failed["tests"][0]["score"] == 0
    assert failed["tests"][0]["message"], "a failed stage must tell the learner why"


def run_step_failing(script: str, env: dict, tmp_path) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KIT_", "HIDDEN_CHECKS_"))}
    full.update(env, GITHUB_OUTPUT=str(tmp_path / "output"), GITHUB_ENV=str(tmp_path / "env"))
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=tmp_path,
                          env=full, capture_output=True, text=True, timeout=60)


SHA = "0123456789abcdef0123456789abcdef01234567"


def test_workflow_refuses_to_grade_with_no_pinned_grader_in_one_sentence(tmp_path):
    """Unset KIT_REF once fell back to the learner's own commit, which does not exist in the kit."""
    steps = workflow()["jobs"]["run-autograding-tests"]["steps"]
    pin = steps[0]
    assert pin["env"]["KIT_REF"] == "${{ vars.KIT_REF }}"
    release = "teacher/channels-kit-student"
    cases = [({"KIT_REPOSITORY": "", "KIT_REF": SHA}, classroom.NO_KIT_REPOSITORY),
             ({"KIT_REPOSITORY": release, "KIT_REF": ""}, classroom.NO_KIT_REF),
             ({"KIT_REPOSITORY": release, "KIT_REF": "main"}, classroom.NO_KIT_REF)]   # a branch moves: not a pin
    for env, sentence in cases:
        done = run_step_failing(pin["run"], env, tmp_path)
        assert done.returncode == 1, env
        assert done.stdout.strip() == f"::error::{sentence}", done.stdout
        assert sentence.count(". ") == 0 and sentence.endswith(".")
    for env in ({"KIT_REPOSITORY": release, "KIT_REF": SHA},):
        done = run_step_failing(pin["run"], env, tmp_path)
        assert done.returncode == 0 and done.stdout == "", done.stdout + done.stderr


def test_workflow_grades_only_the_learners_project_with_the_pinned_release(tmp_path):
    """The grader is the release at KIT_REF, read without a token; a solutions/ the learner adds changes nothing."""
    steps = workflow()["jobs"]["run-autograding-tests"]["steps"]
    choose = next(s for s in steps if s.get("name") == "Choose the tree to grade")
    (tmp_path / "submission" / "solutions").mkdir(parents=True)
    chosen = run_step(choose["run"], {"GITHUB_WORKSPACE": str(tmp_path)}, tmp_path)["KIT_PROJECT"]
    assert chosen == str(tmp_path / "submission" / "project"), chosen
    checkouts = [s for s in steps if s.get("uses", "").startswith("actions/checkout@")]
    learner, kit = checkouts   # hidden checks never run in the learner's workflow (tests/test_trust_edges.py)
    assert learner["with"]["path"] == "submission" and learner["with"]["persist-credentials"] is False
    assert kit["with"] == {"repository": "${{ vars.KIT_REPOSITORY }}", "ref": "${{ vars.KIT_REF }}",
                           "path": "grader", "persist-credentials": False}, "no fallback, no token"
    assert not re.search(r"\$\{\{[^}]*\|\|", WORKFLOW.read_text()), "no variable falls back to the learner's commit"
    graded = [s for s in steps if "--format classroom" in s.get("run", "")]
    assert all(s["working-directory"] == "grader" for s in graded), "grading runs the instructor's release"
    job = workflow()["jobs"]["run-autograding-tests"]
    assert job["env"]["KIT_REQUIRE_SANDBOX"] == "1"


# -- the same numbers in every format ----------------------------------------------------------
def test_json_junit_classroom_and_points_agree(half_tree, tmp_path):
    json_file, junit_file = tmp_path / "r.json", tmp_path / "r.xml"
    done = run_kit("check", "settings", "asgi", "--project", str(half_tree), "--format", "classroom",
                   "--json", str(json_file), "--junit", str(junit_file))
    assert done.returncode == 1, done.stderr
    result = classroom.decode(done.stdout.strip())
    report = json.loads(json_file.read_text())
    assert report["score"] == catalogue.get("settings").points, "the settings stage should pass, asgi fail"
    assert result["max_score"] == report["max_score"] == sum(catalogue.get(s).points for s in ("settings", "asgi"))
    assert sum(t["score"] for t in result["tests"]) == report["score"]
    assert result["status"] == "fail"
    assert [t["score"] for t in result["tests"]] == [s["points"] for s in report["stages"]]
    assert [t["status"] for t in result["tests"]] == ["pass", "fail"]
    junit_points = {suite.get("name"): {p.get("name"): int(p.get("value")) for p in suite.iter("property")
                                        if p.get("name") != "isolation"}
                    for suite in ET.parse(junit_file).getroot().iter("testsuite")}
    for entry in report["stages"]:
        assert junit_points[entry["id"]] == {"points": entry["points"], "max_points": entry["max_points"]}
    points = run_kit("check", "settings", "asgi", "--project", str(half_tree), "--points")
    assert points.returncode == 1
    assert points.stdout.strip().splitlines()[-1] == f"Points {report['score']}/{report['max_score']}"
    assert points.stderr == "", "a command grader may treat anything on stderr as a failure"


def test_classroom_format_reports_an_error_when_grading_cannot_run(tmp_path):
    done = run_kit("check", "settings", "--project", str(tmp_path), "--format", "classroom")
    assert done.returncode == 2
    result = classroom.decode(done.stdout.strip())
    assert result["status"] == "error" and "not a project tree" in result["tests"][0]["message"]


def test_two_reports_on_stdout_is_a_usage_error():
    done = run_kit("check", "--points", "--json", "-")
    assert done.returncode == 2 and "choose one report" in " ".join(done.stderr.split())


# -- hidden checks ----------------------------------------------------------------------------
HIDDEN_FAILING = '''
import pytest
from support import setting_values


@pytest.mark.hint("This class keeps time in Dhaka: TIME_ZONE = 'Asia/Dhaka'.")
def test_time_zone():
    zone = setting_values("TIME_ZONE").get("TIME_ZONE")  # asked of the host: checks never import the tree
    assert zone == "Asia/Dhaka", f"TIME_ZONE is {zone!r}, not 'Asia/Dhaka'."
'''
HIDDEN_PASSING = '''
def test_manage_py_is_kept(project):
    assert (project / "manage.py").is_file(), "manage.py is gone."
'''


def test_hidden_checks_are_scored_with_the_stage_they_name(solved_tree, tmp_path):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_settings_kept.py").write_text(HIDDEN_PASSING)
    (hidden / "test_nostage_extra.py").write_text(HIDDEN_PASSING)
    env = {"KIT_HIDDEN_CHECKS": str(hidden)}
    passing = stage(grade_json(solved_tree, "settings", env=env), "settings")
    assert passing["passed"] and "test_manage_py_is_kept" in passing["passed_checks"]

    (hidden / "test_settings_zone.py").write_text(HIDDEN_FAILING)
    done = run_kit("check", "settings", "--project", str(solved_tree), "--json", "-", env=env)
    assert "test_nostage_extra.py names no stage" in " ".join(done.stderr.split())
    failing = stage(json.loads(done.stdout), "settings")
    assert not failing["passed"] and failing["points"] == 0
    assert failing["failures"][0]["test"] == "test_time_zone"
    assert "Asia/Dhaka" in failing["failures"][0]["message"] and "Dhaka" in failing["failures"][0]["hint"]


def test_a_hidden_checks_folder_that_does_not_exist_is_a_clear_usage_error(solved_tree, tmp_path):
    done = run_kit("check", "settings", "--project", str(solved_tree), env={"KIT_HIDDEN_CHECKS": str(tmp_path / "no")})
    assert done.returncode == 2 and "not a folder" in " ".join(done.stderr.split())


# -- watch mode -------------------------------------------------------------------------------
class Reader:
    """Collects a process's stdout in a thread so the test can wait for text without blocking."""

    def __init__(self, proc):
        self.text = ""
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc):
        for line in proc.stdout:
            self.text += line

    def wait_for(self, needle: str, count: int = 1, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while self.text.count(needle) < count:
            assert time.monotonic() < deadline, f"waited for {needle!r}; output so far:\n{self.text}"
            time.sleep(0.1)


def test_watch_regrades_the_stage_in_hand_on_save_and_stops_cleanly(starter_tree):
    env = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"}
    env.update(COLUMNS="200", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "kit", "check", "--watch", "--project", str(starter_tree)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=KIT_ROOT)
    reader = Reader(proc)
    try:
        reader.wait_for("Watching for saved files")
        assert "Stage in hand: 1 settings" in reader.text
        assert "2 │ asgi" not in reader.text, "only the stage in hand is graded"
        time.sleep(0.05)   # a save in the same mtime tick as the snapshot would go unseen on coarse clocks
        shutil.copy(SOLUTIONS / "myproject" / "settings.py", starter_tree / "myproject" / "settings.py")
        reader.wait_for("Watching for saved files", count=2)
        after_save = reader.text.split("myproject/settings.py changed", 1)[1]
        assert "pass" in after_save and "Stage in hand: 2 asgi" in after_save, after_save
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    reader.thread.join(timeout=10)
    assert proc.returncode == 0, reader.text
    assert "Stopped watching." in reader.text
    assert not kit_processes(str(starter_tree)), "a checkpoint process outlived the watch"


# -- notebook progress -------------------------------------------------------------------------
def test_progress_strip_shows_passed_stages_and_whats_next(half_tree):
    from kit.notebook import progress

    strip = progress(project=half_tree).data
    assert "✔ 1 settings" in strip and "➜ 2 asgi" in strip
    assert "Next: stage 2 <b>ASGI application</b>" in strip and catalogue.get("asgi").notebook in strip
    assert f"Score {catalogue.get('settings').points}/" in strip
