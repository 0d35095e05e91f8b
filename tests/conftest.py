"""Shared fixtures for the kit's own tests: copies of the trees, mutants, running the CLI."""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from kit.course.project import ignore_leftovers

KIT_ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = KIT_ROOT / "solutions"
STARTER = KIT_ROOT / "project"


def copy_tree(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest, ignore=ignore_leftovers)
    return dest


def solved_through(stage, dest: Path) -> Path:
    """The tree a learner holds right after `stage`: the starter with every stage up to it solved."""
    from kit.course import files

    return files.write_state_after(stage, copy_tree(STARTER, dest))


def lessons_tree(stage, dest: Path, *, through_its_cells: bool = False) -> Path:
    """The tree a learner holds in a stage's lesson: every stage before it solved (solved_through, which writes
    the catalogued files only), plus what lessons' cells make that no stage lists: lesson 11's
    `makemigrations` writes myapp/migrations/. On opening the lesson, that holds from the stage after
    `history` on; with through_its_cells (its cells skipped, its checkpoint run), from `history` itself."""
    from kit.course import catalogue

    if stage is None:
        return copy_tree(SOLUTIONS, dest)
    tree = solved_through(stage, dest)
    made_at = catalogue.STAGES.index(catalogue.get("history")) + (0 if through_its_cells else 1)
    if catalogue.STAGES.index(stage) >= made_at:
        shutil.copytree(SOLUTIONS / "myapp" / "migrations", tree / "myapp" / "migrations", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__"))
    return tree


def mutate(tree: Path, relpath: str, old: str, new: str, count: int = 1) -> None:
    """Replace text in a tree's file, failing loudly if the text is not there (a mutant must really mutate)."""
    path = tree / relpath
    text = path.read_text(encoding="utf-8")
    assert old in text, f"mutation target {old!r} not found in {relpath}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def run_kit(*args: str, env: dict | None = None, timeout: float = 600, cwd: Path = KIT_ROOT):
    full_env = dict(os.environ)
    full_env.pop("KIT_PROJECT", None)
    full_env.update(env or {})
    if full_env.get("KIT_SANDBOX") == "off":  # asked for by name: CI's KIT_REQUIRE_SANDBOX=1 would refuse it
        full_env.pop("KIT_REQUIRE_SANDBOX", None)
    done = subprocess.run([sys.executable, "-m", "kit", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=cwd)
    if args[:1] == ("check",) and "--json" in args:
        _count_second_tries(done.stdout)
    return done


def grade_json(project: Path, *stages: str, env: dict | None = None) -> dict:
    done = run_kit("check", *stages, "--project", str(project), "--json", "-", env=env)
    assert done.returncode in (0, 1), f"kit check failed to run: {done.stderr}"
    return json.loads(done.stdout)


# The environment for grading a tree that must fail: a busy machine's second try could only fail it again, twice
# as slowly, and no failure may be retried into a pass under load (issue 17).
MUST_FAIL = {"KIT_BUSY_RETRY": "0"}


def grade_only(project: Path, *stages: str, env: dict | None = None) -> dict:
    """The report of exactly these stages, as `kit check` grades them but re-checking no earlier stage
    (`kit check users` also grades hardening and push): for a test that reads only the named stages."""
    script = ("import json, sys; from kit.grading import grader; "
              "print(json.dumps(grader.grade(sys.argv[1], sys.argv[2:]).to_dict()))")
    full_env = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"}
    full_env.update(env or {})
    done = subprocess.run([sys.executable, "-c", script, str(project), *stages], env=full_env,
                          capture_output=True, text=True, timeout=600, cwd=KIT_ROOT)
    assert done.returncode == 0, f"grading {stages} failed to run: {done.stderr[-2000:]}"
    _count_second_tries(done.stdout.strip().splitlines()[-1])
    return json.loads(done.stdout.strip().splitlines()[-1])


def checkpoint_outcomes(tree: Path, stage_id: str, *, select: str | None = None,
                        env: dict | None = None) -> dict[str, dict]:
    """Every check of one stage's checkpoint on tree, keyed by test name, run past the first failure.

    Through the grader's own path (scratch copy, sandbox, private results pipe), in a child process."""
    script = ("import json, sys; from pathlib import Path; from kit.course import catalogue; "
              "from kit.grading import grader; "
              "outcome, expected, entries = grader.run_checks(Path(sys.argv[1]), [catalogue.get(sys.argv[2])], "
              "keep_going=True, select=sys.argv[3] or None); print(json.dumps(entries))")
    full_env = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"}
    full_env.update({"REDIS_URL": "", **(env or {})})
    done = subprocess.run([sys.executable, "-c", script, str(tree), stage_id, select or ""], env=full_env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"checking {stage_id} failed to run: {done.stderr[-2000:]}"
    return {entry["test"]: entry for entry in json.loads(done.stdout.strip().splitlines()[-1])}


def stage(report: dict, stage_id: str) -> dict:
    return next(s for s in report["stages"] if s["id"] == stage_id)


@pytest.fixture
def solved_tree(tmp_path) -> Path:
    """A private copy of solutions/ that a test may break."""
    return copy_tree(SOLUTIONS, tmp_path / "tree")


@pytest.fixture
def starter_tree(tmp_path) -> Path:
    return copy_tree(STARTER, tmp_path / "starter")


def executed_bengali_notebook(repo: Path) -> None:
    """What a learner who worked through the Bengali lessons leaves in their repository."""
    folder = repo / "notebooks" / "bn"
    folder.mkdir(parents=True)
    cell = {"cell_type": "code", "execution_count": 3, "metadata": {}, "outputs": [], "source": "check()"}
    (folder / "01_settings.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4,
                                                          "nbformat_minor": 5}))


def require_browser() -> None:
    """Skip the test without a Chromium, or fail it where one is required (CI: KIT_REQUIRE_BROWSER=1)."""
    from kit.services import browser

    reason = browser.why_unavailable()
    if reason:
        if browser.required():
            pytest.fail(reason)
        pytest.skip(reason)


# -- how often the suite's gradings needed a second try (issue 17: where the suite's time goes) ------
SECOND_TRIES = "KIT_TEST_SECOND_TRIES"   # a file every xdist worker appends a line to, per graded stage


def pytest_configure(config):
    if not hasattr(config, "workerinput"):   # the controller, before it starts the workers (they inherit it)
        os.environ[SECOND_TRIES] = os.path.join(tempfile.mkdtemp(prefix="kit-second-tries-"), "stages.jsonl")


def _count_second_tries(stdout: str) -> None:
    path = os.environ.get(SECOND_TRIES)
    try:
        stages = json.loads(stdout).get("stages", []) if path else []
    except (ValueError, AttributeError):
        return
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").split("::")[0]
    with open(path, "a", encoding="utf-8") as log:
        for stage in stages:
            log.write(json.dumps({"file": test, "passed": bool(stage.get("passed")),
                                  "second_try": bool(stage.get("second_try")),
                                  "seconds": float(stage.get("seconds") or 0)}) + "\n")


STARTED = time.monotonic()   # the run's start, as near as the controller sees it (it imports this first)


def _cpu_seconds() -> float:
    """This process's CPU and that of every child it has waited for (kit check, daphne, browsers, kernels)."""
    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                   resource.getrusage(resource.RUSAGE_CHILDREN)))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Each test file's CPU seconds, for the summary: on 2 cores the suite is mostly bound by the CPU (issue 17:
    4,215 CPU-seconds in a 2,798 s run with three workers, no faster than two), so its time is cut where the
    CPU goes."""
    before, started = _cpu_seconds(), time.monotonic()
    yield
    path = os.environ.get(SECOND_TRIES)
    if path:
        with open(os.path.join(os.path.dirname(path), "cpu.jsonl"), "a", encoding="utf-8") as log:
            log.write(json.dumps({"file": item.nodeid.split("::")[0], "cpu": _cpu_seconds() - before,
                                  "wall": time.monotonic() - started, "ended": time.time(),
                                  "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}) + "\n")


def _cpu_summary(terminalreporter, folder: str) -> None:
    path = os.path.join(folder, "cpu.jsonl")
    if not os.path.exists(path):
        return
    by_file: dict[str, list[float]] = {}
    last: dict[str, float] = {}
    for line in open(path, encoding="utf-8"):
        row = json.loads(line)
        last[row["worker"]] = max(last.get(row["worker"], 0.0), row["ended"])
        spent = by_file.setdefault(row["file"], [0.0, 0.0])
        spent[0] += row["cpu"]
        spent[1] += row["wall"]
    used = sum(cpu for cpu, _ in by_file.values())
    wall = time.monotonic() - STARTED
    cores = os.cpu_count() or 1
    terminalreporter.write_sep("-", f"CPU: {used:.0f} s used by the tests and their processes in {wall:.0f} s on "
                                    f"{cores} cores ({100 * used / (wall * cores):.0f}% of what the cores had); "
                                    f"the last {max(last.values()) - min(last.values()):.0f} s had fewer workers")
    for name, (cpu, spent_wall) in sorted(by_file.items(), key=lambda item: -item[1][0])[:12]:
        terminalreporter.write_line(f"  {cpu:7.0f} s CPU  {spent_wall:7.0f} s wall  {name}")


def pytest_terminal_summary(terminalreporter, config):
    """One line of figures (and the files where second tries cost most) for the next look at the suite's time."""
    path = os.environ.get(SECOND_TRIES)
    if hasattr(config, "workerinput") or not path:
        return
    _cpu_summary(terminalreporter, os.path.dirname(path))
    if not os.path.exists(path):
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
        return
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    again = [r for r in rows if r["second_try"]]
    terminalreporter.write_sep("-", f"kit check gradings: {len(rows)} stages, {sum(not r['passed'] for r in rows)} "
                                    f"failed, {len(again)} graded a second time ({sum(r['seconds'] for r in again):.0f} s "
                                    f"of {sum(r['seconds'] for r in rows):.0f} s)")
    by_file: dict[str, list] = {}
    for r in again:
        by_file.setdefault(r["file"], []).append(r["seconds"])
    for name, seconds in sorted(by_file.items(), key=lambda item: -sum(item[1]))[:8]:
        terminalreporter.write_line(f"  {sum(seconds):7.0f} s  {len(seconds):3d} second tries  {name}")
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)
