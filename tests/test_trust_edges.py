"""The trust edges of grading: links, hidden checks, learner text as output, points without a sandbox, Classroom.

Built like tests/test_forgery.py: each attack is a tree (or a class folder) built on the starter plus a few
files, graded through the real commands. Each must score 0 or be refused in one sentence, leak nothing (no
solution, no hidden check's expected value, in any report), and change nothing (the kit, the files a link
points at, other learners' trees).
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from conftest import KIT_ROOT, SOLUTIONS, STARTER, checkpoint_outcomes, copy_tree, run_kit, stage
from kit.output import classroom
from kit.class_grading.classfolder import GRADED, REFUSED, Submission, one_learner_per_tree
from kit.grading.explain import Places, enclosing_function, exit_calls
from kit.grading.report import MESSAGE_LIMIT, Failure, Report, StageResult
from kit.course.i18n import T

SOLVED_CONSUMER = (SOLUTIONS / "myapp" / "consumers.py").read_text(encoding="utf-8")
SOLUTION_MARK = "group_send"            # in the solved consumer, never in the starter's
SECRET = "SECRET-EXPECTED-VALUE-4c1e"
# Rich markup that crashes a table, a screen clear, an OSC 52 clipboard write, a bell, NUL and friends.
NASTY = ("boom [/] [bold red]x[/] \x1b[2J\x1b]52;c;aGFja2Vk\x07 nul\x00 bs\x08 vt\x0b del\x7f c1\x9b "
         "rlo\u202e 01/01 \u202c isolate\u2067x\u2069 end")
NO_SANDBOX = {"KIT_SANDBOX": "off", "KIT_REQUIRE_SANDBOX": ""}
QUICK = {"KIT_TEST_TIME_LIMIT": "20", "KIT_STAGE_TIME_LIMIT": "120", "REDIS_URL": ""}


def fingerprint(*folders: Path) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def no_control(text: str) -> bool:
    return not any(ord(c) < 32 and c not in "\t\n" or 0x7f <= ord(c) <= 0x9f or 0x202a <= ord(c) <= 0x202e
                   or 0x2066 <= ord(c) <= 0x2069 for c in text)


# -- links: a linked tree is refused, a link in a tree is never followed ---------------------------------------
def test_a_project_linked_to_solutions_is_refused_by_kit_check(tmp_path):
    link = tmp_path / "project"
    link.symlink_to(SOLUTIONS, target_is_directory=True)
    real = copy_tree(STARTER, tmp_path / "real" / "tree")
    (tmp_path / "via").symlink_to(tmp_path / "real", target_is_directory=True)   # a linked folder above the tree
    for args, env in ((["--project", str(link)], {}), ([], {"KIT_PROJECT": str(link)}),
                      (["--project", str(tmp_path / "via" / "tree")], {})):
        done = run_kit("check", "settings", *args, "--json", "-", env=env)
        said = " ".join(done.stderr.split())
        assert done.returncode == 2 and "symbolic link" in said and "never follows links" in said, said
        assert done.stdout == "" and SOLUTION_MARK not in done.stderr
    assert real.is_dir()


def test_the_classroom_workflow_refuses_a_linked_submission(tmp_path):
    """KIT_REQUIRE_SANDBOX=1 as the workflow sets it: a project/ linked to solutions/ once scored full marks."""
    steps = classroom.workflow()["jobs"][classroom.JOB_ID]["steps"]
    choose = next(s for s in steps if s.get("name") == "Choose the tree to grade")
    grading = next(s for s in steps if s.get("id") == "settings")
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "project").symlink_to(SOLUTIONS, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"}
    env.update(GITHUB_WORKSPACE=str(tmp_path), GITHUB_OUTPUT=str(tmp_path / "out"), GITHUB_ENV=str(tmp_path / "env"),
               KIT_REQUIRE_SANDBOX="1")
    done = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", choose["run"]], cwd=KIT_ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout.strip() == f"::error::{classroom.LINKED_PROJECT}"
    # Were the step skipped, the grading step refuses the link itself: an error result, 0 points.
    env["KIT_PROJECT"] = str(tmp_path / "submission" / "project")
    (tmp_path / "out").write_text("")
    subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", grading["run"]], cwd=KIT_ROOT,
                   env=env, capture_output=True, text=True, timeout=300)
    result = classroom.decode((tmp_path / "out").read_text().split("result=", 1)[1].strip())
    assert result["status"] == "error" and [t["score"] for t in result["tests"]] == [0]
    assert "symbolic link" in result["tests"][0]["message"]


def test_classroom_grading_refuses_a_tree_holding_a_link_out_of_it(tmp_path):
    tree = copy_tree(STARTER, tmp_path / "tree")
    (tree / "myapp" / "consumers.py").unlink()
    (tree / "myapp" / "consumers.py").symlink_to(SOLUTIONS / "myapp" / "consumers.py")
    done = run_kit("check", "consumer", "--project", str(tree), "--format", "classroom")
    assert done.returncode == 2 and "leads out of it" in " ".join(done.stderr.split())
    result = classroom.decode(done.stdout.strip())
    assert result["status"] == "error" and all(t["score"] == 0 for t in result["tests"])
    assert SOLUTION_MARK not in done.stdout + done.stderr


def test_grading_copies_links_as_links_and_drops_those_leading_out(tmp_path):
    """kit check (learner-side) still grades a tree with a link out of it: the link is not in the copy, so the
    solved consumer it points at scores nothing."""
    from kit.grading.scratch import scratch_copy

    tree = copy_tree(STARTER, tmp_path / "tree")
    (tree / "myapp" / "consumers.py").unlink()
    (tree / "myapp" / "consumers.py").symlink_to(SOLUTIONS / "myapp" / "consumers.py")
    (tree / "myapp" / "alias.py").symlink_to("views.py")
    (tree / "myapp" / "absolute.py").symlink_to(tree / "manage.py")
    (tree / "myapp" / "dot").symlink_to(".")
    (tree / "myapp" / "up.py").symlink_to("dot/../../../secret.py")   # inside by its text, outside in fact
    copy = scratch_copy(tree, tmp_path / "copy")
    links = {p.name: os.readlink(p) for p in (copy / "myapp").iterdir() if p.is_symlink()}
    assert links == {"alias.py": "views.py", "absolute.py": "../manage.py", "dot": "."}, links
    assert not (copy / "myapp" / "consumers.py").exists() and not os.path.lexists(copy / "myapp" / "up.py")
    report = json.loads(run_kit("check", "consumer", "--project", str(tree), "--json", "-", env=QUICK).stdout)
    assert report["score"] == 0 and SOLUTION_MARK not in json.dumps(report)


def build_linked_class(root: Path) -> None:
    copy_tree(STARTER, root / "ana" / "project")
    (root / "bob").mkdir()
    (root / "bob" / "project").symlink_to(SOLUTIONS, target_is_directory=True)          # the kit's solutions
    (root / "carol").symlink_to(root / "ana", target_is_directory=True)                 # another learner
    dave = copy_tree(STARTER, root / "dave" / "project")
    (dave / "myapp" / "consumers.py").unlink()
    (dave / "myapp" / "consumers.py").symlink_to(root / "ana" / "project" / "myapp" / "consumers.py")
    erin = root / "erin" / "repo"                                                       # a tree of links only
    erin.mkdir(parents=True)
    for name in ("manage.py", "myproject", "myapp"):
        (erin / name).symlink_to(SOLUTIONS / name)


def test_grade_all_refuses_linked_learners_and_grades_no_tree_twice(tmp_path):
    root = tmp_path / "class"
    build_linked_class(root)
    before = fingerprint(root / "ana", SOLUTIONS)
    out = tmp_path / "grades"
    done = run_kit("grade-all", str(root), "settings", "--out", str(out), env=QUICK, timeout=900)
    assert done.returncode == 0, done.stderr
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        table = {row["learner"]: row for row in csv.DictReader(handle) if row["learner"] and
                 not row["learner"].startswith("(")}
    for name in ("bob", "carol", "dave", "erin"):
        assert table[name]["total"] == "0" and "symbolic link" in table[name]["note"], (name, table[name])
    data = json.loads((out / "grades.json").read_text())
    assert {e["learner"]: e["status"] for e in data["learners"]}["erin"] == REFUSED
    assert SOLUTION_MARK not in (out / "grades.json").read_text() + done.stdout
    assert fingerprint(root / "ana", SOLUTIONS) == before


def test_one_tree_found_for_two_learners_is_refused_for_both(tmp_path):
    """A bind mount (or any second way in) shows one tree in two learners' folders: graded for neither."""
    tree = copy_tree(STARTER, tmp_path / "ana" / "project")
    subs = [Submission("ana", tmp_path / "ana", tree), Submission("bob", tmp_path / "bob", tree),
            Submission("carl", tmp_path / "carl", copy_tree(STARTER, tmp_path / "carl" / "project"))]
    one_learner_per_tree(subs)
    assert [s.status for s in subs] == [REFUSED, REFUSED, GRADED]
    assert "never graded for two learners" in subs[0].error and "bob" in subs[0].error


# -- trusted readers never follow a planted link -------------------------------------------------------------
@pytest.fixture
def secret_file(tmp_path) -> Path:
    """Something only the instructor may read: a hidden check."""
    folder = tmp_path / "instructor"
    folder.mkdir()
    path = folder / "test_settings_secret.py"
    path.write_text(f"import sys\n# {SECRET}\nTIME_ZONE = 'x'  # 'SECRETNAME'\nsys.exit(3)\n"
                    f"def check():\n    chat_mesage()\n")
    return path


@pytest.mark.parametrize("command", ["reset", "solve"])
def test_kit_reset_and_solve_never_read_or_write_through_a_planted_link(tmp_path, secret_file, command):
    tree = copy_tree(STARTER, tmp_path / "tree")
    (tree / "myproject" / "settings.py").unlink()
    (tree / "myproject" / "settings.py").symlink_to(secret_file)
    before = secret_file.read_bytes()
    done = run_kit(command, "settings", "--project", str(tree))
    said = " ".join(done.stdout.split())
    assert done.returncode == 1 and "symbolic link" in said and "Nothing was written" in said, said
    assert secret_file.read_bytes() == before and (tree / "myproject" / "settings.py").is_symlink()
    backups = tree / ".kit-backups"
    assert not backups.exists() or SECRET not in "".join(p.read_text() for p in backups.rglob("*") if p.is_file())
    # A linked backup folder: nothing is written through it either.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    other = copy_tree(STARTER, tmp_path / "other")
    (other / "myproject" / "settings.py").write_text("# the learner's own edit\n")
    (other / ".kit-backups").symlink_to(elsewhere, target_is_directory=True)
    done = run_kit(command, "settings", "--project", str(other), "--force")
    assert done.returncode == 1 and list(elsewhere.iterdir()) == []
    assert (other / "myproject" / "settings.py").read_text() == "# the learner's own edit\n"


def test_kit_hint_never_reads_or_writes_its_state_through_a_link(tmp_path, secret_file):
    from kit.course import hints

    tree = copy_tree(STARTER, tmp_path / "tree")
    (tree / ".kit").mkdir()
    (tree / ".kit" / "hints.json").symlink_to(secret_file)
    before = secret_file.read_bytes()
    assert hints.next_rung(tree, "settings", "test_channels_installed", ("a", "b", "c")) == 0
    assert secret_file.read_bytes() == before


def test_the_explainer_never_reads_a_planted_link(tmp_path, secret_file):
    tree = copy_tree(STARTER, tmp_path / "tree")
    for relpath in ("myproject/settings.py", "myapp/consumers.py"):
        (tree / relpath).unlink()
        (tree / relpath).symlink_to(secret_file)
    places = Places(tree)
    assert places.naming("SECRETNAME") == "" and places.naming("chat_mesage", module=False) == ""
    assert exit_calls(tree) == []
    assert enclosing_function(str(tree / "myapp" / "consumers.py"), 6, tree) is None
    (tree / "myapp" / "views.py").write_text("async def view():\n    exit(1)\n")
    assert exit_calls(tree) and enclosing_function(str(tree / "myapp" / "views.py"), 2, tree) == ("view", True)


# -- hidden checks: their name and hint, never what they compare ----------------------------------------------
HIDDEN = f'''
import pytest

EXPECTED = "{SECRET}"


@pytest.mark.hint("Keep time the way this class does: see lesson 1.")
def test_zone_is_ours():
    zone = "UTC"
    assert zone == EXPECTED


def test_raises_with_the_answer():
    raise ValueError(EXPECTED)


def test_compares_inside_a_call():
    assert sorted([EXPECTED]) == ["nothing"]


def test_is_not_rewritten():
    assert "@py_builtins" not in globals(), "pytest rewrote this module's asserts"


@pytest.mark.xfail(reason="being phased in this term")
def test_phased_in():
    assert "UTC" == EXPECTED


def test_skips_with_the_answer():
    pytest.skip(EXPECTED)
'''
HIDDEN_BROKEN = f'raise ImportError("{SECRET}")\n'


@pytest.fixture
def hidden_checks(tmp_path) -> Path:
    folder = tmp_path / "hidden"
    folder.mkdir()
    (folder / "test_settings_secret.py").write_text(HIDDEN)
    return folder


def test_a_hidden_checks_failure_says_its_name_and_hint_only(tmp_path, hidden_checks):
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    outcomes = checkpoint_outcomes(tree, "settings", env={"KIT_HIDDEN_CHECKS": str(hidden_checks)})
    said = json.dumps(outcomes)
    assert SECRET not in said, said
    zone = outcomes["test_zone_is_ours"]
    assert zone["outcome"] == "failed" and zone["message"] == (
        "Your instructor's check test_zone_is_ours does not pass. Keep time the way this class does: see lesson 1.")
    assert outcomes["test_raises_with_the_answer"]["message"] == \
        "Your instructor's check test_raises_with_the_answer does not pass."
    assert outcomes["test_compares_inside_a_call"]["outcome"] == "failed"
    assert outcomes["test_is_not_rewritten"]["outcome"] == "passed", "assertion rewriting is off for hidden checks"
    for name in ("test_phased_in", "test_skips_with_the_answer"):   # a skip's or xfail's reason is not shown either
        assert outcomes[name]["message"] == f"Your instructor's check {name} was skipped or marked to fail; tell " \
                                            "your instructor.", outcomes[name]


def test_a_hidden_module_that_cannot_load_says_so_without_its_error(tmp_path):
    folder = tmp_path / "hidden"
    folder.mkdir()
    (folder / "test_settings_broken.py").write_text(HIDDEN_BROKEN)
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    outcomes = checkpoint_outcomes(tree, "settings", env={"KIT_HIDDEN_CHECKS": str(folder)})
    assert SECRET not in json.dumps(outcomes)
    assert outcomes["collect"]["outcome"] == "failed" and "could not be loaded" in outcomes["collect"]["message"]


def test_no_report_shows_a_hidden_checks_expected_value(tmp_path, hidden_checks):
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    env = {"KIT_HIDDEN_CHECKS": str(hidden_checks), **QUICK}
    junit = tmp_path / "r.xml"
    table = run_kit("check", "settings", "--project", str(tree), "--junit", str(junit), env=env)
    as_json = run_kit("check", "settings", "--project", str(tree), "--json", "-", env=env)
    as_classroom = run_kit("check", "settings", "--project", str(tree), "--format", "classroom", env=env)
    for done in (table, as_json, as_classroom):
        assert done.returncode == 1, done.stderr
        assert SECRET not in done.stdout + done.stderr
    assert SECRET not in junit.read_text() and SECRET not in json.dumps(classroom.decode(as_classroom.stdout))
    settings = stage(json.loads(as_json.stdout), "settings")
    assert settings["points"] == 0 and "Your instructor's check" in settings["failures"][0]["message"]


# -- output is data ---------------------------------------------------------------------------------------------
def nasty_report() -> Report:
    made = T("{doing}: {error} at {place}.", doing="Loading myproject/settings.py", error=f"RuntimeError: {NASTY}",
             place="myproject/settings.py, line 3")
    failures = [Failure("test_settings_import", made, f"hint {NASTY}")]
    flood = [Failure("test_asgi_application", "x[/]" * 100_000, "h")]
    return Report(f"/tmp/[/]{NASTY}", [StageResult("settings", "Settings", False, 0, 10, failures=failures),
                                       StageResult("asgi", "ASGI application", False, 0, 10, failures=flood)],
                  isolation="bubblewrap: test")


def test_learner_text_renders_as_data_in_every_report():
    from rich.console import Console

    from kit.output import render
    from kit.notebook import CheckResult

    report = nasty_report()
    for failure in (r.failures[0] for r in report.stages):
        assert no_control(failure.message) and no_control(failure.hint) and len(failure.message) <= MESSAGE_LIMIT
    assert isinstance(report.stages[0].failures[0].message, T), "a cleaned sentence keeps its template"
    for lang in ("en", "bn"):
        console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system="truecolor")
        console.print(render.table(report, lang))                  # used to raise MarkupError on "[/]"
        shown = console.file.getvalue()
        assert "[/]" in shown and "52;c;aGFja2Vk" in shown and "\x1b]52" not in shown and "\x1b[2J" not in shown
        assert "\x00" not in shown and "\x07" not in shown
    data = json.loads(render.to_json(report))
    texts = [data["project"], *(f[k] for s in data["stages"] for f in s["failures"] for k in ("message", "hint"))]
    assert all(no_control(t) for t in texts) and "[/]" in texts[1]
    ET.fromstring(render.to_junit(report))                          # valid XML: control characters gone
    result = CheckResult(report)
    assert "[/]" in repr(result) and "\x1b" not in repr(result) and "\x1b" not in result._repr_html_() and "[/]" in result._repr_html_()


def test_a_learners_exception_reaches_every_report_safely(tmp_path):
    """Through the real path: settings.py raises the nasty text (and a flood), in the sandboxed host."""
    tree = copy_tree(STARTER, tmp_path / "tree")
    with open(tree / "myproject" / "settings.py", "a", encoding="utf-8") as settings:
        settings.write(f"\nraise RuntimeError({NASTY!r} + 'y' * 200_000)\n")
    junit = tmp_path / "r.xml"
    table = run_kit("check", "settings", "--project", str(tree), "--junit", str(junit), env=QUICK)
    assert table.returncode == 1, table.stderr
    assert "Traceback" not in table.stderr and "\x1b" not in table.stdout and "\x07" not in table.stdout
    assert "[/]" in table.stdout, table.stdout
    ET.parse(junit)
    report = json.loads(run_kit("check", "settings", "--project", str(tree), "--json", "-", env=QUICK).stdout)
    message = stage(report, "settings")["failures"][0]["message"]
    assert "[/]" in message and no_control(message) and len(message) <= MESSAGE_LIMIT


# -- points without a sandbox are advisory, and refused for marks unless asked for -----------------------------
def test_unsandboxed_grade_all_refuses_without_the_flag_and_marks_advisory_with_it(tmp_path):
    root = tmp_path / "class"
    copy_tree(STARTER, root / "ana" / "project")
    out = tmp_path / "grades"
    refused = run_kit("grade-all", str(root), "settings", "--out", str(out), env=NO_SANDBOX)
    said = " ".join(refused.stderr.split())
    assert refused.returncode == 2 and "--allow-unsandboxed" in said and "apt-get install bubblewrap" in said, said
    assert not out.exists()
    done = run_kit("grade-all", str(root), "settings", "--out", str(out), "--allow-unsandboxed",
                   env={**NO_SANDBOX, **QUICK}, timeout=600)
    assert done.returncode == 0, done.stderr
    text = (out / "grades.csv").read_text(encoding="utf-8-sig")
    assert "(advisory)" in text and "advisory" in next(r for r in text.splitlines() if r.startswith("ana"))
    data = json.loads((out / "grades.json").read_text())
    assert data["advisory"] is True and data["learners"][0]["advisory"] is True
    assert data["learners"][0]["report"]["advisory"] is True
    assert "advisory" in (out / "report.html").read_text()
    assert "advisory" in next((out / "feedback").iterdir()).read_text()


def test_unsandboxed_check_marks_every_report_advisory_and_classroom_refuses(tmp_path):
    tree = copy_tree(STARTER, tmp_path / "tree")
    refused = run_kit("check", "settings", "--project", str(tree), "--format", "classroom", env=NO_SANDBOX)
    assert refused.returncode == 2 and "--allow-unsandboxed" in " ".join(refused.stderr.split())
    assert classroom.decode(refused.stdout.strip())["status"] == "error"
    junit = tmp_path / "r.xml"
    allowed = run_kit("check", "settings", "--project", str(tree), "--format", "classroom", "--allow-unsandboxed",
                      "--junit", str(junit), env={**NO_SANDBOX, **QUICK})
    result = classroom.decode(allowed.stdout.strip())
    assert result["advisory"] is True and "advisory" in result["tests"][0]["message"]
    assert ET.parse(junit).getroot().get("advisory") == "true"
    shown = run_kit("check", "settings", "--project", str(tree), env={**NO_SANDBOX, **QUICK})
    assert "advisory" in shown.stdout
    as_json = json.loads(run_kit("check", "settings", "--project", str(tree), "--json", "-",
                                 env={**NO_SANDBOX, **QUICK}).stdout)
    assert as_json["advisory"] is True
    sandboxed = json.loads(run_kit("check", "settings", "--project", str(tree), "--json", "-", env=QUICK).stdout)
    assert sandboxed["advisory"] is (not sandboxed["isolation"].startswith("bubblewrap"))


# -- Classroom, honestly -----------------------------------------------------------------------------------------
def test_the_learners_workflow_can_read_no_token_and_runs_no_hidden_check():
    text = (KIT_ROOT / ".github" / "workflows" / "classroom.yml").read_text()
    assert text == classroom.workflow_yaml()
    body = yaml.safe_load(text)
    assert "secrets." not in json.dumps(body) and "token" not in json.dumps(body).lower()
    assert "HIDDEN" not in json.dumps(body) and "KIT_HIDDEN_CHECKS" not in text
    assert "FAST FEEDBACK, NOT MARKS" in text


def test_the_instructors_guide_says_first_that_classroom_reports_are_the_learners():
    guide = (KIT_ROOT / "docs" / "instructors.md").read_text()
    first = guide.split("\n## ", 1)[0]
    assert "learner's own repository" in first and "kit grade-all" in first and "gh classroom clone" in first
    assert "reveal to the code they question" in guide
