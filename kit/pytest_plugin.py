"""pytest plugin used by the grader: records each checkpoint's verdict, message and hint as JSON.

Loaded with `-p kit.pytest_plugin --kit-report FILE`.
"""
from __future__ import annotations

import json
import os
import re
import traceback
from pathlib import Path

import pytest

TIMEOUT_RE = re.compile(r"Timeout \(?>\s*([\d.]+)s")
PLACE_RE = re.compile(r"((?:myapp|myproject)/[\w/]+\.py, line \d+(?: \(in \w+\))?)")


def pytest_addoption(parser):
    parser.addoption("--kit-report", default=None, help="write checkpoint verdicts to this JSON file")
    parser.addoption("--kit-keep-going", action="store_true",
                     help="run every check even after a stage's first failure (the kit's own tests)")


NOT_RUN = "not run: an earlier check of this stage failed"


def stage_of(nodeid: str) -> str:
    """'test_consumer.py::x' and a hidden 'test_consumer_extra.py::x' both belong to stage consumer."""
    from .catalogue import STAGES

    module = Path(nodeid.split("::")[0]).stem.removeprefix("test_")
    return next((s.id for s in STAGES if module == s.id or module.startswith(s.id + "_")), module)


class Recorder:
    """Several stages may share one process: each stops at its own first failure, the others go on."""

    def __init__(self, path: str, keep_going: bool = False):
        self.path = path
        self.keep_going = keep_going
        self.results: dict[str, dict] = {}
        self.order: list[str] = []
        self.running: str | None = None
        self.hints: dict[str, str] = {}
        self.failed_stages: set[str] = set()

    def save(self) -> None:
        """Written after every check, not only at the end: if the learner's code kills or hangs this
        process, the grader still knows what passed and which check was running."""
        entries = []
        for nodeid in self.order:
            entry = self.results[nodeid]
            if nodeid == self.running and entry["outcome"] == "passed":
                entry = dict(entry, outcome="running")
            entries.append(entry)
        if self.running and self.running not in self.results:
            entries.append({"test": self.running.split("::")[-1], "stage": stage_of(self.running),
                            "outcome": "running", "message": "",
                            "hint": self.hints.get(self.running, "")})
        partial = self.path + ".partial"
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(entries, handle, indent=1)
        os.replace(partial, self.path)

    def pytest_runtest_logstart(self, nodeid, location):
        self.running = nodeid
        self.save()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item):
        if stage_of(item.nodeid) in self.failed_stages and not self.keep_going:
            pytest.skip(NOT_RUN)
        marker = item.get_closest_marker("hint")
        if marker and marker.args:
            self.hints[item.nodeid] = marker.args[0]
            self.save()

    def pytest_runtest_logfinish(self, nodeid, location):
        self.running = None
        self.save()

    def _entry(self, item_or_report) -> dict:
        nodeid = item_or_report.nodeid
        if nodeid not in self.results:
            self.order.append(nodeid)
            self.results[nodeid] = {"test": nodeid.split("::")[-1], "stage": stage_of(nodeid),
                                    "outcome": "passed", "message": "", "hint": ""}
        return self.results[nodeid]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        outcome = yield
        report = outcome.get_result()
        entry = self._entry(report)
        marker = item.get_closest_marker("hint")
        if marker and marker.args:
            entry["hint"] = marker.args[0]
        if report.failed and entry["outcome"] == "passed":
            entry["outcome"] = "failed"
            entry["message"] = plain_message(call.excinfo, report)
            self.failed_stages.add(entry["stage"])
        elif report.skipped and entry["outcome"] == "passed":
            reason = skip_reason(report)
            entry["outcome"] = "not run" if reason == NOT_RUN else "skipped"
            entry["message"] = reason

    def pytest_collectreport(self, report):
        if report.failed:
            entry = self._entry(report)
            entry["outcome"] = "failed"
            entry["test"] = "collect"
            self.failed_stages.add(entry["stage"])
            entry["message"] = "The checkpoint module could not be loaded: " + str(report.longrepr).splitlines()[-1]
        self.save()

    def pytest_sessionfinish(self, session):
        self.running = None
        self.save()


def plain_message(excinfo, report) -> str:
    if excinfo is None:
        return str(report.longrepr).strip().splitlines()[-1]
    text = str(excinfo.value)
    timed_out = TIMEOUT_RE.search(text)
    if timed_out:
        # The place: from the traceback, or from a checkpoint's own explanation of the interrupted code.
        named = PLACE_RE.search(text)
        place = learner_frame(excinfo) or (named.group(1) if named else "")
        blocked = text[text.index("The event loop was blocked"):] if "The event loop was blocked" in text else ""
        return (f"No answer within {float(timed_out.group(1)):.0f} s: the code under test never returned"
                + (f"; it was still running {place}" if place else "") + ". "
                + (blocked or "Look for a loop that never ends, a blocking call (time.sleep, input, requests) "
                   "in an async method, or an await on something that never comes."))
    if excinfo.typename == "AssertionError" or excinfo.typename == "LearnerCodeError":
        return text.split("\nassert ")[0].strip() or "A check failed."
    return f"{excinfo.typename}: {text}".strip()


def learner_frame(excinfo) -> str:
    """'myapp/consumers.py, line 20 (in receive)': the deepest frame of the graded tree, if any."""
    root = os.environ.get("KIT_GRADED_PROJECT")
    if not root:
        return ""
    root_path = Path(root).resolve()
    found = ""
    for frame in traceback.extract_tb(excinfo.tb):
        try:
            relative = Path(frame.filename).resolve().relative_to(root_path).as_posix()
        except (ValueError, OSError):
            continue
        found = f"{relative}, line {frame.lineno} (in {frame.name})"
    return found


def skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_configure(config):
    path = config.getoption("--kit-report")
    if path:
        config.pluginmanager.register(Recorder(path, config.getoption("--kit-keep-going")), "kit-recorder")
