"""The checks' shared limits and the plain failure every check raises; running the learner's code once."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kit.isolation import procs, sandbox
from kit.grading.busy import DEFAULT_WAIT
from kit.grading.explain import Places
from kit.course.i18n import T

PROJECT = Path(os.environ["KIT_GRADED_PROJECT"]).resolve()
PLACES = Places(PROJECT)
PAGE_ORIGIN = "http://127.0.0.1"           # the origin a page served on 127.0.0.1 sends
WAIT = float(os.environ.get("KIT_WAIT") or DEFAULT_WAIT)  # seconds to wait for something a correct tree does at once
MARGIN = 3.0                               # the host's own bookkeeping, on top of a wait
LINE_LIMIT = 1 << 20                       # bytes of one answer from the host, or of one frame or page it serves


class LearnerCodeError(AssertionError):
    """A failure caused by the learner's code, already explained in plain words."""


def fail(message: str):
    raise LearnerCodeError(message)


class UntrustedDatabase(LearnerCodeError):
    """The tree's database holds SQL of its own: no check can read it, logged in or not."""


def server_clue(server) -> str:
    """The first error in daphne's log, said in one line with its place in the project, or nothing."""
    return PLACES.server_clue(server.log_text())


def run_in_tree(args: list[str], *, env: dict, timeout: float, binds=()) -> tuple[int, str, str]:
    """Run `python ARGS` on the learner's tree in its own isolated process: (exit code, stdout, stderr)."""
    isolation = sandbox.for_grading() or sandbox.Isolation("process", "")
    proc = sandbox.spawn([sys.executable, *args], PROJECT, env={"PYTHONPATH": str(PROJECT), **env},
                         isolation=isolation, binds=binds, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        procs.stop_tree(proc, grace=1)
        fail(T("Running your project's code did not finish within {limit:.0f} s: something at import time "
               "never returns.", limit=timeout))
    finally:
        procs.stop_tree(proc, grace=1)
    return proc.returncode, out, err
