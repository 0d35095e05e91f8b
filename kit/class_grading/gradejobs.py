"""`kit grade-all --jobs N`: N learners graded at once, each in a grading process of its own.

Why processes and not threads: the grader keeps process-wide state for one grading at a time (the set of
checking processes to stop on Ctrl-C, the "stopping" flag every grading clears when it starts, the orphans
this process adopts and reaps: a reap in one thread could collect another grading's checking process and
steal its exit status). A grading process per learner keeps all of that per learner, and everything a
grading starts already is: daphne and Redis on Unix sockets in folders of their own (mkdtemp), each in the
stage's own network namespace; the browser with a profile of its own; the scratch tree, TMPDIR and control
group named per process. `--jobs 1` takes the same path, so the gradebook cannot depend on N.

A grading process is trusted (it records verdicts, as grade-all does): it is the kit's own code, given the
tree's path, and writes its learner's row into a folder only this process can read (0700). It dies with
grade-all (procs.spawn); on SIGINT/SIGTERM grade-all stops every one, each stopping its own checks first.
A grading process that dies or outlives the kit's time for one learner is the machine's failure, never the
learner's: that learner is "not graded" and `--resume` grades them again (kit/class_grading/grades.py, MACHINE).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.grading import busy
from kit.isolation import procs, stage_groups
from kit.class_grading.classfolder import Submission
from kit.course.i18n import T

# What one learner's grading takes at its peak, all processes together (benchmarks/class_jobs.py prints it: 1.98
# GiB for every stage on the 2-core machine), so that the default --jobs leaves the machine its memory.
LEARNER_MEMORY = 2 * 2**30
# One learner's grading keeps about two cores busy (its stages run KIT_PARALLEL at a time, mostly waiting).
CORES_PER_LEARNER = 2
STOP_GRACE = 20.0     # seconds a grading process gets to stop its own checks before it is killed
POLL = 0.1            # seconds between two looks at the running grading processes


def default_jobs() -> int:
    """What fits this machine: a learner per two cores, no more than its available memory holds."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        import psutil

        memory = int(psutil.virtual_memory().available // LEARNER_MEMORY)
    except Exception:  # noqa: BLE001 (no figure: cores alone decide)
        memory = cores
    return max(1, min(cores // CORES_PER_LEARNER, memory))


def learner_time_limit(stage_count: int) -> float:
    """The kit's own limit for one learner: every stage could take its limit twice (a busy machine's second
    try), hidden checks as long again; far above any real grading, it only ends a grading process that hangs."""
    from kit.grading.limits import STAGE_TIME_LIMIT

    given = os.environ.get("KIT_LEARNER_TIME_LIMIT")
    return float(given) if given else 60 + 4 * STAGE_TIME_LIMIT * max(1, stage_count)


def _worker_env() -> dict:
    env = dict(os.environ)
    env.pop("KIT_PROJECT", None)
    return env


def grade_all(todo: list[Submission], stage_ids: list[str], machine_not_graded: dict, jobs: int,
              started=None, finished=None, again=None) -> None:
    """Grade the submissions, `jobs` at a time; started(sub) and finished(sub) are called in this process as
    each begins and ends. With jobs > 1, a learner whose grading the machine failed beside other gradings (too
    busy, a service that could not start, the grading process killed) is graded once more, alone, at the end:
    another learner's load must not cost anyone their grade (tenth review); again(subs) is called first.
    An interrupt (KeyboardInterrupt) stops every grading process, then goes on up."""
    alone = _grade(todo, stage_ids, machine_not_graded, jobs, started, finished, defer=jobs > 1)
    if alone:
        if again:
            again(alone)
        busy.settle()   # what the others left in the last ten seconds' pressure is no reading of this grading
        _grade(alone, stage_ids, machine_not_graded, 1, started, finished, defer=False)


def _grade(todo: list[Submission], stage_ids: list[str], machine_not_graded: dict, jobs: int,
           started, finished, defer: bool) -> list[Submission]:
    """grade_all's one pass; returns the learners deferred to be graded alone (none unless defer)."""
    limit = learner_time_limit(len(stage_ids))
    queue, deferred = list(todo), []
    running: dict[subprocess.Popen, tuple[Submission, Path, float]] = {}
    crowded: set[subprocess.Popen] = set()   # gradings that ran while another did, at some moment
    with tempfile.TemporaryDirectory(prefix="kit-jobs-") as folder:   # 0700: only this process reads rows
        try:
            while queue or running:
                while queue and len(running) < jobs:
                    sub, place = queue.pop(0), Path(folder) / str(len(todo) - len(queue))
                    proc = _start(sub, stage_ids, machine_not_graded, place)
                    if running:
                        crowded.update(running, (proc,))
                    running[proc] = (sub, place, time.monotonic())
                    if started:
                        started(sub)
                ended = [proc for proc in running if proc.poll() is not None
                         or time.monotonic() - running[proc][2] > limit]
                if not ended:
                    time.sleep(POLL)
                    continue
                for proc in ended:
                    sub, result, began = running.pop(proc)
                    if proc.poll() is None:        # the kit's own time for one learner ran out: not again
                        _stop([proc])
                        _machine(sub, T("the kit's time limit for one learner ({limit:.0f} s) ran out",
                                        limit=limit), began)
                    else:
                        _collect(sub, proc, result, began)
                        if defer and proc in crowded and _machines_failure(sub):
                            deferred.append(sub)
                            continue
                    if finished:
                        finished(sub)
        except BaseException:
            for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):   # a second signal must not cut
                signal.signal(number, signal.SIG_IGN)                        # the stopping short
            _stop(list(running))
            for sub in deferred:   # their first row stands: --resume grades them again
                if finished:
                    finished(sub)
            raise
    return deferred


def _machines_failure(sub: Submission) -> bool:
    """A failure of the machine that other gradings running beside this one could have caused: the machine was
    too busy, a service could not start in time, the grading process died (the out-of-memory killer picks the
    biggest, not the guilty). The kit's own time for one learner is no such failure: it never gets here."""
    from kit.class_grading.grades import MACHINE

    return sub.status == MACHINE


def _start(sub: Submission, stage_ids: list[str], machine_not_graded: dict, place: Path) -> subprocess.Popen:
    """A grading process for sub; its request, row and log are files named place.*."""
    request = place.with_suffix(".in.json")
    request.write_text(json.dumps({"learner": sub.learner, "folder": str(sub.folder), "tree": str(sub.tree),
                                   "key": sub.key, "stages": stage_ids,
                                   "machine_not_graded": {k: str(v) for k, v in machine_not_graded.items()}}),
                       encoding="utf-8")
    with open(place.with_suffix(".log"), "wb") as log:   # a file, not a pipe: nothing has to drain it
        return procs.spawn([sys.executable, "-P", "-m", "kit.class_grading.gradejobs", str(request),
                            str(place.with_suffix(".out.json"))], env=_worker_env(), stdout=log,
                           stderr=subprocess.STDOUT)


def _stop(running: list[subprocess.Popen]) -> None:
    """SIGTERM each grading process (its grade() stops its checks and their services, then it exits), wait,
    then stop whatever is left of each tree."""
    for proc in running:
        try:
            proc.send_signal(signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + STOP_GRACE
    for proc in running:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        procs.stop_tree(proc, grace=2)
        stage_groups.release_stale_groups()   # a grading process killed before it removed its stage groups


def _collect(sub: Submission, proc: subprocess.Popen, place: Path, began: float) -> None:
    from kit.class_grading.gradebook import load

    result = place.with_suffix(".out.json")
    if proc.returncode != 0 or not result.is_file():
        stage_groups.release_stale_groups()   # a grading process killed before it removed its stage groups
        try:
            said = place.with_suffix(".log").read_bytes()[-4000:].decode("utf-8", "replace")
        except OSError:
            said = ""
        how = (T("was killed by signal {signal}", signal=signal.Signals(-proc.returncode).name)
               if proc.returncode < 0 else T("ended with exit code {code}", code=proc.returncode))
        last = " ".join(said.strip().splitlines()[-1:])[:300]
        _machine(sub, T("the grading process {how} {last}", how=how, last=last).strip(), began)
        return
    _, done = load(result)
    graded = done[sub.key]
    sub.report, sub.error, sub.status, sub.seconds = graded.report, graded.error, graded.status, graded.seconds
    sub.done = True


def _machine(sub: Submission, why, began: float) -> None:
    from kit.class_grading.grades import MACHINE, rerun

    sub.report, sub.error, sub.status = None, rerun(why), MACHINE
    sub.seconds, sub.done = time.monotonic() - began, True


# -- the grading process ---------------------------------------------------------------------------------
def grade_one(sub: Submission, stage_ids: list[str], machine_not_graded: dict, on_stage_done=None) -> None:
    """Grade one learner; their row's status says whether the code or the machine decided it."""
    from kit.isolation import sandbox
    from kit.class_grading.classfolder import REFUSED
    from kit.class_grading.names import plain_text
    from kit.class_grading.grades import MACHINE, machine_failure, not_graded_result, rerun
    from kit.grading.report import Report
    from kit.grading.grader import grade
    from kit.course.project import NotAProjectTree

    begun = time.monotonic()
    run = [s for s in stage_ids if s not in machine_not_graded]
    try:
        report = (grade(sub.tree, run, on_stage_done=on_stage_done) if run
                  else Report(str(sub.tree), [], sandbox.detect().describe()))
    except NotAProjectTree as exc:
        sub.error, sub.status = (exc.args[0] if exc.args and isinstance(exc.args[0], str) else plain_text(exc)), REFUSED
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # a batch must survive anything one submission does; the kit failing is no 0
        sub.error, sub.status = rerun(T("Grading failed: {error}",
                                        error=plain_text(f"{type(exc).__name__}: {exc}")[:500])), MACHINE
    else:
        by_id = {r.id: r for r in report.stages}
        report.stages = [by_id.get(s) or not_graded_result(s, machine_not_graded[s]) for s in stage_ids]
        sub.report = report
        why = machine_failure(report, stage_ids, machine_not_graded)
        if why is not None:   # the machine's failure, not the code's: not graded, re-run (kit/class_grading/grades.py)
            sub.error, sub.status = rerun(why), MACHINE
    sub.seconds = time.monotonic() - begun
    sub.done = True


def main(request_path: str, result_path: str) -> int:
    """Grade one learner (grade_one) and write their row as a one-learner grades.json."""
    from kit.class_grading.grades import Meta
    from kit.class_grading.gradebook import write_json
    from kit.course.i18n import recall

    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    sub = Submission(request["learner"], Path(request["folder"]), Path(request["tree"]), key=request["key"])
    # recall: the kit's own sentence (NO_BROWSER) again, so the reason is translated where it is shown
    grade_one(sub, request["stages"], {k: recall(v) for k, v in request["machine_not_graded"].items()})
    write_json(Path(result_path), Meta(directory="", stages=request["stages"], isolation=""), [sub])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(*sys.argv[1:3]))
    except KeyboardInterrupt:   # stopped by grade-all: grade() has stopped its checks; no row is written
        sys.exit(128 + signal.SIGTERM)
