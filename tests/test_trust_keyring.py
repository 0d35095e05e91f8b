"""No kernel keyrings inside a learner sandbox (kit/isolation/seccomp.py).

The fifth review: every sandbox runs as the same real user, and /proc/keys lists every key that user may
view, whichever sandbox made it. A key carried a hidden check's question from the checking process's host
to a live stage's daphne (and into the learner's own feedback), and let a `testing` suite count which of the
checkpoint's runs it was in: pass the first five (the correct consumers and the learner's own), fail the
rest (the broken ones), 10/10 for tests that test nothing. A counting suite now meets its runs in a random
order as well, whatever channel it counts through (tests/test_trust_run_order.py).
"""
from __future__ import annotations

import subprocess
import sys

import pytest

from kit.isolation import sandbox, seccomp

ADD_KEY = ("import ctypes\nl = ctypes.CDLL(None, use_errno=True)\nl.syscall.restype = ctypes.c_long\n"
           "print(l.syscall({nr}, b'user', b'kit-keyring-probe', b'x', 1, -4), ctypes.get_errno())")

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
