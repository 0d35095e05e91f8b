"""A CPU load a test makes itself, and the comparison of a tree's verdicts quiet and under that load.

Two busy processes per core, each ending on its own after a bound and stopped by the test. Used by
tests/test_busy.py and tests/test_grading.py (which grades solutions/ and the starter quietly anyway)."""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time

from tests.conftest import grade_json

BUSY_FOR = 900  # seconds: a load process outlives no test run, even one the test runner never stops


@contextlib.contextmanager
def cpu_load(per_core: int = 2):
    spin = f"import time\nend = time.monotonic() + {BUSY_FOR}\nwhile time.monotonic() < end:\n    pass\n"
    spinners = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(per_core * (os.cpu_count() or 1))]
    try:
        time.sleep(2)   # the scheduler has them running before the first stage starts
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def outcome(report: dict) -> dict:
    """Each stage's verdict and its first failure (check and English message). Numbers that differ from run to
    run are left out: ports, a room's random suffix, and the limit a second try names (it waited twice as long).
    A suffix is six hex digits that may all be letters ('dbeeca'), so any six-hex word goes too."""
    return {s["id"]: (s["passed"], *((s["failures"][0]["test"], re.sub(RUN_TO_RUN, "#", s["failures"][0]["message"]))
                                     if s["failures"] else ()))
            for s in report["stages"]}


RUN_TO_RUN = r"(?<![0-9A-Za-z])[0-9a-f]{6}(?![0-9A-Za-z])|[0-9a-f]*[0-9][0-9a-f]*"


def graded(tree) -> dict:
    return grade_json(tree, env={"KIT_BUSY_RETRY": "1"})


def assert_same_under_load(name: str, tree, quiet_report: dict) -> None:
    """Grade tree again under the load and compare with its quiet report. solutions/ and the starter use
    the quiet reports tests/test_grading.py makes anyway (the same grading, default KIT_BUSY_RETRY)."""
    quiet = outcome(quiet_report)
    with cpu_load():
        loaded = outcome(graded(tree))
    changed = {stage: (quiet[stage], loaded[stage]) for stage in quiet
               if quiet[stage] != loaded[stage] and not said_too_busy(loaded[stage])}
    assert not changed, f"{name}: quiet -> loaded {changed}"


def said_too_busy(verdict: tuple) -> bool:
    """Far past the load this test makes (more than OVERLOADED tasks per core, as when other work runs beside
    the test), a time limit hit twice says the machine was too busy: never a verdict on the code."""
    return len(verdict) == 3 and verdict[2].startswith("The machine was too busy")
