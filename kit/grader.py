"""Grade stages of one project tree: each stage in a fresh pytest process, bounded in time.

A crash, a hang or an os._exit in the learner's code fails that stage with a
plain sentence; the other stages are still graded, and no process survives.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import catalogue, hidden, procs
from .catalogue import EXERCISES_DIR, Stage
from .project import validate

_running: set[subprocess.Popen] = set()   # checkpoint processes to stop if the grader is interrupted

STAGE_TIME_LIMIT = float(os.environ.get("KIT_STAGE_TIME_LIMIT", "120"))
TEST_TIME_LIMIT = float(os.environ.get("KIT_TEST_TIME_LIMIT", "30"))
# Live stages mostly wait on sockets, a browser or a server's start-up, so they overlap well even on 2 cores.
PARALLEL = int(os.environ.get("KIT_PARALLEL", "4"))


@dataclass
class Failure:
    test: str
    message: str
    hint: str


@dataclass
class StageResult:
    id: str
    title: str
    passed: bool
    points: int
    max_points: int
    available: bool = True
    skipped: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    passed_checks: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def verdict(self) -> str:
        if not self.available:
            return "not yet available"
        return "pass" if self.passed else "fail"

    @property
    def first_hint(self) -> str:
        return self.failures[0].hint if self.failures else ""


@dataclass
class Report:
    project: str
    stages: list[StageResult]

    @property
    def score(self) -> int:
        return sum(s.points for s in self.stages)

    @property
    def max_score(self) -> int:
        return sum(s.max_points for s in self.stages if s.available)

    @property
    def all_passed(self) -> bool:
        return all(s.passed for s in self.stages if s.available)

    def to_dict(self) -> dict:
        stages = []
        for s in self.stages:
            entry = asdict(s)
            entry["seconds"] = round(s.seconds, 2)
            stages.append(entry)
        return {"project": self.project, "score": self.score, "max_score": self.max_score, "stages": stages}


def grade(project: str | os.PathLike, stage_ids: list[str] | None = None, *,
          on_stage_done=None, parallel: int | None = None) -> Report:
    """Grade the named stages (all by default) of the tree at project."""
    root = validate(project)
    stages = [catalogue.get(s) for s in stage_ids] if stage_ids else list(catalogue.STAGES)
    workers = parallel or PARALLEL
    pool = ThreadPoolExecutor(max_workers=workers)
    previous = _sigterm_as_interrupt()
    try:
        # The stages that only import the tree share one process (one start-up instead of four);
        # if that process dies or hangs, they are graded again one by one, each in its own.
        batch = [s for s in stages if s.available and not s.live]
        batched = pool.submit(grade_batch, root, batch) if len(batch) > 1 else None
        futures = {s.id: pool.submit(grade_stage, root, s) for s in stages if batched is None or s not in batch}
        by_id = dict(zip([s.id for s in batch], batched.result())) if batched else {}
        results = []
        for stage in stages:
            result = by_id[stage.id] if stage.id in by_id else futures[stage.id].result()
            results.append(result)
            if on_stage_done:
                on_stage_done(result)
    except BaseException:  # Ctrl-C: stop every checkpoint process (and its daphne) before leaving
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(_running):
            procs.stop_tree(proc, grace=2)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    pool.shutdown()
    return Report(project=str(root), stages=results)


def _sigterm_as_interrupt():
    """SIGTERM (a CI job's time limit, `kill`) takes Ctrl-C's clean-up path.

    Without it the children only get their parent-death SIGTERM, which a daphne
    stuck in the learner's time.sleep never acts on: it would outlive the grader.
    Returns the handler to restore, or None when this is not the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:
        return None


def grade_batch(root: Path, stages: list[Stage]) -> list[StageResult]:
    """Grade several in-process stages in one pytest process; fall back to one process each."""
    begun = time.monotonic()
    outcome, entries = _run_in_scratch(root, stages)
    if outcome or any(e["outcome"] == "running" for e in entries):
        return [grade_stage(root, stage) for stage in stages]
    share = (time.monotonic() - begun) / len(stages)
    return [_result(stage, [e for e in entries if e.get("stage") == stage.id], "", share) for stage in stages]


def grade_stage(root: Path, stage: Stage) -> StageResult:
    if not stage.available:
        return StageResult(id=stage.id, title=stage.title, passed=False, points=0, max_points=stage.points,
                           available=False)
    begun = time.monotonic()
    outcome, entries = _run_in_scratch(root, [stage])
    return _result(stage, entries, outcome, time.monotonic() - begun)


def _run_in_scratch(root: Path, stages: list[Stage]) -> tuple[str, list[dict]]:
    with tempfile.TemporaryDirectory(prefix="kit-grade-") as scratch:
        report_path = Path(scratch) / "report.json"
        outcome = _run_checkpoint(root, stages, report_path, Path(scratch))
        entries = json.loads(report_path.read_text()) if report_path.exists() else []
    return outcome, entries


def _result(stage: Stage, entries: list[dict], outcome: str, seconds: float) -> StageResult:
    """A stage's verdict from its checks' entries and what happened to the process that ran them."""
    result = StageResult(id=stage.id, title=stage.title, passed=False, points=0, max_points=stage.points)
    result.seconds = seconds
    running = None
    for entry in entries:
        if entry["outcome"] == "running":  # the check the process was in when it died or was stopped
            running = entry
        elif entry["outcome"] == "failed":
            result.failures.append(Failure(entry["test"], entry["message"], entry["hint"] or stage.hints[0]))
        elif entry["outcome"] == "passed":
            result.passed_checks.append(entry["test"])
        elif entry["outcome"] == "skipped":
            result.skipped.append(f"{entry['test']}: {entry['message']}")
    if running and not result.failures:
        result.failures.append(Failure(running["test"], (outcome or "The check never finished.") +
                                       f" It was running the check {running['test']}.",
                                       running["hint"] or stage.hints[0]))
    if outcome and not result.failures:
        result.failures.append(Failure("stage", outcome, stage.hints[0]))
    if not entries and not result.failures:
        result.failures.append(Failure("stage", "No checkpoint ran.", stage.hints[0]))
    # A skipped check is not a pass: the stage passes only when every check ran and passed.
    result.passed = not result.failures and not result.skipped
    if result.skipped and not result.failures:
        result.failures.append(Failure("stage", "Not graded: " + "; ".join(result.skipped), stage.hints[0]))
    result.points = stage.points if result.passed else 0
    return result


def _run_checkpoint(root: Path, stages: list[Stage], report_path: Path, scratch: Path) -> str:
    """Run the stages' pytest modules in one fresh process; return a message if the process itself failed."""
    # An instructor's hidden checks for a stage run in the same process, scored with it (kit/hidden.py).
    modules = [str(path) for stage in stages for path in (stage.checkpoint, *hidden.checks_for(stage))]
    cmd = [sys.executable, "-m", "pytest", *modules, "-c", str(EXERCISES_DIR / "pytest.ini"),
           "--rootdir", str(EXERCISES_DIR), "-p", "kit.pytest_plugin", "--kit-report", str(report_path),
           "--project", str(root), f"--timeout={TEST_TIME_LIMIT:g}", "-q", "--no-header", "-rN",
           "-W", "ignore::DeprecationWarning"]
    env = dict(os.environ, KIT_GRADED_PROJECT=str(root), PYTHONDONTWRITEBYTECODE="1")
    env.pop("KIT_PROJECT", None)
    log = scratch / "pytest.log"
    with open(log, "wb") as out:
        proc = procs.spawn(cmd, cwd=scratch, env=env, stdout=out, stderr=subprocess.STDOUT)
        _running.add(proc)
        try:
            proc.wait(timeout=STAGE_TIME_LIMIT)
        except subprocess.TimeoutExpired:
            procs.stop_tree(proc, grace=2)
            return (f"The stage did not finish within {STAGE_TIME_LIMIT:.0f} s and was stopped: "
                    "something in the project never returns.")
        except BaseException:
            procs.stop_tree(proc, grace=2)
            raise
        finally:
            procs.stop_tree(proc, grace=2)  # nothing the checks started may outlive them
            _running.discard(proc)
    if proc.returncode in (0, 1) and '"outcome": "running"' not in _read(report_path):
        return ""
    if proc.returncode < 0:
        how = f"was killed by signal {signal.Signals(-proc.returncode).name}"
    else:
        how = f"ended abruptly (exit code {proc.returncode})"
    exits = exit_calls(root)
    if exits:
        return (f"The checking process {how}: the project ends the process itself, {exits[0]}. "
                "A settings file or module must never call sys.exit() or os._exit(); raise an exception instead.")
    tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    return f"The checking process {how} before it could report. {tail}".strip()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


EXIT_CALL = re.compile(r"^[^#]*\b(sys\.exit|os\._exit|os\.abort|exit|quit)\s*\(")


def exit_calls(root: Path) -> list[str]:
    """Where the learner's files call sys.exit/os._exit: the likely reason a checking process vanished."""
    found = []
    for relpath in catalogue.PROJECT_FILES:
        if not relpath.endswith(".py") or relpath == "manage.py":
            continue
        try:
            lines = (root / relpath).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, 1):
            match = EXIT_CALL.search(line)
            if match:
                found.append(f"{relpath}, line {number} calls {match.group(1)}()")
    return found
