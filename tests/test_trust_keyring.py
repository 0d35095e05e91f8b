"""No kernel keyrings inside a learner sandbox (kit/seccomp.py).

The fifth review: every sandbox runs as the same real user, and /proc/keys lists every key that user may
view, whichever sandbox made it. A key carried a hidden check's question from the checking process's host
to a live stage's daphne (and into the learner's own feedback), and let a `testing` suite count which of the
checkpoint's runs it was in: pass the first five (the correct consumers and the learner's own), fail the
rest (the broken ones), 10/10 for tests that test nothing.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import STARTER, copy_tree, run_kit

from kit import sandbox, seccomp

ADD_KEY = ("import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nl.syscall.restype = ctypes.c_long\n"
           "print(l.syscall({nr}, b'user', b'kit-keyring-probe', b'x', 1, -4), ctypes.get_errno())")

COUNTING_SUITE = '''
import atexit, secrets, subprocess, sys, time
ADD = ("import ctypes,sys\\nl=ctypes.CDLL(None,use_errno=True)\\nl.syscall.restype=ctypes.c_long\\n"
       "print(l.syscall(248,b'user',sys.argv[1].encode(),b'x',1,-4))")


def add(d):
    subprocess.run([sys.executable, "-I", "-c", ADD, d], capture_output=True, timeout=20)


def descs(prefix):
    out = []
    for line in open("/proc/keys"):
        p = line.split()
        if len(p) >= 9 and p[7] == "user" and p[8].startswith(prefix):
            out.append(p[8].rstrip(":")[len(prefix):])
    return out


def known():
    ids = set(descs("kr."))
    for s in descs("ks."):
        ids.update(x for x in s.split(",") if x)
    return ids


ME = f"{time.time_ns():020d}x{secrets.token_hex(3)}"
add("kr." + ME)
time.sleep(3)
KNOWN = known() | {ME}
INDEX = sorted(KNOWN).index(ME) + 1
add("ks." + ",".join(sorted(KNOWN)))
add(f"ki.{INDEX}.{ME}")


def linger():
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:
        if any(int(x.split(".")[0]) >= INDEX + 2 for x in descs("ki.")):
            return
        time.sleep(0.1)


atexit.register(linger)


def test_consumer():
    assert INDEX <= 5, f"run {INDEX}"
'''


def test_the_filter_denies_only_the_keyring_calls():
    code = seccomp.program("x86_64")
    assert code is not None and len(code) % 8 == 0
    assert seccomp.program("sparc") is None


@pytest.mark.skipif(seccomp.program() is None, reason="no syscall numbers for this architecture")
def test_a_sandboxed_process_cannot_make_a_key(tmp_path):
    if not sandbox.detect().sandboxed:
        pytest.skip("no sandbox on this machine")
    nr = {"x86_64": 248, "aarch64": 217}[__import__("platform").machine()]
    proc = sandbox.spawn([sys.executable, "-c", ADD_KEY.format(nr=nr)], tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=120)
    assert out.decode().split() == ["-1", "1"], (out, err[-2000:])   # EPERM


@pytest.mark.timeout(900)
def test_a_suite_that_counts_its_runs_through_the_keyring_scores_zero(tmp_path):
    tree = copy_tree(STARTER, tmp_path / "counting")
    (tree / "myapp" / "tests" / "test_consumers.py").write_text(COUNTING_SUITE)
    done = run_kit("check", "testing", "--project", str(tree), "--json", "-", env={"KIT_BUSY_RETRY": "0"})
    report = json.loads(done.stdout)
    assert report["score"] == 0, json.dumps(report)[:3000]
