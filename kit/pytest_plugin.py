"""pytest plugin used by the grader: records each checkpoint's verdict, message and hint as JSON.

Loaded with `-p kit.pytest_plugin --kit-report FILE`.
"""
from __future__ import annotations

import json
import re

import pytest

TIMEOUT_RE = re.compile(r"Timeout \(?>\s*([\d.]+)s")


def pytest_addoption(parser):
    parser.addoption("--kit-report", default=None, help="write checkpoint verdicts to this JSON file")


class Recorder:
    def __init__(self, path: str):
        self.path = path
        self.results: dict[str, dict] = {}
        self.order: list[str] = []

    def _entry(self, item_or_report) -> dict:
        nodeid = item_or_report.nodeid
        if nodeid not in self.results:
            self.order.append(nodeid)
            self.results[nodeid] = {"test": nodeid.split("::")[-1], "outcome": "passed", "message": "", "hint": ""}
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
            if entry["message"].startswith("No answer within"):
                item.session.shouldstop = "a checkpoint timed out; the rest of this stage is not run"
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
            entry["message"] = skip_reason(report)

    def pytest_collectreport(self, report):
        if report.failed:
            entry = self._entry(report)
            entry["outcome"] = "failed"
            entry["test"] = "collect"
            entry["message"] = "The checkpoint module could not be loaded: " + str(report.longrepr).splitlines()[-1]

    def pytest_sessionfinish(self, session):
        with open(self.path, "w", encoding="utf-8") as handle:
            json.dump([self.results[n] for n in self.order], handle, indent=1)


def plain_message(excinfo, report) -> str:
    if excinfo is None:
        return str(report.longrepr).strip().splitlines()[-1]
    text = str(excinfo.value)
    timed_out = TIMEOUT_RE.search(text)
    if timed_out:
        return (f"No answer within {float(timed_out.group(1)):.0f} s: the code under test never returned. "
                "Look for a loop that never ends, a blocking call (time.sleep, input, requests) "
                "in an async method, or an await on something that never comes.")
    if excinfo.typename == "AssertionError" or excinfo.typename == "LearnerCodeError":
        return text.split("\nassert ")[0].strip() or "A check failed."
    return f"{excinfo.typename}: {text}".strip()


def skip_reason(report) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def pytest_configure(config):
    path = config.getoption("--kit-report")
    if path:
        config.pluginmanager.register(Recorder(path), "kit-recorder")
