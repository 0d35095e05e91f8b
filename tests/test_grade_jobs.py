"""`kit grade-all --jobs N` and the machine's failures listed apart (issue 23, items 1 and 3).

A small class (a full tree, a half-done one, the starter, a folder without a tree) is graded for the two
cheap stages with --jobs 1 and --jobs 3: the gradebooks must be the same but for the time each learner
took. Two correct trees graded at once for the live stages (daphne, Redis) must both get full marks: a port,
a socket folder or a room shared between the two gradings would cost one of them its points. An interrupt
leaves no process and --resume finishes the gradebook; a grading the machine failed (the kit's own time
limit, a grading process killed) is "not graded: ..., re-run", out of the class's numbers, and graded again
by --resume.
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import KIT_ROOT, STARTER, copy_tree, run_kit, solved_through
from kit.course import catalogue
from kit.class_grading import gradejobs
from kit.class_grading.grades import MACHINE, machine_failure, not_graded_result
from kit.grading.report import Failure, Report, StageResult
from kit.course.i18n import T

STAGES = ("settings", "asgi")
# Whole classes graded on a shared 2-core machine: longer than the suite's default limit under load.
pytestmark = pytest.mark.timeout(900)
MARK = "KIT_TEST_GRADE_JOBS"     # in the environment of every process a test's grade-all starts


def build_class(root: Path) -> Path:
    solved_through(catalogue.get("asgi"), root / "ana" / "project")       # 20/20
    solved_through(catalogue.get("settings"), root / "ben" / "project")   # 10/20
    copy_tree(STARTER, root / "দীপা" / "project")                          # 0/20
    (root / "Zed").mkdir(parents=True)                                    # no tree
    return root


def slow(tree: Path, seconds: float) -> Path:
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text() + f"\nimport time\ntime.sleep({seconds})\n")
    return tree


def start(*args: str, mark: Path, env: dict | None = None) -> subprocess.Popen:
    """grade-all, its scratch folders under mark/tmp (a sandboxed process is known by its folder: bubblewrap
    clears the environment), every process it starts outside a sandbox marked with mark."""
    (mark / "tmp").mkdir(parents=True, exist_ok=True)
    full = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"}
    full.update({MARK: str(mark), "TMPDIR": str(mark / "tmp"), **(env or {})})
    return subprocess.Popen([sys.executable, "-m", "kit", "grade-all", *args], cwd=KIT_ROOT, env=full, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def marked(mark: Path) -> list[psutil.Process]:
    """The live processes a test's grade-all started (the grading processes and all they start)."""
    found, scratch = [], str(mark / "tmp")
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and (proc.environ().get(MARK) == str(mark)
                                                               or proc.cwd().startswith(scratch)):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def graders(mark: Path) -> list[psutil.Process]:
    return [p for p in marked(mark) if "kit.class_grading.gradejobs" in " ".join(_cmdline(p))]


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def grades(out: Path) -> dict:
    try:
        return json.loads((out / "grades.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def learner_rows(out: Path) -> list[list[str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    return rows[:rows.index([])]


def learners(out: Path) -> list[dict]:
    """Every field of every learner but the time it took; every field of every stage but its time and
    whether the machine made it a second try (three gradings at once on two cores may, one may not)."""
    return [{k: v for k, v in e.items() if k != "seconds"}
            | {"report": e["report"] and [{k: v for k, v in s.items() if k not in ("seconds", "second_try")}
                                          for s in e["report"]["stages"]]}
            for e in grades(out)["learners"]]


def watch(proc: subprocess.Popen, mark: Path) -> tuple[str, int]:
    """Wait for grade-all; (its output, the most grading processes seen alive at once)."""
    most = 0
    while proc.poll() is None:
        most = max(most, len(graders(mark)))
        time.sleep(0.2)
    return proc.stdout.read(), most


@pytest.fixture(scope="module")
def class_graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("jobs")
    root = build_class(base / "class")
    said = {}
    for jobs in (1, 3):
        proc = start(str(root), *STAGES, "--out", str(base / f"jobs{jobs}"), "--jobs", str(jobs),
                     mark=base / f"jobs{jobs}")
        said[jobs] = watch(proc, base / f"jobs{jobs}")
        assert proc.returncode == 0, said[jobs][0][-3000:]
    return base, said


def test_jobs_3_writes_the_gradebook_jobs_1_writes(class_graded):
    base, said = class_graded
    assert said[1][1] == 1, "--jobs 1 graded more than one learner at once"
    assert said[3][1] >= 2, "--jobs 3 never graded two learners at once"
    assert learner_rows(base / "jobs3") == learner_rows(base / "jobs1")
    assert [r[0] for r in learner_rows(base / "jobs1")[2:]] == ["ana", "ben", "Zed", "দীপা"]
    assert [r[-3] for r in learner_rows(base / "jobs1")[2:]] == ["20", "10", "0", "0"]
    assert learners(base / "jobs3") == learners(base / "jobs1")
    assert sorted(p.name for p in (base / "jobs3" / "feedback").iterdir()) == \
        sorted(p.name for p in (base / "jobs1" / "feedback").iterdir())
    for name in ("ana.md", "দীপা.md"):
        assert (base / "jobs3" / "feedback" / name).read_text(encoding="utf-8").split("\n", 4)[4] == \
            (base / "jobs1" / "feedback" / name).read_text(encoding="utf-8").split("\n", 4)[4]


def test_the_progress_counts_learners(class_graded):
    _, said = class_graded
    text = " ".join(said[3][0].split())
    assert "3 learners at a time." in text
    for number in (1, 2, 3):
        assert f"{number}/3 done" in text and f"{number}/3 " in text
    assert not marked(class_graded[0] / "jobs3"), "a process of the graded class outlived grade-all"


def test_two_learners_graded_at_once_each_get_their_own_daphne_and_redis(tmp_path):
    """Both trees correct: a service, port, socket folder or room the two gradings shared would fail one."""
    root = tmp_path / "class"
    for name in ("ann", "bob"):
        solved_through(catalogue.get("redis"), root / name / "project")
    proc = start(str(root), "daphne", "redis", "--out", str(tmp_path / "out"), "--jobs", "2", mark=tmp_path)
    said, most = watch(proc, tmp_path)
    assert proc.returncode == 0, said[-3000:]
    assert most == 2, "the two learners were not graded at once"
    full = sum(catalogue.get(s).points for s in ("daphne", "redis"))
    assert [(e["learner"], e["total"], e["status"]) for e in grades(tmp_path / "out")["learners"]] == \
        [("ann", full, "graded"), ("bob", full, "graded")], said[-3000:]
    assert not marked(tmp_path)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_an_interrupt_stops_every_grading_and_resume_finishes_the_gradebook(tmp_path, signum):
    root = tmp_path / "class"
    for number in range(5):
        tree = solved_through(catalogue.get("settings"), root / f"learner{number}" / "project")
        if number >= 1:
            slow(tree, 3)
    out = tmp_path / "out"
    proc = start(str(root), "settings", "--out", str(out), "--jobs", "2", mark=tmp_path)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        if sum(1 for e in grades(out).get("learners", []) if e["done"]) >= 1 and len(graders(tmp_path)) == 2:
            break
        time.sleep(0.1)
    assert len(graders(tmp_path)) == 2, "grade-all was not grading two learners when the signal was sent"
    proc.send_signal(signum)
    said, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, said[-2000:]
    assert "Traceback" not in said
    assert not marked(tmp_path), "a grading process or one of its checks outlived the interrupt"
    data = grades(out)
    finished = [e["learner"] for e in data["learners"] if e["done"]]
    assert data["status"] == "partial" and data["interrupted"] == signal.Signals(signum).name
    assert 1 <= len(finished) < 5
    assert all(e["status"] == "graded" for e in data["learners"] if e["done"])   # none taken for the machine's

    resumed = run_kit("grade-all", str(root), "settings", "--out", str(out), "--resume", "--jobs", "2")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert f"Grading {5 - len(finished)} submission(s)" in " ".join(resumed.stdout.split())
    data = grades(out)
    assert data["status"] == "complete"
    assert [(e["total"], e["status"]) for e in data["learners"]] == [(10, "graded")] * 5


def test_the_default_fits_the_cores_and_the_memory(monkeypatch):
    class Memory:
        available = 64 * 2**30

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory)
    for cores, expected in ((1, 1), (2, 1), (3, 1), (8, 4), (64, 32)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cores: set(range(n)))
        assert gradejobs.default_jobs() == min(expected, int(64 * 2**30 // gradejobs.LEARNER_MEMORY))
    Memory.available = int(2.5 * gradejobs.LEARNER_MEMORY)
    assert gradejobs.default_jobs() == 2          # 64 cores, memory for two learners
    Memory.available = 0
    assert gradejobs.default_jobs() == 1          # never less than one


def test_jobs_must_be_one_or_more(tmp_path):
    done = run_kit("grade-all", str(build_class(tmp_path / "class")), "settings", "--jobs", "0")
    assert done.returncode == 2 and "--jobs must be 1 or more, not 0." in done.stderr


# -- the machine's failures: not graded, re-run ----------------------------------------------------------
def test_the_kits_time_limit_is_not_graded_rerun_a_killed_grading_is_graded_again_alone(tmp_path):
    """bob's grading outlives the kit's limit for one learner: not graded, re-run, and --resume grades him.
    cy's grading process is killed while others run (as the out-of-memory killer would pick it): she is graded
    again, alone, once the others are done (tenth review: another learner must not cost anyone their grade)."""
    root = tmp_path / "class"
    solved_through(catalogue.get("settings"), root / "ann" / "project")
    slowed = [solved_through(catalogue.get("settings"), root / name / "project") for name in ("bob", "cy")]
    for tree in slowed:   # Slow only while SLOW is there.
        settings = tree / "myproject" / "settings.py"
        settings.write_text(settings.read_text() + "\nimport os, time\nif os.path.exists(os.path.join("
                            "os.path.dirname(__file__), 'SLOW')):\n    time.sleep(200)\n")
        (tree / "myproject" / "SLOW").write_text("")
    out = tmp_path / "out"
    proc = start(str(root), "settings", "--out", str(out), "--jobs", "3", mark=tmp_path,
                 env={"KIT_LEARNER_TIME_LIMIT": "45", "KIT_TEST_TIME_LIMIT": "300", "KIT_STAGE_TIME_LIMIT": "300",
                      "KIT_WAIT": "150"})   # no limit but the learner's ends bob's settings.py import
    deadline = time.monotonic() + 60
    while len(graders(tmp_path)) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    victim = next(p for p in graders(tmp_path) if any("/3." in a for a in _cmdline(p)))   # cy's (the third)
    (slowed[1] / "myproject" / "SLOW").unlink()   # graded again, cy's tree is quick
    victim.kill()
    said = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, said[-3000:]
    assert not marked(tmp_path)
    rows = {e["learner"]: e for e in grades(out)["learners"]}
    assert (rows["ann"]["status"], rows["ann"]["total"]) == ("graded", 10)
    assert (rows["cy"]["status"], rows["cy"]["total"]) == ("graded", 10), rows["cy"]["note"]
    assert rows["bob"]["status"] == MACHINE, rows["bob"]
    assert rows["bob"]["note"].startswith("not graded: the kit's time limit for one learner (45 s) ran out")
    assert rows["bob"]["note"].endswith(", re-run")
    table = {r[0]: r for r in learner_rows(out)[2:]}
    assert table["bob"][-1].startswith("not graded: the kit's time limit")
    text = " ".join(said.split())
    assert "Grading 1 learner(s) again, alone: the machine failed their grading while others were graded (cy)." \
        in text
    assert "Not graded because of the machine, never scored 0: 1 learner(s) (bob)." in text
    assert "--resume" in text
    assert "mean 10.0" in text and "Scores out of 10: 2 learner(s)" in text    # bob left out of the numbers

    (slowed[0] / "myproject" / "SLOW").unlink()
    resumed = run_kit("grade-all", str(root), "settings", "--out", str(out), "--resume", "--jobs", "2",
                      timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "Grading 1 submission(s)" in " ".join(resumed.stdout.split())
    assert [(e["learner"], e["status"], e["total"]) for e in grades(out)["learners"]] == \
        [("ann", "graded", 10), ("bob", "graded", 10), ("cy", "graded", 10)]


def test_a_grading_that_ran_alone_is_not_graded_again(tmp_path):
    """Review 11: a learner graded with nobody beside them (one learner, --jobs 2) whose grading process dies is
    not graded, re-run at once: no other grading could have caused it, so a second grading would only cost."""
    root = tmp_path / "class"
    tree = solved_through(catalogue.get("settings"), root / "dee" / "project")
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text() + "\nimport time\ntime.sleep(200)\n")
    out = tmp_path / "out"
    proc = start(str(root), "settings", "--out", str(out), "--jobs", "2", mark=tmp_path,
                 env={"KIT_WAIT": "150"})
    deadline = time.monotonic() + 60
    while not graders(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    graders(tmp_path)[0].kill()
    said = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, said[-3000:]
    (row,) = grades(out)["learners"]
    assert row["status"] == MACHINE and "killed by signal SIGKILL" in row["note"], row
    assert "again, alone" not in " ".join(said.split())
    assert not marked(tmp_path)


def _report(*results: StageResult) -> Report:
    return Report("tree", list(results), "bubblewrap: test")


def _failed(stage_id: str, message) -> StageResult:
    stage = catalogue.get(stage_id)
    return StageResult(stage_id, stage.title, False, 0, stage.points, failures=[Failure("test_x", message, "h")])


def test_which_failures_are_the_machines():
    stages = ["settings", "redis"]
    passed = StageResult("settings", "t", True, 10, 10)
    busy = T("The machine was too busy to grade this check in time ({load:.0f} tasks were waiting for each "
             "processor); run it again when the machine is quieter. The first try said: {said}", load=9.0,
             said="No answer within 5 s.")
    marked = _failed("redis", busy)
    marked.machine_busy = True   # as kit/grading/grader.py's _patient marks it
    assert str(machine_failure(_report(passed, marked), stages, {})) == \
        "stage redis: the machine was too busy to grade it in time"
    # Tenth review: the kit's busy sentence, said by the tree's host, with its template: the code's failure
    assert machine_failure(_report(passed, _failed("redis", busy)), stages, {}) is None
    no_redis = not_graded_result("redis", "no Redis could start on this machine")
    assert str(machine_failure(_report(passed, no_redis), stages, {})) == \
        "stage redis: no Redis could start on this machine"
    # the whole class goes without it (no browser, allowed): no failure of this learner's grading
    assert machine_failure(_report(passed, no_redis), stages, {"redis": "no Redis"}) is None
    # the code's failure, even one whose text a learner wrote to look like the machine's
    assert machine_failure(_report(passed, _failed("redis", "No answer within 5 s.")), stages, {}) is None
    forged = T("{said}", said=str(busy))
    assert machine_failure(_report(passed, _failed("redis", forged)), stages, {}) is None
    assert machine_failure(_report(passed, _failed("redis", str(busy))), stages, {}) is None


def test_a_service_that_could_not_start_is_not_graded_rerun_and_the_merge_says_which_shard(tmp_path):
    """A machine whose Redis is broken (a redis-server that exits at once, first on PATH): the redis stage is
    the machine's failure, the learner is listed apart, the merge names the shard to grade again, and
    --resume on a machine with a working Redis grades them whole."""
    root = tmp_path / "class"
    solved_through(catalogue.get("redis"), root / "ann" / "project")
    broken = tmp_path / "bin"
    broken.mkdir()
    (broken / "redis-server").write_text("#!/bin/sh\necho 'this machine has no working Redis' >&2\nexit 1\n")
    (broken / "redis-server").chmod(0o755)
    out = tmp_path / "s0"
    shard = ("--shard-count", "1", "--shard-index", "0")
    proc = start(str(root), "settings", "redis", "--out", str(out), *shard, mark=tmp_path,
                 env={"PATH": f"{broken}{os.pathsep}{os.environ['PATH']}"})
    said = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, said[-3000:]
    (row,) = grades(out)["learners"]
    assert row["status"] == MACHINE and row["note"].startswith("not graded: stage redis: ") and \
        row["note"].endswith(", re-run"), row["note"]
    assert row["report"]["stages"][0]["passed"]          # what was graded stays in the row
    merged = run_kit("grade-merge", str(out), "--out", str(tmp_path / "merged"))
    assert merged.returncode == 0, merged.stderr
    text = " ".join(merged.stdout.split())
    assert "Not graded because of the machine, never scored 0: 1 learner(s) (ann)." in text
    assert "Grade shard(s) 0 again with --resume" in text
    assert grades(tmp_path / "merged")["learners"][0]["status"] == MACHINE

    resumed = run_kit("grade-all", str(root), "settings", "redis", "--out", str(out), "--resume", *shard,
                      timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    (row,) = grades(out)["learners"]
    full = sum(catalogue.get(s).points for s in ("settings", "redis"))
    assert (row["status"], row["total"]) == ("graded", full), row["note"]
