"""pytest plugin of the checking process: streams each check's verdict, message and hint to the grader.

Loaded with `-p kit.grading.pytest_plugin`; the grader hands over the write end of a
pipe as the file descriptor in KIT_RESULTS_FD. The descriptor is made
non-inheritable at once, so no process started by the checks (daphne, the
host, a browser) holds it: verdicts reach the grader over a channel that
learner code cannot write to or name.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from kit.course.i18n import T, message_data

TIMEOUT_RE = re.compile(r"Timeout \(?>\s*([\d.]+)s")
PLACE_RE = re.compile(r"((?:myapp|myproject)/[\w/]+\.py, line \d+(?: \(in \w+\))?)")
NOT_RUN = "not run: an earlier check of this stage failed"
MESSAGE_LIMIT = 4000      # characters of one message sent to the grader (kit/grading/report.py keeps as many)


def pytest_addoption(parser):
    parser.addoption("--kit-keep-going", action="store_true",
                     help="run every check even after a stage's first failure (the kit's own tests)")


def stage_of(nodeid: str) -> str:
    """By the module's file name, wherever it lies (a hidden check's nodeid may start with '../')."""
    from kit.course.catalogue import stage_of_module

    return stage_of_module(nodeid.split("::")[0].replace("\\", "/").rsplit("/", 1)[-1])


def test_name(nodeid: str) -> str:
    return nodeid.split("::")[-1]


class Recorder:
    """Several stages may share one process: each stops at its own first failure, the others go on."""

    def __init__(self, channel, keep_going: bool = False):
        self.channel = channel
        self.keep_going = keep_going
        self.expected: list[dict] = []
        self.results: dict[str, dict] = {}
        self.order: list[str] = []
        self.running: str | None = None
        self.began = time.monotonic()   # when the running check started (logstart)
        self.failed_stages: set[str] = set()
        self.stages: dict[str, str] = {}   # nodeid -> stage, from the module's path

    def stage(self, nodeid: str) -> str:
        """A hidden module outside the kit's folder may get a nodeid without its file name: its path decides."""
        return self.stages.get(nodeid) or stage_of(nodeid)

    def save(self) -> None:
        """Sent after every check, not only at the end: if the learner's code kills or hangs a service,
        the grader still knows what passed and which check was running."""
        entries = [dict(self.results[nodeid], outcome="running")
                   if nodeid == self.running and self.results[nodeid]["outcome"] == "passed"
                   else self.results[nodeid] for nodeid in self.order]
        if self.running and self.running not in self.results:
            entries.append({"test": test_name(self.running), "stage": self.stage(self.running),
                            "outcome": "running", "message": "", "hint": ""})
        self.channel.write(json.dumps({"expected": self.expected, "entries": entries}) + "\n")
        self.channel.flush()

    def pytest_collection_finish(self, session):
        self.stages = {item.nodeid: stage_of(item.path.name) for item in session.items}
        self.expected = [{"test": test_name(item.nodeid), "stage": self.stage(item.nodeid)} for item in session.items]
        self.save()

    def pytest_runtest_logstart(self, nodeid, location):
        self.running, self.began = nodeid, time.monotonic()
        self.save()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        if self.stage(item.nodeid) in self.failed_stages and not self.keep_going:
            pytest.skip(NOT_RUN)

    def pytest_runtest_logfinish(self, nodeid, location):
        self.running = None
        self.save()

    def _entry(self, nodeid: str) -> dict:
        if nodeid not in self.results:
            self.order.append(nodeid)
            self.results[nodeid] = {"test": test_name(nodeid), "stage": self.stage(nodeid),
                                    "outcome": "passed", "message": "", "hint": ""}
        return self.results[nodeid]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        entry = self._entry(report.nodeid)
        marker = item.get_closest_marker("hint")
        if marker and marker.args:
            entry["hint"] = str(marker.args[0])
        if report.failed and entry["outcome"] == "passed":
            entry["outcome"] = "failed"
            # How long the check had run when it failed, set-up included: the per-check time limit counts it too.
            entry["seconds"] = time.monotonic() - self.began
            if is_hidden(item.path):   # its name and the instructor's hint, nothing it compared
                entry["message"], entry["hidden"] = hidden_failure(entry["test"], entry["hint"]), True
            else:
                entry["message"] = plain_message(call.excinfo, report)
            self._keep_template(entry)
            self.failed_stages.add(entry["stage"])
        elif report.skipped and entry["outcome"] == "passed":
            reason = skip_reason(report)
            entry["outcome"] = "not run" if reason == NOT_RUN else "skipped"
            # A hidden check's skip or xfail reason is its traceback or the instructor's words: neither is shown.
            entry["message"] = reason if not is_hidden(item.path) else T(
                "Your instructor's check {test} was skipped or marked to fail; tell your instructor.",
                test=entry["test"])

    def pytest_collectreport(self, report):
        if report.failed:
            entry = self._entry(report.nodeid or "collect")
            entry["outcome"] = "failed"
            entry["test"] = "collect"
            self.failed_stages.add(entry["stage"])
            if hidden_collect_failure(report):
                entry["message"] = T("One of your instructor's checks for this stage could not be loaded; tell "
                                     "your instructor.")
            else:
                entry["message"] = T("The checkpoint module could not be loaded: {error}",
                                     error=str(report.longrepr).splitlines()[-1][:MESSAGE_LIMIT])
            self._keep_template(entry)
            self.save()

    @staticmethod
    def _keep_template(entry: dict) -> None:
        """The English message stays the message; its template and values ride beside it (kit/course/i18n.py).
        A message longer than MESSAGE_LIMIT is cut (and loses its template): a flood of learner output
        never crosses the pipe whole."""
        data = message_data(entry["message"])
        text = str.__str__(entry["message"])
        if data and len(text) <= MESSAGE_LIMIT:
            entry["i18n"] = data
        entry["message"] = text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"

    def pytest_sessionfinish(self, session):
        self.running = None
        self.save()


# -- hidden checks: what they compare stays in the checking process -------------------------------------
def _hidden_folder() -> Path | None:
    from kit.course import hidden

    try:
        return hidden.folder()
    except hidden.HiddenChecksError:
        return None


def is_hidden(path) -> bool:
    """Is this module one of the instructor's hidden checks (kit/course/hidden.py)?"""
    place = _hidden_folder()
    if place is None or not path:
        return False
    try:
        return Path(os.path.abspath(str(path))).resolve().is_relative_to(place)
    except (OSError, ValueError):
        return False


def hidden_collect_failure(report) -> bool:
    """Is this failed collection (a session-level one has no nodeid) about a hidden module? Judged by its
    nodeid, and by the text pytest wrote about it naming a hidden module's file."""
    from kit.course import hidden

    try:
        names = [path.name for path in hidden.modules()]
    except hidden.HiddenChecksError:
        return False
    nodeid = report.nodeid.split("::")[0].replace("\\", "/")
    if nodeid and nodeid.rsplit("/", 1)[-1] in names:
        return True
    text = str(report.longrepr)
    return any(name in text for name in names)


def hidden_failure(test: str, hint: str) -> str:
    """A failing hidden check as the learner sees it: its name and its instructor-written hint only; never
    the values it compared, its assertion or its exception (they may hold the expected answer)."""
    if hint:
        return T("Your instructor's check {test} does not pass. {hint}", test=test, hint=hint)
    return T("Your instructor's check {test} does not pass.", test=test)


def _no_rewriting_of_hidden_checks() -> None:
    """pytest's assertion rewriting would put both sides of a hidden check's assert (the expected value
    among them) into its message: hidden modules are imported as they are written."""
    import sys

    for finder in sys.meta_path:
        if type(finder).__name__ == "AssertionRewritingHook" and hasattr(finder, "_should_rewrite"):
            original = finder._should_rewrite

            def should_rewrite(name, fn, state, original=original):
                return False if is_hidden(fn) else original(name, fn, state)

            finder._should_rewrite = should_rewrite


def plain_message(excinfo, report) -> str:
    if excinfo is None:
        return str(report.longrepr).strip().splitlines()[-1]
    text = str(excinfo.value)
    timed_out = TIMEOUT_RE.search(text)
    if timed_out:
        named = PLACE_RE.search(text)
        if named:
            return T("No answer within {limit:.0f} s: the code under test never returned; it was still running "
                     "{place}. Look for a loop that never ends, a blocking call (time.sleep, input, requests) "
                     "in an async method, or an await on something that never comes.",
                     limit=float(timed_out.group(1)), place=named.group(1))
        return T("No answer within {limit:.0f} s: the code under test never returned. "
                 "Look for a loop that never ends, a blocking call (time.sleep, input, requests) "
                 "in an async method, or an await on something that never comes.", limit=float(timed_out.group(1)))
    if excinfo.typename in ("AssertionError", "LearnerCodeError"):
        said = excinfo.value.args[0] if excinfo.value.args else None
        message = text.split("\nassert ")[0].strip()
        if isinstance(said, T) and said.strip() == message:
            return said
        return message or T("A check failed.")
    return f"{excinfo.typename}: {text}".strip()


def skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_configure(config):
    from kit.isolation import procs

    fd = os.environ.get("KIT_RESULTS_FD")
    if fd is None:
        return
    os.environ.pop("KIT_RESULTS_FD")
    _no_rewriting_of_hidden_checks()
    os.set_inheritable(int(fd), False)
    procs.adopt_orphans()   # a daemon that escapes its parent is still ours to stop
    procs.keep_private()    # same-user processes cannot reach this one's descriptors
    channel = os.fdopen(int(fd), "w", encoding="utf-8")
    config.pluginmanager.register(Recorder(channel, config.getoption("--kit-keep-going")), "kit-recorder")


def pytest_unconfigure(config):
    from kit.isolation import procs

    procs.stop_children()  # whatever the checks started, and any orphan adopted on the way
