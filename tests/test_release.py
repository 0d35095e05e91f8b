"""`kit release`: the student version grades like the kit, and holds no solution and no hidden check."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from pathlib import Path

import nbformat
import pytest

import classic as CLASSIC
from conftest import KIT_ROOT, SOLUTIONS, copy_tree, run_kit
from kit import catalogue, classroom
from kit.project import RUN_LEFTOVERS

SECRET = "hidden-check-marker-7f3a"


def run_release_kit(release, *args, timeout=900):
    """`python -m kit` from the release itself: its own kit package, not the one installed here."""
    env = {k: v for k, v in os.environ.items() if k not in ("KIT_PROJECT", "KIT_HIDDEN_CHECKS")}
    env["PYTHONPATH"] = str(release)
    return subprocess.run([sys.executable, "-m", "kit", *args], cwd=release, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "student-kit"
    done = run_kit("release", str(out))
    assert done.returncode == 0, done.stderr
    return out


def files_of(folder):
    """The kit's files, not what running it leaves behind (a load test's db.sqlite3, bytecode)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not RUN_LEFTOVERS & set(p.relative_to(folder).parts))


def test_release_leaves_out_solutions_tests_and_instructor_material(release):
    for gone in ("solutions", "tests", "exercises/hidden", "docs/instructors.md", ".git", ".venv"):
        assert not (release / gone).exists(), f"{gone} must not be in a student release"
    for checkpoint in (KIT_ROOT / "exercises").glob("*.py"):
        assert (release / "exercises" / checkpoint.name).read_bytes() == checkpoint.read_bytes()
    assert (release / ".github/workflows/classroom.yml").read_text() == classroom.workflow_yaml()


def test_release_notebooks_are_all_there_without_outputs(release):
    sources = sorted(p.name for p in (KIT_ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in (release / "notebooks").glob("*.ipynb")) == sources
    for path in (release / "notebooks").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name} keeps outputs"


def test_release_starter_is_the_committed_project_and_its_snapshot_is_not_gitignored(release):
    for relpath in catalogue.PROJECT_FILES:
        committed = subprocess.run(["git", "-C", str(KIT_ROOT), "show", f"HEAD:project/{relpath}"],
                                   capture_output=True, check=True).stdout
        assert (release / "project" / relpath).read_bytes() == committed
        assert (release / ".kit/starter" / relpath).read_bytes() == committed
    subprocess.run(["git", "init", "-q", str(release)], check=True)
    try:
        ignored = subprocess.run(["git", "-C", str(release), "check-ignore", ".kit/starter/manage.py"],
                                 capture_output=True)
        assert ignored.returncode == 1, "a learner's repository must commit .kit/starter/ for `kit reset`"
    finally:
        shutil.rmtree(release / ".git")


def starter_of(solution: Path) -> bytes:
    """The starter's bytes of the project file a solution file answers (b"" for a file the starter lacks)."""
    rel = solution.relative_to(SOLUTIONS)
    in_project = KIT_ROOT / "project" / (Path(*rel.parts[2:]) if rel.parts[0] == "stages" else rel)
    return in_project.read_bytes() if in_project.is_file() else b""


def distinctive_solution_lines() -> set[str]:
    """Lines only the finished tree has: absent from the starter and from all other material of the kit."""
    lines = set()
    for path in files_of(SOLUTIONS):
        lines |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if len(line.strip()) >= 20}
    elsewhere = ""
    for top in ("project", "exercises", "notebooks", "kit", "README.md", "docs", "locale"):
        for path in ([KIT_ROOT / top] if (KIT_ROOT / top).is_file() else files_of(KIT_ROOT / top)):
            if path.suffix in (".py", ".html", ".ipynb", ".md", ".txt", ".po", ".pot"):
                elsewhere += path.read_text(encoding="utf-8", errors="replace")
    return {line for line in lines if line not in elsewhere}


def test_no_solution_file_or_text_leaks_into_the_release(release):
    distinctive = distinctive_solution_lines()
    assert len(distinctive) > 20, "the solutions should have many lines of their own to look for"
    finished = {p.read_bytes() for p in files_of(SOLUTIONS) if p.read_bytes() != starter_of(p)}
    for path in files_of(release):
        data = path.read_bytes()
        assert data not in finished, f"{path.relative_to(release)} is a solution file"
        text = data.decode("utf-8", errors="replace")
        leaked = [line for line in distinctive if line in text]
        assert not leaked, f"{path.relative_to(release)} holds solution lines: {leaked[:3]}"


# A run this long of an answer's code lines is a copy of that answer, not a fragment or a hint.
RUN = 6
LESSONS = "notebooks/"  # the lessons show fragments of the answers on purpose, cell by cell


def code_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith(("#", "//"))]


def answers() -> dict[str, tuple[str, str]]:
    """Every answer the kit holds for a project file: where it is -> (its text, the starter's text).

    The finished tree, each stage's own solution (solutions/stages/<stage>/), and
    the classic tutorial that the tests build trees from (tests/classic.py).
    """
    found = {}
    for path in files_of(SOLUTIONS):
        rel = path.relative_to(SOLUTIONS)
        if path.suffix in (".py", ".html"):
            found[f"solutions/{rel.as_posix()}"] = (path.read_text(encoding="utf-8"),
                                                   starter_of(path).decode("utf-8"))
    for name, rel in (("CONSUMER", "myapp/consumers.py"), ("ROUTING", "myapp/routing.py"), ("ASGI", "myproject/asgi.py")):
        found[f"tests/classic.py {name}"] = (getattr(CLASSIC, name), (KIT_ROOT / "project" / rel).read_text(encoding="utf-8"))
    return found


def answer_runs() -> dict[str, str]:
    """Every RUN consecutive code lines of an answer that are not all the starter's -> whose answer they are."""
    runs = {}
    for where, (text, starter_text) in answers().items():
        lines, starter = code_lines(text), set(code_lines(starter_text))
        for at in range(len(lines) - RUN + 1):
            run = lines[at:at + RUN]
            if not all(line in starter for line in run):
                runs.setdefault("\n".join(run), where)
    return runs


def copied_answers(folder: Path) -> list[str]:
    """'file holds a copy of <answer>' for every file under folder, lessons apart, that holds a run of an answer."""
    runs = answer_runs()
    found = []
    for path in files_of(folder):
        rel = path.relative_to(folder).as_posix()
        if rel.startswith(LESSONS):
            continue
        text = "\n".join(code_lines(path.read_text(encoding="utf-8", errors="replace")))
        whose = sorted({where for run, where in runs.items() if run in text})
        if whose:
            found.append(f"{rel} holds a copy of {', '.join(whose)}")
    return found


def test_no_file_of_the_release_holds_an_answer_outside_the_lessons(release):
    assert len(answer_runs()) > 50, "the answers should have many runs to look for"
    assert copied_answers(release) == []


def test_the_answer_check_sees_the_classic_tutorial_shipped_in_the_package(tmp_path):
    """The check must be able to fail: the tutorial's answer once shipped as kit/classic.py."""
    (tmp_path / "kit").mkdir()
    (tmp_path / "kit" / "classic.py").write_text((KIT_ROOT / "tests" / "classic.py").read_text(encoding="utf-8"))
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "03_consumer.py").write_text(CLASSIC.CONSUMER)  # a lesson may show it
    found = copied_answers(tmp_path)
    assert len(found) == 1 and found[0].startswith("kit/classic.py holds a copy of") and "CONSUMER" in found[0]


def test_release_kit_grades_the_starter_to_zero_and_a_solved_tree_to_full_marks(release, tmp_path):
    where = subprocess.run([sys.executable, "-c", "import kit; print(kit.__file__)"], cwd=release,
                           env=dict(os.environ, PYTHONPATH=str(release)), capture_output=True, text=True, check=True)
    assert where.stdout.strip() == str(release / "kit" / "__init__.py"), "the release's own kit must be graded"
    starter = run_release_kit(release, "check", "--json", "-")
    assert starter.returncode == 1, starter.stderr
    report = json.loads(starter.stdout)
    assert report["project"] == str(release / "project")
    assert report["score"] == 0 and all(not s["passed"] for s in report["stages"] if s["available"])
    solved = copy_tree(SOLUTIONS, tmp_path / "solved")
    finished = run_release_kit(release, "check", "--project", str(solved), "--json", "-")
    assert finished.returncode == 0, finished.stdout[-2000:]
    report = json.loads(finished.stdout)
    assert report["score"] == report["max_score"] == sum(s.points for s in catalogue.STAGES if s.available)


def test_release_solve_explains_and_reset_uses_the_snapshot(release, tmp_path):
    tree = copy_tree(release / "project", tmp_path / "mine")
    solve = run_release_kit(release, "solve", "settings", "--project", str(tree))
    assert solve.returncode == 1 and "no solutions" in " ".join(solve.stdout.split())
    routing = tree / "myapp" / "routing.py"   # hardening shares it: an edited copy needs --force
    routing.write_text("# my broken attempt\n")
    reset = run_release_kit(release, "reset", "routing", "--project", str(tree), "--force")
    assert reset.returncode == 0, reset.stdout + reset.stderr
    assert routing.read_bytes() == (release / ".kit/starter/myapp/routing.py").read_bytes()


def test_release_refuses_a_folder_that_is_not_empty(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    done = run_kit("release", str(tmp_path))
    assert done.returncode == 2 and "not empty" in " ".join(done.stderr.split())
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_hidden_checks_are_graded_by_the_kit_and_left_out_of_its_release(tmp_path):
    """A copy of the kit (no git) with exercises/hidden/: `kit check` scores the check, the release drops it."""
    kit_copy = tmp_path / "kit-copy"
    for top in ("kit", "exercises", "project", "solutions", "notebooks", "scripts"):
        if (KIT_ROOT / top).exists():
            shutil.copytree(KIT_ROOT / top, kit_copy / top, ignore=shutil.ignore_patterns("__pycache__", "hidden"))
    for name in ("pyproject.toml", "environment.yml", "Makefile", "README.md", ".gitignore"):
        shutil.copy(KIT_ROOT / name, kit_copy / name)
    (kit_copy / "exercises" / "hidden").mkdir()
    (kit_copy / "exercises" / "hidden" / "test_settings_secret.py").write_text(
        f'def test_secret(project):\n    assert (project / "SECRET.txt").is_file(), "{SECRET}: no SECRET.txt"\n')
    graded = run_release_kit(kit_copy, "check", "settings", "--project", str(kit_copy / "solutions"), "--json", "-")
    settings = json.loads(graded.stdout)["stages"][0]
    assert not settings["passed"] and SECRET in settings["failures"][0]["message"], "the hidden check must run"

    out = tmp_path / "student"
    built = run_release_kit(kit_copy, "release", str(out))
    assert built.returncode == 0, built.stderr
    assert not (out / "exercises" / "hidden").exists()
    assert not any(SECRET in p.read_text(errors="replace") for p in files_of(out))
    assert (out / "project" / "manage.py").is_file() and (out / ".kit/starter/manage.py").is_file()
    graded = run_release_kit(out, "check", "settings", "--project", str(kit_copy / "solutions"), "--json", "-")
    assert json.loads(graded.stdout)["stages"][0]["passed"], "without the hidden check the stage passes"
