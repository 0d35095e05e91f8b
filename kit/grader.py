"""Grade stages of one project tree: each stage in a fresh checking process, bounded in time.

Trust: the checking process runs the kit's checks and never imports the
learner's code; that code runs only in the sandboxed processes the checks
start (kit/sandbox.py), on a scratch copy of the tree. Verdicts come back over
a pipe that no learner process inherits, and a stage passes only when every
check the checking process collected for it reported a pass.

A crash, a hang, an os._exit or a full disk (the scratch tree is watched: _watch) in the learner's code
fails that stage with a plain sentence; the other stages are still graded, and no process survives.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import busy, catalogue, hidden, procs, sandbox, server
from .catalogue import EXERCISES_DIR, Stage
from .explain import exit_calls
from .i18n import N_, SOURCE, T, join, language, recall, revive, translated
from .project import read_inside, validate
from .scratch import scratch_copy

_running: set[subprocess.Popen] = set()   # checkpoint processes to stop if the grader is interrupted
_stopping = threading.Event()             # set on Ctrl-C/SIGTERM: no stage starts (or starts again) after it

# The time limits' one home, in seconds: a stage's checking process, and each check in it (which the checker
# reads too: exercises/conftest.py). The environment may change them; tests/test_docs.py keeps the README's
# defaults equal to these.
DEFAULT_STAGE_TIME_LIMIT = 120
DEFAULT_TEST_TIME_LIMIT = 30
STAGE_TIME_LIMIT = float(os.environ.get("KIT_STAGE_TIME_LIMIT", DEFAULT_STAGE_TIME_LIMIT))
TEST_TIME_LIMIT = float(os.environ.get("KIT_TEST_TIME_LIMIT", DEFAULT_TEST_TIME_LIMIT))
# Live stages mostly wait on sockets, a browser or a server's start-up, so they overlap well even on 2 cores.
PARALLEL = int(os.environ.get("KIT_PARALLEL", "4"))
WATCH_EVERY = 0.5   # seconds between two looks at a running stage's scratch tree (_watch)


# -- output is data: what learner code says enters a report here, and only as text ------------------------
MESSAGE_LIMIT = 4000     # characters of one message or hint kept in a report
# Said in every report of points awarded without a sandbox (Report.advisory).
ADVISORY = N_("advisory: graded without a sandbox, so these points are not marks")
# Control characters, lone surrogates, and the bidirectional marks, overrides and isolates: learner text that
# reorders what a reader sees around it (a name shown backwards, a score that seems to say another thing).
# kit/grades.py cleans names and notes with the same set.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def as_data(text, limit: int = MESSAGE_LIMIT) -> str:
    """Text from learner code as a report keeps it: no control characters (tab and newline kept; ANSI and OSC
    escapes lose their ESC, so a terminal shows them as text), valid in XML, at most limit characters.
    Rich markup is escaped where a table is drawn (kit/render.py), so JSON keeps the text as it was said."""
    text = CONTROL.sub("", str.__str__(text) if isinstance(text, str) else str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _template_as_data(data):
    """A message's T data with every value as_data too, so the sentence it rebuilds is the cleaned one."""
    if isinstance(data, dict):
        return {key: (as_data(value) if isinstance(value, str) and key not in ("template", "join")
                      else _template_as_data(value)) for key, value in data.items()}
    if isinstance(data, list):
        return [as_data(v) if isinstance(v, str) else _template_as_data(v) for v in data]
    return data


@dataclass
class Failure:
    test: str
    message: str        # English, always: a stable key for machines
    hint: str           # English too
    # {"lang": "bn", "message": ..., "hint": ...} when another language is chosen (grade(lang=...))
    translation: dict | None = None
    template: dict | None = field(default=None, repr=False, compare=False)  # the message's T data (kit/i18n.py)

    def __post_init__(self):
        """Every failure, wherever it is made, holds its text as data (as_data). A message that needed
        cleaning keeps its template (so it can still be translated) only when the kit's own template, with its
        values cleaned, says exactly the cleaned sentence."""
        from .i18n import T as _T, from_data, known_template

        clean = as_data(self.message)
        if not isinstance(self.message, str) or clean != str.__str__(self.message):
            template = self.template or (self.message.data() if isinstance(self.message, _T) else None)
            made = None
            if template is not None and known_template(template := _template_as_data(template)):
                try:
                    made = from_data(template)
                except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                    made = None
            if made is not None and str.__str__(made) == clean:
                self.message = made
                self.template = template if self.template is not None else None
            else:
                self.message, self.template = clean, None
        self.test = as_data(self.test, 200)
        if not isinstance(self.hint, str) or as_data(self.hint) != self.hint:
            self.hint = as_data(self.hint)
        if self.translation:
            self.translation = {k: as_data(v) if isinstance(v, str) else v for k, v in self.translation.items()}

    def translate(self, lang: str) -> None:
        from .i18n import revive

        said = revive(self.message, self.template) if self.template else recall(self.message)
        self.translation = {"lang": lang, "message": translated(said, lang), "hint": translated(self.hint, lang)}


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
    # The asked stage this earlier one was graded again for (grade(recheck=True)), else "".
    recheck_of: str = ""
    # Graded a second time, every limit doubled, because it failed while the machine was busy (kit/busy.py).
    second_try: bool = False
    # The busy machine's verdict (_patient: a time limit hit twice on a machine busy before the grading began).
    # Set only here, never read from a message: a tree can make its host say the kit's busy sentence (tenth review).
    machine_busy: bool = False

    @property
    def verdict(self) -> str:
        if not self.available:
            return "not yet available"
        return "pass" if self.passed else "fail"


@dataclass
class Report:
    project: str
    stages: list[StageResult]
    isolation: str = ""

    @property
    def score(self) -> int:
        """The points of the stages graded for themselves: a re-checked earlier stage (recheck_of) is
        shown beside a named-stage check, never counted in it (it was counted when it was checked)."""
        return sum(s.points for s in self.stages if not s.recheck_of)

    @property
    def max_score(self) -> int:
        return sum(s.max_points for s in self.stages if s.available and not s.recheck_of)

    @property
    def broken(self) -> list[str]:
        """The re-checked earlier stages that fail now."""
        return [s.id for s in self.stages if s.recheck_of and s.available and not s.passed]

    @property
    def all_passed(self) -> bool:
        return all(s.passed for s in self.stages if s.available)

    @property
    def advisory(self) -> bool:
        """Graded without a sandbox: learner code could read and write what the grader can, so these points
        are advice, not marks (every report says so)."""
        return not self.isolation.startswith("bubblewrap")

    def to_dict(self) -> dict:
        stages = []
        for s in self.stages:
            entry = asdict(s)
            for failure in entry["failures"]:
                failure.pop("template", None)
                failure["message"], failure["hint"] = str.__str__(failure["message"]), str.__str__(failure["hint"])
                if failure.get("translation") is None:
                    failure.pop("translation", None)
            entry["seconds"] = round(s.seconds, 2)
            entry["recheck"] = bool(s.recheck_of)   # graded again for recheck_of: not in score/max_score
            stages.append(entry)
        return {"project": as_data(self.project, 1000), "score": self.score, "max_score": self.max_score,
                "isolation": self.isolation, "advisory": self.advisory, "stages": stages}


def grade(project: str | os.PathLike, stage_ids: list[str] | None = None, *,
          on_stage_done=None, parallel: int | None = None, lang: str | None = None,
          recheck: bool = False) -> Report:
    """Grade the named stages (all by default) of the tree at project.

    recheck (a checkpoint asked for by name: check("users"), `kit check users`): the earlier stages that
    share a file with a named one are graded too (catalogue.rechecks), after the named ones, and a failing
    one says first that this change broke it. Grading every stage needs no re-check.

    In a language other than English (lang, else the chosen one: kit/i18n.py) each failure keeps its
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
        # The stages that only import the tree share one process (one start-up instead of four);
        # if that process dies or hangs, they are graded again one by one, each in its own.
        # An instructor's hidden checks run after every visible check of the grading has ended (_with_hidden).
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
        for proc in list(_running):
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

    Only what is known: the stage does not pass now (whether it ever passed, the grader cannot know). A shared file is named only when the learner's copy differs
    from every version the kit knows the earlier stage passes with (its solution, and each later one up to
    where `changed` starts): a file the learner did not touch is never blamed."""
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
    from . import files

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
    """A stage that failed while the machine was busy is graded once more, whole, with every time limit doubled:
    a verdict must not depend on the load (kit/busy.py). The second try's verdict stands alone: nothing of the
    first is carried over but the wording of a failure both tries share (a part-graded second try would let
    checks that catch a trick together be passed one by one)."""
    only_not_graded = first.skipped and all(f.test == "stage" for f in first.failures)
    wanted = busy.mode() == "always" or (busy.mode() == "when-busy" and busy_share >= busy.BUSY)
    if first.passed or not first.available or only_not_graded or not wanted or _stopping.is_set():
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
    "visible" (the kit's checks), "hidden" (an instructor's, kit/hidden.py) or "all" (both, hidden last)."""
    isolation = isolation or sandbox.detect()
    if _stopping.is_set():
        return T("Grading was interrupted."), [], []
    with tempfile.TemporaryDirectory(prefix="kit-grade-") as scratch:
        place = Path(scratch)
        try:
            tree = scratch_copy(root, place / "tree")
        except ValueError as exc:
            return str(exc), [], []
        group = sandbox.stage_group()   # all of the stage's processes in one bounded control group, if allowed
        try:
            return _run_checkpoint(root, tree, stages, place, isolation, keep_going, select, group, limits or {},
                                   part)
        finally:
            _this_thread.stage_cpu = sandbox.group_cpu_seconds(group)   # for _patient: whose load was it?
            sandbox.release_group(group)   # and whatever of them is left is gone


def _hint(stage: Stage, entry: dict) -> str:
    """The first rung of the failing check's own ladder (kit/hint_ladders/), else its marker, else the stage's."""
    from .hints import ladder_for

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
    return result


def _run_checkpoint(root: Path, tree: Path, stages: list[Stage], scratch: Path, isolation: sandbox.Isolation,
                    keep_going: bool, select: str | None, group=(),
                    limits: dict[str, str] | None = None, part: str = "all") -> tuple[str, list[dict], list[dict]]:
    """Run the stages' pytest modules in one fresh checking process on tree (a scratch copy of root).

    Nothing of the tree configures it: pytest runs from an empty folder with the
    kit's own ini file, no plugin autoloading and no path or file of the tree on
    its command line; the tree is named only in its environment."""
    # An instructor's hidden checks (kit/hidden.py) run after every visible check of the process (part "all"):
    # learner code sees a hidden check's questions, and a visible check run after it could quote what that code
    # wrote down in its failure message. grade() gives them a process of their own, after all others (part).
    limits = limits or {}
    test_limit = float(limits.get("KIT_TEST_TIME_LIMIT", TEST_TIME_LIMIT))
    stage_limit = float(limits.get("KIT_STAGE_TIME_LIMIT", STAGE_TIME_LIMIT))
    # Hidden checks alone still collect the stage's own module (its conftest and `support` come with it) and
    # deselect every check of it.
    modules = [str(stage.checkpoint) for stage in stages] + ([str(path) for stage in stages
                                                              for path in hidden.checks_for(stage)]
                                                             if part != "visible" else [])
    unwanted = [f"--deselect={stage.checkpoint.relative_to(EXERCISES_DIR)}::" for stage in stages] \
        if part == "hidden" else []
    cmd = [sys.executable, "-P", "-s", "-B", "-m", "pytest", *modules, "-c", str(EXERCISES_DIR / "pytest.ini"),
           "--rootdir", str(EXERCISES_DIR), "--confcutdir", str(EXERCISES_DIR), "-p", "kit.pytest_plugin",
           "-p", "pytest_timeout", f"--timeout={test_limit:g}", "-q", "--no-header", "-rN",
           "-W", "ignore::DeprecationWarning", *unwanted, *(["--kit-keep-going"] if keep_going else []),
           *(["-k", select] if select else [])]
    env = dict(os.environ, KIT_GRADED_PROJECT=str(tree), KIT_SOURCE_TREE=str(root),
               KIT_GRADING_ISOLATION=isolation.kind, KIT_GRADING_ISOLATION_DETAIL=isolation.detail,
               PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", KIT_CHECKER="1", **limits)
    env.pop("KIT_PROJECT", None)
    readable, writable = os.pipe()
    env["KIT_RESULTS_FD"] = str(writable)
    snapshots: list[str] = []
    reader = threading.Thread(target=_read_results, args=(readable, snapshots), daemon=True)
    work = scratch / "checks"
    work.mkdir()
    # Every folder the checks make (daphne's socket folder, which its learner process writes to; the testing
    # stage's copies; logs) goes in the scratch folder, where _watch bounds the disk they take.
    temporary = _temporary_folder(scratch)
    env["TMPDIR"] = str(temporary)
    log = scratch / "checks.log"
    with open(log, "wb") as out:
        try:
            proc = procs.spawn([*sandbox.joining(group), *cmd], cwd=work, env=env, stdout=out,
                               stderr=subprocess.STDOUT, pass_fds=(writable,))
        finally:
            os.close(writable)  # from here on only the checking process holds the write end
        reader.start()
        _running.add(proc)
        try:
            stopped = _watch(proc, [scratch, temporary], stage_limit)
            if stopped:
                procs.stop_tree(proc, grace=2)
                reader.join(timeout=5)
                expected, entries = _last(snapshots)
                return stopped, expected, entries
        except BaseException:
            procs.stop_tree(proc, grace=2)
            raise
        finally:
            procs.stop_tree(proc, grace=2)  # nothing the checks started may outlive them
            _running.discard(proc)
            procs.stop_children(marked=("KIT_SOURCE_TREE", str(root)))  # orphans of this tree's learner code
            if not temporary.is_relative_to(scratch):
                shutil.rmtree(temporary, ignore_errors=True)
    reader.join(timeout=5)
    expected, entries = _last(snapshots)
    if proc.returncode in (0, 1) and not any(e["outcome"] == "running" for e in entries):
        return "", expected, entries
    if proc.returncode < 0:
        how = T("was killed by signal {signal}", signal=signal.Signals(-proc.returncode).name)
    else:
        how = T("ended abruptly (exit code {code})", code=proc.returncode)
    exits = exit_calls(tree)
    if exits:
        return T("The checking process {how}: the project ends the process itself, {call}. "
                 "A settings file or module must never call sys.exit() or os._exit(); raise an exception "
                 "instead.", how=how, call=exits[0]), expected, entries
    # The log's last lines, unless an instructor's hidden check ran here: its traceback may be among them.
    hidden_ran = part != "visible" and any(hidden.checks_for(stage) for stage in stages)
    tail = "" if hidden_ran else as_data(" | ".join(_tail(log).strip().splitlines()[-3:]), 600)
    said = T("The checking process {how} before it could report.", how=how)
    return (join([said, tail]) if tail else said), expected, entries


def _temporary_folder(scratch: Path) -> Path:
    """The checking process's TMPDIR: every folder the checks make goes there (daphne's socket folder, which
    its learner process writes to; the testing stage's copies; logs), where _watch bounds the disk they take.
    In the scratch folder when its path is short enough for a Unix socket inside it, else a folder of its own
    in /tmp (procs.socket_folder_base). Sticky and open to all, as /tmp is: Chromium, run as the learner
    user, makes its folders there."""
    inside = scratch / "tmp"
    if len(str(inside).encode()) <= 48:
        inside.mkdir()
    else:
        inside = Path(tempfile.mkdtemp(prefix="kit-tmp-", dir="/tmp"))
    inside.chmod(0o1777)
    return inside


def _watch(proc: subprocess.Popen, folders: list[Path], limit: float = STAGE_TIME_LIMIT) -> str:
    """Wait for the checking process, within the stage's time, while its folders (the scratch tree and the
    checks' temporary folder) stay within their disk bounds (a file's size is bounded per file only: many
    files could fill the disk). "" when it finished, else why the stage must be stopped."""
    deadline = time.monotonic() + limit
    while True:
        left = deadline - time.monotonic()
        try:
            proc.wait(timeout=max(0.0, min(WATCH_EVERY, left)))
            return ""
        except subprocess.TimeoutExpired:
            pass
        if left <= 0:
            return T("The stage did not finish within {limit:.0f} s and was stopped: "
                     "something in the project never returns.", limit=limit)
        if sum(_disk_used(folder) for folder in folders) + _held_deleted(proc, folders) > sandbox.DISK_LIMIT:
            procs.stop_tree(proc, grace=0.2)   # at once: every second of grace is more of the disk taken
            return T("The stage was stopped: the project wrote more than {limit} MiB or {entries} files into "
                     "its folder while it was graded.", limit=sandbox.DISK_LIMIT // 2 ** 20,
                     entries=sandbox.DISK_ENTRIES)


def _held_deleted(proc: subprocess.Popen, folders: list[Path]) -> float:
    """The bytes that files deleted but still held open or mapped by the stage's processes take on the folders'
    disks: no walk of the folders lists them (twelfth and thirteenth reviews: 1.5 GiB past the bound). Infinite
    past DISK_ENTRIES open files (the look stays short, whatever the processes hold). A descriptor
    in flight on a socket, held by no process, is not seen (docs/architecture.md, what stays open)."""
    import psutil

    try:
        devices = {os.stat(folder).st_dev for folder in folders}
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except (OSError, psutil.Error):
        return 0
    total, seen, counted = 0, 0, set()
    for member in family:
        places = []
        try:   # the process may end while it is looked at: what was found so far still counts
            for number in os.listdir(f"/proc/{member.pid}/fd"):
                seen += 1
                if seen > sandbox.DISK_ENTRIES:
                    return float("inf")
                try:
                    if os.readlink(f"/proc/{member.pid}/fd/{number}").endswith(" (deleted)"):
                        places.append(f"/proc/{member.pid}/fd/{number}")
                except OSError:   # closed since the listing
                    continue
            with open(f"/proc/{member.pid}/maps", encoding="utf-8", errors="replace") as maps:
                for line in maps:   # one read a process, however many mappings (a fork bomb has thousands)
                    if line.rstrip("\n").endswith(" (deleted)"):
                        places.append(f"/proc/{member.pid}/map_files/{line.split(None, 1)[0]}")
        except OSError:
            pass
        for place in places:
            try:
                info = os.stat(place)   # the file itself, deleted or not
            except OSError:
                continue
            if info.st_dev in devices and (info.st_dev, info.st_ino) not in counted:
                counted.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def _disk_used(top: Path) -> float:
    """The bytes the tree's files take on disk, found without following a link; infinite past DISK_ENTRIES
    entries (the walk stays short, whatever the tree holds)."""
    total, seen, folders = 0, 0, [str(top)]
    while folders:
        try:
            listing = os.scandir(folders.pop())
        except OSError:
            continue
        with listing:
            for entry in listing:
                seen += 1
                if seen > sandbox.DISK_ENTRIES:
                    return float("inf")
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
    return total


def _tail(log: Path, size: int = 8192) -> str:
    """The end of the checking process's log, read bounded (a flood of output may be gigabytes)."""
    with open(log, "rb") as handle:
        handle.seek(max(0, handle.seek(0, os.SEEK_END) - size))
        return handle.read(size).decode("utf-8", errors="replace")


def _read_results(fd: int, snapshots: list[str]) -> None:
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as channel:
        for line in channel:
            snapshots.append(line)
            del snapshots[:-2]


def _last(snapshots: list[str]) -> tuple[list[dict], list[dict]]:
    """The newest complete snapshot the checking process sent: (expected checks, entries)."""
    for line in reversed(snapshots):
        try:
            data = json.loads(line)
            return data["expected"], data["entries"]
        except (ValueError, KeyError, TypeError):
            continue
    return [], []
