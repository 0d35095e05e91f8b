"""`kit release`: the student version grades like the kit, and holds no solution and no hidden check."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

from pathlib import Path

import nbformat
import pytest

import classic as CLASSIC
from conftest import KIT_ROOT, MUST_FAIL, SOLUTIONS, copy_tree, run_kit
from kit.course import catalogue
from kit.output import classroom
from kit.course.project import RUN_LEFTOVERS

SECRET = "hidden-check-marker-7f3a"


def git(where, *args):
    return subprocess.run(["git", "-C", str(where), "-c", "user.name=Kit Test", "-c", "user.email=kit@example.invalid",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True)


def checkout_copy(dest: Path) -> Path:
    """A git checkout of the kit as its authors see it: its tracked and new (not ignored) files, all committed."""
    listed = subprocess.run(["git", "-C", str(KIT_ROOT), "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (KIT_ROOT / name).is_file() and not (KIT_ROOT / name).is_symlink():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(KIT_ROOT / name, dest / name)
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "the kit")
    return dest


def run_release_kit(release, *args, timeout=900, env=None):
    """`python -m kit` from the release itself: its own kit package, not the one installed here."""
    env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in ("KIT_PROJECT", "KIT_HIDDEN_CHECKS")}
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


def stage_states() -> dict[str, str]:
    """Each stage's state of a solution file with stage regions (kit/course/regions.py), which no file on disk holds."""
    from kit.course import files, regions

    return {f"solutions/{rel} after {stage.id}": files.solution_text(rel, stage)
            for rel in catalogue.PROJECT_FILES if (SOLUTIONS / rel).is_file()
            and regions.has_regions((SOLUTIONS / rel).read_text(encoding="utf-8"), rel)
            for stage in catalogue.stages_for_file(rel)}


def distinctive_solution_lines() -> set[str]:
    """Lines only the finished tree has: absent from the starter and from all other material of the kit."""
    lines = set()
    for path in files_of(SOLUTIONS):
        lines |= {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if len(line.strip()) >= 20}
    for text in stage_states().values():
        lines |= {line.strip() for line in text.splitlines() if len(line.strip()) >= 20}
    elsewhere = ""
    for top in ("project", "exercises", "notebooks", "kit", "README.md", "docs", "locale"):
        for path in ([KIT_ROOT / top] if (KIT_ROOT / top).is_file() else files_of(KIT_ROOT / top)):
            if path.suffix in (".py", ".html", ".ipynb", ".md", ".txt", ".po", ".pot", ".toml"):  # .toml: hint ladders
                elsewhere += path.read_text(encoding="utf-8", errors="replace")
    return {line for line in lines if line not in elsewhere}


def test_no_solution_file_or_text_leaks_into_the_release(release):
    distinctive = distinctive_solution_lines()
    assert len(distinctive) > 20, "the solutions should have many lines of their own to look for"
    finished = {p.read_bytes() for p in files_of(SOLUTIONS) if p.read_bytes() != starter_of(p)}
    finished |= {text.encode("utf-8") for text in stage_states().values()}
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

    The finished tree, each stage's own solution (cut from the finished file's stage regions), and
    the classic tutorial that the tests build trees from (tests/classic.py).
    """
    found = {}
    for path in files_of(SOLUTIONS):
        rel = path.relative_to(SOLUTIONS)
        if path.suffix in (".py", ".html"):
            found[f"solutions/{rel.as_posix()}"] = (path.read_text(encoding="utf-8"),
                                                   starter_of(path).decode("utf-8"))
    for where, text in stage_states().items():
        found[where] = (text, (KIT_ROOT / "project" / where.split()[0].removeprefix("solutions/")).read_text(encoding="utf-8"))
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
    # The starter must fail: a second try under load (kit/grading/busy.py) could only make it fail again, later.
    starter = run_release_kit(release, "check", "--json", "-", env=MUST_FAIL)
    assert starter.returncode == 1, starter.stderr
    report = json.loads(starter.stdout)
    assert report["project"] == str(release / "project")
    assert report["score"] == 0 and all(not s["passed"] for s in report["stages"] if s["available"])
    solved = copy_tree(SOLUTIONS, tmp_path / "solved")
    finished = run_release_kit(release, "check", "--project", str(solved), "--json", "-")
    report = json.loads(finished.stdout)
    failed = {s["id"]: s["failures"][:1] or s.get("skipped") for s in report["stages"] if not s["passed"]}
    assert finished.returncode == 0, failed
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
    """A copy of the kit with exercises/hidden/ (untracked): `kit check` scores the check, the release drops it."""
    kit_copy = checkout_copy(tmp_path / "kit-copy")
    (kit_copy / "exercises" / "hidden").mkdir()
    (kit_copy / "exercises" / "hidden" / "test_settings_secret.py").write_text(
        f'def test_secret(project):\n    assert (project / "SECRET.txt").is_file(), "{SECRET}: no SECRET.txt"\n')
    git(kit_copy, "add", "exercises/hidden")   # tracked, so it is the release's rule that leaves it out
    git(kit_copy, "commit", "-q", "-m", "hidden checks")
    graded = run_release_kit(kit_copy, "check", "settings", "--project", str(kit_copy / "solutions"), "--json", "-")
    settings = json.loads(graded.stdout)["stages"][0]
    first = settings["failures"][0]
    assert not settings["passed"] and first["test"] == "test_secret", "the hidden check must run"
    assert SECRET not in first["message"], "a hidden check shows its name and hint only (tests/test_trust_edges.py)"

    out = tmp_path / "student"
    built = run_release_kit(kit_copy, "release", str(out))
    assert built.returncode == 0, built.stderr
    assert not (out / "exercises" / "hidden").exists()
    assert not any(SECRET in p.read_text(errors="replace") for p in files_of(out))
    assert (out / "project" / "manage.py").is_file() and (out / ".kit/starter/manage.py").is_file()
    graded = run_release_kit(out, "check", "settings", "--project", str(kit_copy / "solutions"), "--json", "-")
    assert json.loads(graded.stdout)["stages"][0]["passed"], "without the hidden check the stage passes"


# -- what a release holds: git's list, nothing untracked (issue 25, point 1) ---------------------------
def test_a_class_graded_inside_the_checkout_stays_out_of_the_release(tmp_path):
    """`kit grade-all submissions/ --out grades/` in the kit's checkout once shipped every learner's grades."""
    kit_copy = checkout_copy(tmp_path / "kit")
    tracked = set(git(kit_copy, "ls-files").stdout.splitlines())
    planted = {
        "grades/grades.csv": "learner,total\nleo,140\n",
        "grades/report.html": "<p>leo 140/140</p>",
        "submissions/leo/repo/project/manage.py": "print('leo')\n",
        "submissions/leo/repo/project/myapp/consumers.py": "# leo's consumer\n",
        "notebooks/my-notes.ipynb": "{}",         # untracked inside a folder the release ships
        "exercises/test_draft_check.py": "def test_draft():\n    assert False\n",
        "venv/lib/site.py": "",                    # an environment git ignores under no rule
    }
    for rel, text in planted.items():
        (kit_copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (kit_copy / rel).write_text(text)
    out = tmp_path / "student"
    built = run_release_kit(kit_copy, "release", str(out))
    assert built.returncode == 0, built.stdout + built.stderr
    for gone in ("grades", "submissions", "venv", "notebooks/my-notes.ipynb", "exercises/test_draft_check.py"):
        assert not (out / gone).exists(), f"{gone} is not tracked by the kit's git and must not be released"
    made = {".github/workflows/classroom.yml", "README.md", "README.bn.md", "Makefile"}   # written by the release
    for path in files_of(out):
        rel = path.relative_to(out).as_posix()
        assert rel in tracked or rel in made or rel.startswith(".kit/starter/"), f"{rel} is not the kit's"


def test_a_file_staged_but_not_committed_stays_out_of_the_release(tmp_path):
    """A release holds HEAD's files only: `git add staged_grades.csv` once shipped a class's grades."""
    kit_copy = checkout_copy(tmp_path / "kit")
    (kit_copy / "staged_grades.csv").write_text("learner,total\nleo,140\n")
    (kit_copy / "docs" / "staged.md").write_text("staged, never committed\n")
    git(kit_copy, "add", "staged_grades.csv", "docs/staged.md")
    out = tmp_path / "student"
    built = run_release_kit(kit_copy, "release", str(out))
    assert built.returncode == 0, built.stdout + built.stderr
    assert not (out / "staged_grades.csv").exists() and not (out / "docs" / "staged.md").exists()
    assert (out / "README.md").is_file()


def test_release_refuses_a_kit_that_is_not_a_git_checkout(tmp_path):
    kit_copy = checkout_copy(tmp_path / "kit")
    shutil.rmtree(kit_copy / ".git")
    done = run_release_kit(kit_copy, "release", str(tmp_path / "student"))
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join(done.stderr.split())
    assert "not a git checkout" in said and "git clone" in said and said.count(". ") == 0, said
    assert not (tmp_path / "student").exists()


# -- a release's README and Makefile are the learner's, and every command in them works (point 7) -------
INSTRUCTOR_ONLY = ("solutions/", "test_forgery", "make bench", "benchmarks", "grade-all", "instructors.md")


def bash_commands(markdown: str) -> list[str]:
    """Every command of the ```bash blocks, comments off."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", markdown, re.S):
        commands += [line.split(" #")[0].strip() for line in block.splitlines() if line.strip()]
    return commands


# How the test runs each command of the learner README: for real when it is fast; `make -n` for a make
# target (it shows what make would run: the set-up, then JupyterLab or `kit check`); a server by --help.
KIT = ".venv/bin/kit"
RUN_HERE = {f"{KIT} check consumer", f"{KIT} status", f"{KIT} hint", f"{KIT} hint consumer", f"{KIT} reset consumer",
            "git add -A", 'git commit -m "stage consumer passes"', 'git add project && git commit -m "my work"',
            "git restore notebooks"}
DRY = {"make lab", "make lab-bn", "make check"}
ELSEWHERE = {f"{KIT} check": "test_release_kit_grades_the_starter_to_zero_and_a_solved_tree_to_full_marks",
             f"{KIT} serve": "--help here; tests/test_cli.py serves a project",
             "git push": "no remote here", "git pull": "no remote here"}


@pytest.fixture
def learner_copy(release, tmp_path):
    """The release as a learner holds it after `make lab`: a .venv whose python and kit are the release's own."""
    copy = tmp_path / "learner"
    shutil.copytree(release, copy)
    bin_dir = copy / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "python").symlink_to(sys.executable)
    (bin_dir / "kit").write_text(f'#!/bin/sh\nPYTHONPATH="{copy}" exec "{sys.executable}" -m kit "$@"\n')
    (bin_dir / "kit").chmod(0o755)
    stamp = copy / ".venv" / ".kit-installed"
    stamp.touch()
    os.utime(stamp, (time.time() + 60, time.time() + 60))   # newer than pyproject.toml: no reinstall
    return copy


def test_release_readme_and_makefile_are_the_learners(release):
    for name in ("README.md", "README.bn.md"):
        text = (release / name).read_text(encoding="utf-8")
        assert not [word for word in INSTRUCTOR_ONLY if word in text], f"{name} speaks to the instructor"
    assert (release / "README.md").read_text() != (KIT_ROOT / "README.md").read_text()
    assert catalogue.markdown_table() in (release / "README.md").read_text()
    bengali = (release / "README.bn.md").read_text(encoding="utf-8")
    for st in catalogue.STAGES:
        assert f"| `{st.id}` |" in bengali and f"notebooks/bn/{st.notebook}" in bengali, st.id
    assert sorted(set(bash_commands(bengali))) == sorted(set(bash_commands((release / "README.md").read_text()))), \
        "the Bengali README gives the same commands as the English one"
    for name in ("README.md", "README.bn.md"):
        links = re.findall(r"\]\(([^)#\s]+)\)", (release / name).read_text(encoding="utf-8"))
        assert links and not [link for link in links if not (release / link).exists()], f"{name}: broken links"
    makefile = (release / "Makefile").read_text()
    assert "bench" not in makefile and "pytest" not in makefile and "benchmarks" not in makefile


def test_docs_release_sources_are_current():
    """docs/release/ shows the stage table and the sections shared with the kit's READMEs as the release writes them."""
    from kit.output import release as rel

    for name in rel.LEARNER_DOCS.values():
        source = (KIT_ROOT / name).read_text(encoding="utf-8")
        assert rel.learner_readme(KIT_ROOT, name) == source, \
            f"{name} is stale: run `python -m kit.output.release` (it refreshes the blocks the kit shares with learners)"
    both = " ".join((KIT_ROOT / name).read_text(encoding="utf-8") for name in rel.LEARNER_DOCS.values())
    assert all(f"<!-- {name}:begin" in both for name in rel.SECTIONS), "every shared section has its place"


def test_the_bengali_troubleshooting_table_keeps_up_with_the_english():
    """README.bn.md's সমস্যা হলে (shared with the learner's README.bn.md) has a row for every English row,
    with the same error text as code."""
    from kit.output import release as rel

    english = rel.section(KIT_ROOT / "README.md", "Troubleshooting")
    bengali = rel.section(KIT_ROOT / "README.bn.md", "সমস্যা হলে")
    rows = [[line for line in text.splitlines() if line.startswith("| ")] for text in (english, bengali)]
    assert len(rows[0]) == len(rows[1]) > 2
    for en, bn in zip(rows[0][1:], rows[1][1:]):
        assert re.findall(r"`[^`]+`", en.split(" | ")[0]) == re.findall(r"`[^`]+`", bn.split(" | ")[0]), bn


def test_every_command_of_the_learner_readme_works_in_a_release(learner_copy):
    readme = (learner_copy / "README.md").read_text(encoding="utf-8")
    commands = bash_commands(readme)
    unknown = [c for c in commands if c not in RUN_HERE | DRY | set(ELSEWHERE)]
    assert not unknown, f"new README commands: say in this test how each is run: {unknown}"
    env = {k: v for k, v in os.environ.items() if k not in ("KIT_PROJECT", "KIT_HIDDEN_CHECKS", "MAKEFLAGS")}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=learner_copy, check=True)
    git_env = {**env, "GIT_AUTHOR_NAME": "Leo", "GIT_AUTHOR_EMAIL": "leo@example.invalid",
               "GIT_COMMITTER_NAME": "Leo", "GIT_COMMITTER_EMAIL": "leo@example.invalid"}
    for command in commands:
        if command in DRY:
            done = subprocess.run(["make", "-n", *command.split()[1:]], cwd=learner_copy, env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{command}: {done.stderr}"
            assert "pip install" not in done.stdout, f"{command} would reinstall: {done.stdout}"
            assert ("jupyter lab" in done.stdout) if "lab" in command else (".venv/bin/kit check" in done.stdout)
        elif command in RUN_HERE:
            if "git commit" in command:   # the learner's work since the last commit
                with open(learner_copy / "project" / "myapp" / "views.py", "a") as views:
                    views.write(f"# {command}\n")
            done = subprocess.run(command, shell=True, cwd=learner_copy, env=git_env, capture_output=True,
                                  text=True, timeout=600)
            # kit check/status/hint exit 1 while stages fail (the starter fails them all); 2 would be misuse
            assert done.returncode in ((0,) if command.startswith("git") else (0, 1)), \
                f"{command}: {done.returncode}\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
            assert "Traceback" not in done.stdout + done.stderr, command
    done = subprocess.run([KIT, "serve", "--help"], cwd=learner_copy, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    committed = set(subprocess.run(["git", "ls-files"], cwd=learner_copy, capture_output=True, text=True,
                                   check=True).stdout.splitlines())
    assert "project/manage.py" in committed and ".kit/starter/manage.py" in committed
    assert not [name for name in committed if name.startswith(".venv/")], "the README's git add must not commit .venv"
    test = subprocess.run(["make", "-n", "test"], cwd=learner_copy, env=env, capture_output=True, text=True)
    assert test.returncode == 0 and ".venv/bin/kit check" in test.stdout, "make test grades the learner's project"
    bench = subprocess.run(["make", "-n", "bench"], cwd=learner_copy, env=env, capture_output=True, text=True)
    assert bench.returncode != 0, "a release has no benchmarks, so no make bench"


# -- kit solve on a stage with no files of its own (point 10) ------------------------------------------
def test_solving_every_stage_in_a_loop_goes_on_past_a_stage_with_no_files(tmp_path):
    tree = copy_tree(KIT_ROOT / "project", tmp_path / "leo")
    empty = [st.id for st in catalogue.STAGES if not st.files]
    assert "daphne" in empty
    order = [st.id for st in catalogue.STAGES]
    for stage_id in order[:order.index("daphne") + 2]:   # as a script builds a class: settings ... redis
        done = run_kit("solve", stage_id, "--project", str(tree))
        assert done.returncode == 0, f"kit solve {stage_id}: {done.stdout}{done.stderr}"
    said = run_kit("solve", "daphne", "--project", str(tree))
    assert said.returncode == 0 and "no files of its own" in " ".join(said.stdout.split())
    assert run_kit("reset", "daphne", "--project", str(tree)).returncode == 0
    assert run_kit("solve", "daphne", "--project", str(tmp_path / "nowhere")).returncode == 2


# -- the instructor guide matches the kit (point 10) -----------------------------------------------------
def test_instructor_guide_steps_are_in_order_and_its_figures_are_the_kits():
    from kit.grading.scratch import LIMITS

    guide = (KIT_ROOT / "docs" / "instructors.md").read_text(encoding="utf-8")
    steps = [int(n) for n in re.findall(r"^### (\d+)\. ", guide, re.M)]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 8, steps
    total = sum(st.points for st in catalogue.STAGES)
    assert f"{total} points" in guide and f"/{total}" in guide
    assert not re.search(r"\b\d+/100\b", guide), "examples are out of the course's total"
    flat = " ".join(guide.split())
    for needed in ("bubblewrap", "Linux", "Chromium", "font", "--resume", "--force", "tmux", "nohup", "KIT_REF",
                   "public", " ".join(LIMITS.split()), "45 to 63 s"):
        assert needed in flat, f"the guide should say {needed!r}"
    assert "20 to 30 s" not in flat


def test_the_last_guard_knows_every_stages_cut_state(tmp_path):
    """The finished files carry stage regions (kit/course/regions.py): a stage's state, cut from them, exists nowhere as a
    file, so the release's last guard must cut them too to recognise one that slipped into a release."""
    from kit.course import files
    from kit.output import release as releasing

    consumer_stage = catalogue.get("consumer")
    cut = files.solution_text("myapp/consumers.py", consumer_stage)
    assert cut.encode() != (SOLUTIONS / "myapp" / "consumers.py").read_bytes(), "the consumer stage is not cut"
    out = tmp_path / "release"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "consumer.py").write_text(cut, encoding="utf-8")
    starter = {rel: (KIT_ROOT / "project" / rel).read_bytes() for rel in ("myapp/consumers.py",)}
    with pytest.raises(releasing.ReleaseError, match="copy of a finished solution file"):
        releasing._refuse_leaks(out, KIT_ROOT, starter)
    assert not out.exists(), "the refused release was left on disk"
