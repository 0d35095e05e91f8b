"""How busy the machine was while a stage ran: the fact that decides whether a failure can be trusted.

A check waits a few seconds for what a correct tree does at once. On a machine whose cores are all busy
(a learner's laptop with a video call, a CI runner shared with other jobs) those seconds can run out for
correct code. So the grader measures the CPU pressure around every stage (Linux's /proc/pressure/cpu: the
share of time some task waited for a processor; the load average per core where that file is missing),
and grades a failed stage once more, with every time limit doubled, when the machine was busy and a failing
check ran long enough to have waited for something (WAITED_SHARE). A check that fails twice failed on the
code; a time limit hit twice on an overloaded machine is said to be the machine's fault (kit/grading/grader.py,
_patient), and only on a machine that was busy before the grading started: a tree can load the machine while
it runs (spinners, tasks parked uninterruptibly that the load average counts) but not before its first
process exists (ninth review)."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

PRESSURE = Path("/proc/pressure/cpu")
# Share of a stage's time during which some task waited for a CPU. A quiet machine grading one stage
# stays near 0.05; two busy processes per core bring it to 1.0.
BUSY = 0.25
# Runnable tasks per core (the one-minute load average) above which a time limit hit twice is the machine's.
OVERLOADED = 6.0
PATIENCE = 2.0   # how much longer every limit is when a failed stage is graded again
# A stage whose own processes (its control group) used at least this share of all the CPU time the machine spent
# while it ran made the load itself: its failures are its own, never the machine's (a tree that forks spinners).
OWN_LOAD = 0.5
# The checks' own wait for what a correct tree does at once (exercises/support/base.py WAIT), its one home.
DEFAULT_WAIT = 5.0
# A failed check that ran for less than this share of the checks' wait (the checker's clock) waited for nothing
# that could run out: its verdict is the code's however busy the machine, so its stage is not graded again. The
# shortest wait any check makes is WAIT / 2 (exercises/support/base.py); a quarter of WAIT is well under it.
WAITED_SHARE = 0.25


def mode() -> str:
    """KIT_BUSY_RETRY: "1" (default) a failed stage gets a second try when the machine was busy; "0" never (the
    kit's tests of trees that must fail: load only makes them fail more); "always" whatever the load (the
    kit's attack tests, so the second try's path is attacked on every machine)."""
    return {"0": "never", "always": "always"}.get(os.environ.get("KIT_BUSY_RETRY", "1"), "when-busy")


def second_try_wanted(first, busy_share: float) -> bool:
    """Should a stage's first result (a StageResult) be graded once more? A failure, not only "not graded", on a
    machine busy while it ran (busy_share, Meter.share), in a check that ran long enough to have waited."""
    if first.passed or not first.available or (first.skipped and all(f.test == "stage" for f in first.failures)):
        return False
    return mode() == "always" or (mode() == "when-busy" and busy_share >= BUSY
                                  and first.waited >= WAITED_SHARE * current_wait())


_before = False   # was the machine busy just before this process's grading began?


def note_start() -> None:
    """Called when a grading begins, before any learner process exists: what the last ten seconds (PSI) or
    the last minute (the load average) were like is the one reading learner code cannot touch."""
    global _before
    recent = _pressure("avg10")
    _before = float(recent) / 100 >= BUSY if recent is not None else per_core_load() >= 1.0


def settle(limit: float = 30.0) -> None:
    """Wait (at most limit seconds) until the last ten seconds' CPU pressure is below BUSY: the kit's own
    gradings that just ended leave it high for a while, and a grading that begins then would take their
    load for the machine's (kit/class_grading/gradejobs.py grades a learner alone after others)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        recent = _pressure("avg10")
        if recent is None or float(recent) / 100 < BUSY:
            return
        time.sleep(1)


def busy_before() -> bool:
    """Was the machine already busy when this grading began? (Unknown counts as no: the code is blamed.)"""
    return _before


def _pressure(field: str) -> str | None:
    """A field of /proc/pressure/cpu's 'some' line (avg10: percent of the last ten seconds some task waited
    for a CPU; total: microseconds since boot), or None without pressure accounting."""
    try:
        found = re.search(rf"^some\b.*?\b{field}=([\d.]+)", PRESSURE.read_text(), re.M)
    except OSError:
        return None
    return found.group(1) if found else None


def _waited_total() -> float | None:
    """Seconds some task has waited for a CPU since boot, or None without pressure accounting."""
    total = _pressure("total")
    return int(total) / 1e6 if total is not None else None


def per_core_load() -> float:
    return os.getloadavg()[0] / (os.cpu_count() or 1)


def _machine_cpu_total() -> float | None:
    """Seconds of CPU time the whole machine has spent busy since boot (/proc/stat), or None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = sum(fields[3:5])   # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Started when a stage starts; share() is how busy the machine was since."""

    def __init__(self):
        self.began, self.waited = time.monotonic(), _waited_total()
        self.cpu = _machine_cpu_total()

    def own_load(self, stage_cpu: float | None) -> bool:
        """Did the stage's own processes (stage_cpu seconds) spend most of the CPU the machine spent since?"""
        now = _machine_cpu_total()
        if stage_cpu is None or now is None or self.cpu is None or now - self.cpu <= 0:
            return False
        return stage_cpu / (now - self.cpu) >= OWN_LOAD

    def share(self) -> float:
        elapsed = time.monotonic() - self.began
        now = _waited_total()
        if self.waited is None or now is None or elapsed < 0.5:
            return min(1.0, per_core_load())
        return min(1.0, (now - self.waited) / elapsed)


def longer_limits(now: dict[str, float], factor: float = PATIENCE) -> dict[str, str]:
    """The environment of a second try: every time limit the checks read (now, each from its one home, as the
    grader passes them), `factor` times longer."""
    return {name: f"{value * factor:g}" for name, value in now.items()}


def current_wait() -> float:
    return float(os.environ.get("KIT_WAIT") or DEFAULT_WAIT)
