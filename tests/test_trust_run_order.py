"""A `testing` suite cannot tell which consumer a run meets from when the run started.

The sixth review: sandboxes run as one user on one kernel, and a lock on a file every sandbox can read (the
standard library) is seen by all of them. A suite that tests nothing took a "ticket" per run that way; the
checkpoint started the correct consumers and the learner's own first and the broken ones after, so
"ticket <= 5" passed on every correct consumer, failed on every broken one: 10/10. The keyring was the same
channel before it (tests/test_trust_keyring.py). Such channels are the kernel's and cannot all be closed;
the defence is that position carries nothing: the runs start in a random order (exercises/test_testing.py).
"""
from __future__ import annotations

import json

import pytest
from conftest import MUST_FAIL, STARTER, copy_tree, run_kit

COUNTING_SUITE = '''
import fcntl, glob, os, time

FILES = sorted(glob.glob(os.path.join(os.path.dirname(os.__file__), "*.py")))[5:45]


def held(i):
    fd = os.open(FILES[i], os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def take():
    i = max([i for i in range(1, len(FILES)) if held(i)], default=0) + 1
    while i < len(FILES):
        fd = os.open(FILES[i], os.O_RDONLY)
        for _ in range(40):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return i, fd
            except BlockingIOError:
                if held(i):
                    break
                time.sleep(0.02)
        os.close(fd)
        i += 1
    raise RuntimeError("no ticket")


def test_consumer():
    ticket, fd = take()
    deadline = time.time() + 6
    while time.time() < deadline and not held(ticket + 2):
        time.sleep(0.05)
    assert ticket <= 5, f"ticket {ticket}"
'''


@pytest.mark.timeout(900)
def test_a_suite_that_counts_its_runs_scores_zero(tmp_path):
    """Without the random order this scored 10/10; with it, 5 of 12 runs hold the right tickets 1 time in 792."""
    tree = copy_tree(STARTER, tmp_path / "counting")
    (tree / "myapp" / "tests" / "test_consumers.py").write_text(COUNTING_SUITE)
    done = run_kit("check", "testing", "--project", str(tree), "--json", "-", env=MUST_FAIL)
    report = json.loads(done.stdout)
    assert report["score"] == 0, json.dumps(report)[:3000]
