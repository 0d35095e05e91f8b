"""Grade stages of one project tree: each stage in a fresh checking process, bounded in time.

Trust: the checking process (kit/grading/checker.py) runs the kit's checks and never imports the learner's
code; that code runs only in the sandboxed processes the checks start (kit/isolation/sandbox.py), on a
scratch copy of the tree. Verdicts come back over a pipe that no learner process inherits, and a stage
passes only when every check the checking process collected for it reported a pass. A crash, a hang, an
os._exit or a full disk in the learner's code fails that stage with a plain sentence; the other stages are
still graded, and no process survives.
"""
from __future__ import annotations

import os
import re
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kit.grading import busy
from kit.course import catalogue, hidden
from kit.isolation import procs, sandbox, stage_groups
from kit.services import server
from kit.course.catalogue import Stage
from kit.course.i18n import SOURCE, T, join, language, recall, revive
from kit.course.project import read_inside, validate
from kit.grading.scratch import scratch_copy
from kit.grading.checker import run_checkpoint, running
from kit.grading.limits import PARALLEL, STAGE_TIME_LIMIT, TEST_TIME_LIMIT
from kit.grading.report import Failure, Report, StageResult, as_data

_stopping = threading.Event()             # set on Ctrl-C/SIGTERM: no stage starts (or starts again) after it


def grade(project: str | os.PathLike, stage_ids: list[str] | None = None, *,
          on_stage_done=None, parallel: int | None = None, lang: str | None = None,
          recheck: bool = False) -> Report:
    """Grade the named stages (all by default) of the tree at project.

    recheck (a checkpoint asked for by name: check("users"), `kit check users`): the earlier stages that
    share a file with a named one are graded too (catalogue.rechecks), after the named ones, and a failing
    one says first that this change broke it. Grading every stage needs no re-check.

    In a language other than English (lang, else the chosen one: kit/course/i18n.py) each failure keeps its
    English message and hint and carries their translation beside them."""
    lang = language(lang)
    root = validate(project)
    stages = [catalogue.get(s) for s in stage_ids] if stage_ids else list(catalogue.STAGES)
    rechecked: dict[str, Stage] = {}
    if recheck and stage_ids:
        for stage in list(stages):
            for earlier in catalogue.rechecks(stage.id):
                if earlier not in stages:
                    stages.append(earlier)
                    rechecked[earlier.id] = stage
    isolation = sandbox.detect()
    busy.note_start()   # before any learner process: the machine's own load, which the tree cannot touch
    _stopping.clear()
    before = procs.child_pids()
    procs.adopt_orphans()
    workers = parallel or PARALLEL
    pool = ThreadPoolExecutor(max_workers=workers)
    previous = _sigterm_as_interrupt()
    try:
        # The stages that only import the tree share one process (one start-up instead of four); if that process
        # dies or hangs, they are graded again one by one. Hidden checks run after every visible one (_with_hidden).
        hiding = {s.id for s in stages if s.available and hidden.checks_for(s)}
        part = "visible" if hiding else "all"
        batch = [s for s in stages if s.available and not s.live]
        batched = pool.submit(grade_batch, root, batch, isolation, part) if len(batch) > 1 else None
        futures = {s.id: pool.submit(grade_stage, root, s, isolation, part)
                   for s in stages if batched is None or s not in batch}
        by_id = dict(zip([s.id for s in batch], batched.result())) if batched else {}
        if hiding:
            by_id.update({stage_id: future.result() for stage_id, future in futures.items()})
        results = []
        for stage in stages:
            result = by_id[stage.id] if stage.id in by_id else futures[stage.id].result()
            if stage.id in hiding:
                result = _with_hidden(result, grade_stage(root, stage, isolation, "hidden"))
            if stage.id in rechecked:
                _broken_by(result, rechecked[stage.id], stage, root)
            if lang != SOURCE:
                for failure in result.failures:
                    failure.translate(lang)
            results.append(result)
            if on_stage_done:
                on_stage_done(result)
    except BaseException:  # Ctrl-C: stop every checkpoint process (and its daphne) before leaving
        _stopping.set()
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in list(running):
            procs.stop_tree(proc, grace=2)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        procs.reap_adopted(before)   # the sandbox processes orphaned to us, or a kernel collects zombies
    pool.shutdown()
    return Report(project=str(root), stages=results, isolation=isolation.describe())


def _broken_by(result: StageResult, changed: Stage, earlier: Stage, root: Path | None = None) -> None:
    """An earlier stage graded again for `changed`: if it does not pass, its first failure says so first.
    Only what is known: the stage does not pass now (whether it ever passed, the grader cannot know). A shared
    file is named only when the learner's copy differs from every version the kit knows the earlier stage
    passes with (its solution, and each later one up to where `changed` starts): a file the learner did not
    touch is never blamed."""
    result.recheck_of = changed.id
    if result.passed or not result.failures:
        return
    shared = [f for f in changed.files if f in earlier.files or f in earlier.uses]
    edited = [f for f in shared if root is not None and _differs_from_solved(root, f, earlier, changed)]
    first = result.failures[0]
    said = revive(first.message, first.template) if first.template else recall(first.message)
    if edited:
        lead = T("Stage {earlier}, graded again because {changed} can break it, does not pass; your {files} "
                 "differs from every version stage {earlier} passes with:", earlier=earlier.id,
                 changed=changed.id, files=", ".join(edited))
    else:
        lead = T("Stage {earlier}, graded again because {changed} can break it, does not pass:",
                 earlier=earlier.id, changed=changed.id)
    message = join([lead, said])
    result.failures[0] = Failure(first.test, message, first.hint, template=message.data())


def _differs_from_solved(root: Path, relpath: str, earlier: Stage, changed: Stage) -> bool:
    """True when the learner's file matches none of the kit's versions between `earlier`'s solution and the
    start of `changed` (a link, or a file that cannot be read, counts as differing: it is not the kit's)."""
    from kit.course import files

    data = read_inside(root, relpath)   # no link followed: a planted link is not the kit's file
    try:
        mine = data.decode("utf-8") if data is not None else None
    except UnicodeDecodeError:
        mine = None
    if mine is None:
        return True
    first, last = catalogue.STAGES.index(earlier), catalogue.STAGES.index(changed)
    known = {files.solution_text(relpath, stage) for stage in catalogue.STAGES[first:last]}
    return mine not in known


def _sigterm_as_interrupt():
    """SIGTERM (a CI job's time limit, `kill`) takes Ctrl-C's clean-up path. Without it the children only get
    their parent-death SIGTERM, which a daphne stuck in the learner's time.sleep never acts on: it would outlive
    the grader. Returns the handler to restore, or None when this is not the main thread."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    try:
        return signal.signal(signal.SIGTERM, interrupt)
    except ValueError:
        return None


def grade_batch(root: Path, stages: list[Stage], isolation: sandbox.Isolation,
                part: str = "all") -> list[StageResult]:
    """Grade several in-process stages in one checking process; fall back to one process each."""
    begun, meter = time.monotonic(), busy.Meter()
    outcome, expected, entries = run_checks(root, stages, isolation, part=part)
    ids = {stage.id for stage in stages}
    if outcome or any(e["outcome"] == "running" for e in entries) or any(e["stage"] not in ids for e in expected):
        return [grade_stage(root, stage, isolation, part) for stage in stages]
    share, busy_share = (time.monotonic() - begun) / len(stages), meter.share()
    return [_patient(root, stage, isolation, _result(stage, _of(stage, expected), _of(stage, entries), "", share),
                     busy_share, part) for stage in stages]


def _of(stage: Stage, entries: list[dict]) -> list[dict]:
    return [e for e in entries if e.get("stage") == stage.id]


def grade_stage(root: Path, stage: Stage, isolation: sandbox.Isolation, part: str = "all") -> StageResult:
    """One stage in its own checking process: its visible checks, its hidden ones or both (part)."""
    if not stage.available:
        return StageResult(id=stage.id, title=stage.title, passed=False, points=0, max_points=stage.points,
                           available=False)
    begun, meter = time.monotonic(), busy.Meter()
    outcome, expected, entries = run_checks(root, [stage], isolation, part=part)
    # Every check this process ran is the stage's: one that names no stage still has to pass.
    first = _result(stage, expected, entries, outcome, time.monotonic() - begun)
    return _patient(root, stage, isolation, first, meter.share(), part)


_this_thread = threading.local()   # the CPU seconds of the last control group this thread's run_checks made


def _own_load(meter: busy.Meter) -> bool:
    """Did the stage's own processes make the machine busy (a tree that forks spinners is not the machine)?"""
    return meter.own_load(getattr(_this_thread, "stage_cpu", None))


def _with_hidden(visible: StageResult, hidden_part: StageResult) -> StageResult:
    """A stage's verdict from its two processes: the visible checks', then the hidden checks'.

    Hidden checks get a process of their own, started only when every visible check of the grading has
    ended: learner processes of one grading can pass notes through the kernel (a lock on a file every
    sandbox reads, the page cache), and a visible check running beside a hidden one could quote its question
    in a failure message the learner reads."""
    visible.failures += hidden_part.failures
    visible.skipped += hidden_part.skipped
    visible.passed_checks += hidden_part.passed_checks
    visible.seconds += hidden_part.seconds
    visible.second_try = visible.second_try or hidden_part.second_try
    visible.machine_busy = visible.machine_busy or hidden_part.machine_busy
    visible.passed = visible.passed and hidden_part.passed
    visible.points = visible.max_points if visible.passed else 0
    return visible


def _patient(root: Path, stage: Stage, isolation: sandbox.Isolation, first: StageResult,
             busy_share: float, part: str = "all") -> StageResult:
    """A stage that failed while the machine was busy, in a check that ran long enough to have waited for
    something (a failure sooner than any wait is the code's), is graded once more, whole, with every time limit
    doubled: a verdict must not depend on the load (kit/grading/busy.py). The second try's verdict stands alone:
    nothing of the first is carried over but the wording of a failure both tries share (a part-graded second
    try would let checks that catch a trick together be passed one by one)."""
    if not busy.second_try_wanted(first, busy_share) or _stopping.is_set():
        return first
    begun, meter = time.monotonic(), busy.Meter()
    now = {"KIT_WAIT": busy.current_wait(), "KIT_TEST_TIME_LIMIT": TEST_TIME_LIMIT,
           "KIT_STAGE_TIME_LIMIT": STAGE_TIME_LIMIT, "KIT_DAPHNE_READY_TIMEOUT": server.READY_TIMEOUT}
    outcome, expected, entries = run_checks(root, [stage], isolation, limits=busy.longer_limits(now), part=part)
    second = _result(stage, expected, entries, outcome, time.monotonic() - begun)
    second.seconds += first.seconds
    second.second_try = True
    # A time limit hit twice is the machine's only when the machine was busy before the grading began and the
    # stage's own processes did not make the load (a tree can load the machine only once it runs).
    machine_busy = busy.busy_before() and busy.per_core_load() >= busy.OVERLOADED and not _own_load(meter)
    said_first = {f.test: f for f in first.failures}
    failures = []
    for failure in second.failures:
        before = said_first.get(failure.test)
        if _timed_out(failure) and machine_busy:
            # The load may be the tree's own doing: what the first try said stays in the message.
            first_said = before or failure
            said = revive(first_said.message, first_said.template) if first_said.template else recall(first_said.message)
            second.machine_busy = True
            failures.append(Failure(failure.test, T(
                "The machine was too busy to grade this check in time ({load:.0f} tasks were waiting for each "
                "processor); run it again when the machine is quieter. The first try said: {said}",
                load=busy.per_core_load(), said=said), failure.hint))
        elif before is not None and (_timed_out(failure) or not _timed_out(before)):
            failures.append(before)   # the message a quiet machine gives: the one made with the usual limits
        else:
            failures.append(failure)  # the check's own verdict, reached only with the longer limits
    second.failures = failures
    second.passed = not failures and not second.skipped
    second.points = stage.points if second.passed else 0
    return second


TIMED_OUT = re.compile(r"(No answer within|The stage did not finish within|The check never finished"
                       r"|\{outcome\} It was running the check|daphne did not listen)")


def _timed_out(failure: Failure) -> bool:
    """True when the kit's own time limit ended the check, rather than the check judging what came back: read
    from the message's template where it has one (learner text inside a message never counts). A check's own
    wait for what a correct tree does at once ("... waited 5 s ... got nothing") is a verdict, not a time limit:
    the second try doubles it, and a consumer that never answers must still fail then, however busy the
    machine (issue 17)."""
    template = (failure.template or {}).get("template") if isinstance(failure.template, dict) else None
    return bool(TIMED_OUT.match(template or str.__str__(failure.message)))


def run_checks(root: Path, stages: list[Stage], isolation: sandbox.Isolation | None = None, *,
               keep_going: bool = False, select: str | None = None,
               limits: dict[str, str] | None = None, part: str = "all") -> tuple[str, list[dict], list[dict]]:
    """Run the stages' checks on a scratch copy of root: (what went wrong with the process, expected, entries).

    limits (busy.longer_limits(...)) replaces the time limits the checks and this process read; part is
    "visible" (the kit's checks), "hidden" (an instructor's, kit/course/hidden.py) or "all" (both, hidden last)."""
    isolation = isolation or sandbox.detect()
    if _stopping.is_set():
        return T("Grading was interrupted."), [], []
    with tempfile.TemporaryDirectory(prefix="kit-grade-") as scratch:
        place = Path(scratch)
        try:
            tree = scratch_copy(root, place / "tree")
        except ValueError as exc:
            return str(exc), [], []
        group = stage_groups.stage_group()   # all of the stage's processes in one bounded control group, if allowed
        try:
            return run_checkpoint(root, tree, stages, place, isolation, keep_going, select, group, limits or {},
                                   part)
        finally:
            _this_thread.stage_cpu = stage_groups.group_cpu_seconds(group)   # for _patient: whose load was it?
            stage_groups.release_group(group)   # and whatever of them is left is gone


def _hint(stage: Stage, entry: dict) -> str:
    """The first rung of the failing check's own ladder (kit/course/hint_ladders/), else its marker, else the stage's."""
    from kit.course.hints import ladder_for

    ladder = ladder_for(stage.id, entry["test"], entry.get("i18n"))
    return (ladder[0] if ladder else "") or entry.get("hint") or stage.hints[0]


def _result(stage: Stage, expected: list[dict], entries: list[dict], outcome: str, seconds: float) -> StageResult:
    """A stage's verdict from its checks' entries and what happened to the process that ran them.

    The stage passes only when every check the checking process collected for it reported a pass."""
    result = StageResult(id=stage.id, title=stage.title, passed=False, points=0, max_points=stage.points)
    result.seconds = seconds
    running = None
    for entry in entries:
        if entry["outcome"] == "running":  # the check the process was in when it died or was stopped
            running = entry
        elif entry["outcome"] == "failed":
            result.failures.append(Failure(entry["test"], entry["message"], _hint(stage, entry),
                                           template=entry.get("i18n")))
        elif entry["outcome"] == "passed":
            result.passed_checks.append(entry["test"])
        elif entry["outcome"] == "skipped":
            result.skipped.append(as_data(f"{entry['test']}: {entry['message']}"))
    if running and not result.failures:
        result.failures.append(Failure(running["test"], T("{outcome} It was running the check {test}.",
                                                          outcome=recall(outcome) or T("The check never finished."),
                                                          test=running["test"]),
                                       _hint(stage, running)))
    if outcome and not result.failures:
        result.failures.append(Failure("stage", outcome, stage.hints[0]))
    if not entries and not result.failures:
        result.failures.append(Failure("stage", T("No checkpoint ran."), stage.hints[0]))
    reported = {e["test"] for e in entries if e["outcome"] == "passed"}
    silent = [e["test"] for e in expected if e["test"] not in reported]
    if (silent or not expected) and not result.failures and not result.skipped:
        missing = silent[0] if silent else "any check"
        result.failures.append(Failure(missing, T("The check {test} never reported a result.", test=missing),
                                       stage.hints[0]))
    # A skipped check is not a pass: the stage passes only when every check ran and passed.
    result.passed = not result.failures and not result.skipped
    if result.skipped and not result.failures:
        result.failures.append(Failure("stage", T("Not graded: {skipped}", skipped="; ".join(result.skipped)),
                                       stage.hints[0]))
    result.points = stage.points if result.passed else 0
    # Else (stopped, silent, a time limit, an instructor's check whose waits the kit does not know): as long as it gets.
    ran = [e.get("seconds") for e in entries if e["outcome"] == "failed" and not e.get("hidden")]
    if ran and None not in ran and len(result.failures) == len(ran) and not any(map(_timed_out, result.failures)):
        result.waited = max(ran)
    return result
