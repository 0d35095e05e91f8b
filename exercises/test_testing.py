"""Checkpoint `testing`: the learner's own tests tell a working consumer from a broken one.

The learner's myapp/tests/test_consumers.py is learner code: it runs only in
the sandbox, on private copies of the graded tree in which this checkpoint has
put a myapp.consumers of its own. Correct consumers, written in four styles,
must pass the learner's tests; each broken consumer must fail at least one of
them. A suite that always passes, always fails, or compares source text cannot
satisfy both sides. The consumers are written afresh for each grading
(consumers_under_test.py) and run in a sandboxed process of their own, which
this checkpoint starts and stops (kit/services/relay.py): the learner's suite gets a
stand-in myapp.consumers (testing_bootstrap.py, before any learner code) that
relays each socket to its consumer over a Unix socket, so the suite's process
holds none of the consumer's code; myapp/consumers.py there is a stub an audit
hook refuses to open, and a suite that tries counts for nothing.
Verdicts come from pytest's exit code together with its JUnit report, read
defensively: both are learner-controlled data, and a run whose two accounts
disagree counts for nothing.
"""
import functools
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import consumers_under_test
from kit.isolation import procs, sandbox
from kit.services import relay
from kit.course.i18n import T
from kit.course.nofollow import read_inside
from support import PROJECT, WAIT, fail

SUITE = "myapp/tests/test_consumers.py"
# One run of the learner's suite, Django's start-up included; a loaded machine needs the margin.
RUN_LIMIT = max(40.0, 8 * WAIT)
WORKERS = 3  # runs side by side
# A check waits for its run, which may wait its turn behind every other (twelve runs, three at a time); each
# run is stopped at RUN_LIMIT, so this only keeps a check from giving up on a run that has not begun.
QUEUED_LIMIT = (RUN_LIMIT + 5) * 4

# -- the consumers the learner's tests meet ------------------------------------------------------
# Written afresh for each grading (consumers_under_test.py): a style drawn at random for each broken one, names,
# strings and layout drawn anew, so that no text tells broken from correct; neither text nor code enters the
# learner's sandbox.
CORRECT = {
    "async": T("written with AsyncWebsocketConsumer"),
    "json": T("written with AsyncJsonWebsocketConsumer"),
    "sync": T("written as a synchronous WebsocketConsumer with async_to_sync"),
    "raw": T("written as a plain AsyncConsumer that handles websocket.connect, websocket.receive and "
             "websocket.disconnect itself"),
}

# Each broken consumer, as the learner reads it: what it does wrong, in words, never as code.
BROKEN = {
    "only-the-sender": T("a consumer that answers only the socket that sent a message: nobody else in the room "
                         "hears it"),
    "not-the-sender": T("a consumer that relays a message to everyone in the room except the socket that sent it"),
    "one-group": T("a consumer that puts every room in one group, so each room hears the others"),
    "never-leaves": T("a consumer that never leaves its group when a socket closes"),
    "wrong-key": T("a consumer that relays the text under another key than 'message'"),
    "crashes-on-bad-json": T("a consumer that crashes (and drops the socket) on a frame that is not JSON, instead "
                             "of answering with an error"),
    "ascii-only-rooms": T("a consumer that crashes on a room name with letters outside ASCII, such as a Bengali "
                          "name"),
}
assert set(CORRECT) == set(consumers_under_test.STYLES) and set(BROKEN) == set(consumers_under_test.FAULTS)

# The first code of each run, before any of the learner's: read here, handed to `python -c` in the sandbox.
BOOTSTRAP = (Path(__file__).parent / "testing_bootstrap.py").read_text(encoding="utf-8")
STUB = ("# The checkpoint's consumer runs in a process of its own: your tests meet it only through its sockets.\n")
RELAY = relay.__file__          # loaded by file in the learner's sandbox, where the kit's folder is shown read-only
INSIDE = "/kit-consumer"        # where a run's socket folder appears in its sandbox
SOCKET = "consumer.sock"
# The async test plugins that the lesson's runner (`python -m pytest myapp/tests`) loads by itself when they
# are installed beside pytest: tests marked for one (@pytest.mark.anyio) pass there, so they must run here.
ASYNC_PLUGINS = ("anyio", "asyncio")


@functools.cache
def async_plugins() -> tuple[str, ...]:
    """`-p NAME` for each of ASYNC_PLUGINS installed in the kit's own environment (never the tree's)."""
    from importlib.metadata import entry_points

    installed = {point.name for point in entry_points(group="pytest11")}
    return tuple(arg for name in ASYNC_PLUGINS if name in installed for arg in ("-p", name))


# -- running the learner's suite on a copy of the tree ------------------------------------------
@dataclass
class Run:
    outcome: str                 # "passed", "failed" (some test failed), or "broken" (no usable result)
    why: str = ""                # for "broken": one sentence
    failed: list = field(default_factory=list)


def printable(text: str, limit: int = 80) -> str:
    text = re.sub(r"[^\w\[\]\-.:,= ]", "?", text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def junit_counts(path: Path):
    """(tests, failed+errors, skipped, names of the failed) from pytest's report, or None.

    The report lies in the learner's writable tree: read as a regular file with no link followed, bounded
    (a link to a file of the machine, a named pipe or a flood counts for nothing)."""
    data = read_inside(path.parent, path.name, 5_000_000)
    if data is None:
        return None
    try:
        root = ElementTree.fromstring(data)
    except (ElementTree.ParseError, ValueError, RecursionError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites:
        return None
    try:
        tests = sum(int(s.get("tests", 0)) for s in suites)
        bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
        skipped = sum(int(s.get("skipped", 0)) for s in suites)
    except ValueError:
        return None
    names = [printable(case.get("name", "?")) for s in suites for case in s.iter("testcase")
             if case.find("failure") is not None or case.find("error") is not None]
    return tests, bad, skipped, names


def copy_with(hidden: bool, folder: Path) -> Path:
    """A private copy of the graded tree; when hidden, its myapp/consumers.py a stub (the consumer runs elsewhere)."""
    tree = folder / "tree"
    shutil.copytree(PROJECT, tree, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3", ".kit", ".kit-backups"))
    if hidden:
        target = tree / "myapp" / "consumers.py"
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        target.unlink(missing_ok=True)  # a link planted there is removed, never followed
        target.write_text(STUB, encoding="utf-8")
    return tree


class Served:
    """The kit's consumers of one grading, in one sandboxed process (kit/services/relay_consumers.py), each on a listening socket
    of its own that this process made, in a folder of its own: a run is shown its consumer's folder only."""

    def __init__(self, consumers: dict[str, str]):
        self.top = Path(tempfile.mkdtemp(prefix="kit-consumers-"))
        self.places: dict[str, Path] = {}
        jobs, fds = [], []
        for number, (name, text) in enumerate(consumers.items()):
            place = self.top / str(number)   # numbered in the runs' random order: a name tells nothing
            place.mkdir(mode=0o700)
            listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listening.bind(str(place / SOCKET))
            os.chmod(place / SOCKET, 0o666)  # the learner user connects (the folder lets only it pass)
            listening.listen(64)
            self.places[name] = place
            jobs.append([listening.fileno(), text])
            fds.append(listening)
        serving = self.top / "serving"
        serving.mkdir()
        listed = self.top / "jobs"
        listed.write_text(json.dumps(jobs), encoding="utf-8")
        fd = os.open(listed, os.O_RDONLY | os.O_NOFOLLOW)
        listed.unlink()  # the process reads it and closes it; no file holds the texts after
        isolation = sandbox.for_grading() or sandbox.Isolation("process", "")
        try:
            self.process = sandbox.spawn([sys.executable, "-P", "-B", "-m", "kit.services.relay_consumers", str(fd)], serving,
                                         isolation=isolation, pass_fds=(fd, *(s.fileno() for s in fds)),
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        finally:
            os.close(fd)
            for listening in fds:
                listening.close()  # the consumers' process holds them; connections queue until it serves
        # It starts beside the suites: the stand-in waits for it when a suite imports myapp.consumers.

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        procs.stop_tree(self.process, grace=1)
        shutil.rmtree(self.top, ignore_errors=True)


def run_suite(place: Path | None, served: Served | None = None) -> Run:
    """The learner's suite on a copy of the tree: against the consumer served in place, or (None) their own."""
    folder = Path(tempfile.mkdtemp(prefix="kit-testing-"))
    try:
        tree = copy_with(place is not None, folder)
        report = tree / f".kit-junit-{secrets.token_hex(8)}.xml"  # a name no file of the tree can hold yet
        marker = tree / f".kit-read-{secrets.token_hex(8)}"       # made when the suite tries to read the consumer
        isolation = sandbox.for_grading() or sandbox.Isolation("process", "")
        binds = [(str(place), INSIDE, False)] if place is not None else []
        address = f"{INSIDE if isolation.sandboxed else place}/{SOCKET}" if place is not None else "-"
        # -I: nothing from the tree (sitecustomize, PYTHONPATH) runs before the bootstrap; -B: no .pyc is written.
        # -x: one failing test is the whole answer, and a broken consumer makes later tests wait for
        # frames that never come. No plugins but the async ones (each costs start-up time): those the
        # lesson's runner loads too, so that every test style it runs is run here.
        args = [sys.executable, "-I", "-B", "-c", BOOTSTRAP, RELAY if place is not None else "-", address,
                str(tree), str(marker), SUITE, "-q", "-x", "-p", "no:cacheprovider", *async_plugins(),
                "-c", os.devnull, "--rootdir", str(tree), f"--junitxml={report}", "-o", "junit_family=xunit2"]
        env = {"REDIS_URL": "", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        proc = sandbox.spawn(args, tree, env=env, isolation=isolation, binds=binds,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            code = proc.wait(timeout=RUN_LIMIT)
        except subprocess.TimeoutExpired:
            return Run("broken", T("did not finish within {limit:.0f} s: a test waits forever (give "
                                   "receive_from() and receive_nothing() a timeout)", limit=RUN_LIMIT))
        finally:
            procs.stop_tree(proc, grace=1)
        if place is not None and os.path.lexists(marker):
            return Run("broken", T("tried to read myapp/consumers.py (its text or its compiled code): here the "
                                   "consumers your tests meet cannot be read, only driven through their sockets; "
                                   "test what a consumer does, not how it is written"))
        if served is not None and not served.alive:
            return Run("broken", T("could not be judged: the process that runs the checkpoint's consumers "
                                   "stopped while your tests ran (did they open thousands of sockets, or send "
                                   "megabytes at once?)"))
        counts = junit_counts(report)
        if code == 5:
            return Run("broken", T("found no tests in {suite}: name each function test_...", suite=SUITE))
        if code in (2, 3, 4):
            return Run("broken", T("could not run (pytest exit code {code}): run `python -m pytest myapp/tests` "
                                   "yourself from the folder holding manage.py and fix the first error", code=code))
        if counts is None:
            return Run("broken", T("ended (exit code {code}) without pytest's report: never call sys.exit() or "
                                   "os._exit() in a test file", code=code))
        tests, bad, skipped, names = counts
        if code == 0 and bad == 0 and tests - skipped >= 1:
            return Run("passed")
        if code == 1 and bad >= 1:
            return Run("failed", failed=names)
        return Run("broken", T("gave an exit code ({code}) and a report ({tests} tests, {bad} failed, {skipped} "
                               "skipped) that disagree, or ran no test at all", code=code, tests=tests, bad=bad,
                               skipped=skipped))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def wanted(request) -> set[str]:
    """The runs the collected checks ask for: a selection of checks (kit check -k ...) starts only its own."""
    names = set()
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module is request.module and ("style" in params or "broken" in params):
            names |= {params["style"]} if "style" in params else {params["broken"], "async"}
    return names


@pytest.fixture(scope="module")
def runs(request):
    """Every consumer's run, started at once in a random order, a few side by side.

    A stage has a time limit of its own: one run after another would not fit a loaded machine."""
    if not (PROJECT / SUITE).is_file():
        fail(T("{suite} is missing: write your consumer's tests there (see the notebook 12_testing).", suite=SUITE))
    asked = wanted(request)
    # Each broken consumer in a style drawn at random: which one a run meets, no test can know in advance.
    consumers = {style: consumers_under_test.consumer(style) for style in CORRECT if style in asked}
    consumers.update({fault: consumers_under_test.consumer(fault=fault) for fault in BROKEN if fault in asked})
    if YOURS in asked:
        consumers[YOURS] = None   # the learner's own consumer, unchanged
    # Started in a random order too: runs of one suite can count each other through the kernel (a lock on a
    # file every sandbox reads, the page cache), and a fixed order told a run which consumer it met.
    order = list(consumers)
    secrets.SystemRandom().shuffle(order)
    kits = {name: consumers[name] for name in order if consumers[name] is not None}
    served = Served(kits) if kits else None
    pool, futures = ThreadPoolExecutor(max_workers=WORKERS), {}
    try:
        futures = {name: pool.submit(run_suite, served.places[name] if name in kits else None, served)
                   for name in order}
        yield futures
    finally:
        for future in futures.values():
            future.cancel()
        pool.shutdown(wait=True)
        if served is not None:
            served.stop()  # the consumers' process ends with the checkpoint


def result_of(runs, name: str) -> Run:
    return runs[name].result(timeout=QUEUED_LIMIT)


# The learner's own consumer, as the graded tree holds it: the suite must pass there too, as it does when the
# learner runs `python -m pytest myapp/tests` (a suite that passes only on the kit's consumers guards nothing).
YOURS = "yours"


@pytest.mark.parametrize("style", [*CORRECT, YOURS])
@pytest.mark.timeout(QUEUED_LIMIT + 10)  # waits for a run of the learner's suite, bounded by RUN_LIMIT
def test_your_tests_pass_on_a_correct_consumer(runs, style):
    result = result_of(runs, style)
    if style == YOURS:
        if result.outcome == "broken":
            fail(T("On your own consumer (myapp/consumers.py), your tests {why}.", why=result.why))
        if result.outcome == "failed":
            fail(T("Your tests fail on your own consumer, myapp/consumers.py: {names}. Run `python -m pytest "
                   "myapp/tests` from the folder holding manage.py and read the first failure: either the "
                   "consumer breaks a promise the test checks, or the test asks what your consumer cannot do (a "
                   "consumer that saves each message with its author needs users saved in the tests' database, "
                   "as notebook 12_testing makes them).", names=", ".join(result.failed[:4]) or T("some of them")))
        return
    described = CORRECT[style]
    if result.outcome == "broken":
        fail(T("Your tests {why}.", why=result.why))
    if result.outcome == "failed":
        names = ", ".join(result.failed[:4]) or T("some of them")
        fail(T("Your tests failed on a correct consumer {described}: {names}. Test what the consumer does through "
               "its sockets (the messages each one receives), not how it is written, and import nothing from "
               "myapp/consumers.py: the checkpoint swaps that file for consumers of its own.", described=described,
               names=names))


@pytest.mark.parametrize("broken", list(BROKEN))
@pytest.mark.timeout(QUEUED_LIMIT + 10)
def test_your_tests_catch_a_broken_consumer(runs, broken):
    described = BROKEN[broken]
    if result_of(runs, "async").outcome != "passed":
        # Failing on a broken consumer tells it from nothing while correct ones fail too.
        fail(T("Your tests do not pass on a correct consumer yet, so failing on {described} proves nothing: "
               "make them pass on a correct consumer first.", described=described))
    result = result_of(runs, broken)
    if result.outcome == "passed":
        if set(BROKEN) <= set(runs) and all(result_of(runs, name).outcome == "passed" for name in BROKEN):
            # Passing on every mistake is the mark of tests that never run their coroutine.
            fail(T("Your tests all passed on {described}, and on every other broken consumer too: do they test "
                   "anything? A test that asserts nothing passes on everything, and so does a coroutine that "
                   "nothing runs: the async methods of a plain unittest.TestCase (use IsolatedAsyncioTestCase), or "
                   "a decorator that never runs the coroutine it wraps.", described=described))
        fail(T("Your tests all passed on {described}: add a test that fails on it.", described=described))
    if result.outcome == "broken":
        fail(T("On {described}, your tests {why}.", described=described, why=result.why))
