"""The same tree gets the same verdicts, and the same first messages, on a busy machine as on a quiet one.

The test makes the load itself (tests/underload.py). Verdicts come from real grading runs (sandbox, daphne,
Redis, Chromium). solutions/ and the starter are compared in tests/test_grading.py, beside their quiet grades.
"""
from __future__ import annotations

import time

import pytest

from kit import busy
from tests.classic import classic_tree
from tests.underload import assert_same_under_load, cpu_load, graded, outcome


@pytest.mark.timeout(1200)
def test_a_correct_tree_of_another_style_gets_the_same_verdicts_under_load(tmp_path):
    """The source tutorial's chat: passes up to daphne, fails later stages."""
    tree = classic_tree(tmp_path / "classic")
    assert_same_under_load("classic", tree, graded(tree))


def test_the_load_the_test_makes_is_measured_as_busy():
    """Without this the test above could pass with second tries never made."""
    with cpu_load():
        meter = busy.Meter()
        time.sleep(3)
        assert meter.share() >= busy.BUSY


def test_what_differs_from_run_to_run_is_left_out_of_the_comparison():
    """A room suffix is six hex digits, sometimes all letters: two runs' same failure compare equal."""
    def report(suffix, port):
        message = f"Room 'history_saved_{suffix}' was sent ['hello {suffix}'] on port {port}"
        return {"stages": [{"id": "history", "passed": False, "failures": [{"test": "t", "message": message}]}]}
    assert outcome(report("dbeeca", 41234)) == outcome(report("3f09a1", 5173))
    assert outcome(report("dbeeca", 1)) != outcome({"stages": [{"id": "history", "passed": True, "failures": []}]})


@pytest.mark.parametrize("work, own", [("while True: pass", True), ("import time; time.sleep(30)", False)])
def test_a_stage_that_makes_the_load_itself_is_told_from_a_busy_machine(work, own):
    """Eighth review: a tree that forks spinners made its own timed-out checks read as 'the machine was too busy'
    (not graded, re-run, out of the class's numbers). The stage's control group counts its own CPU time; when
    that is most of what the machine spent, the load is the stage's, and a time limit hit twice is the code's."""
    import subprocess
    import sys

    from kit import sandbox

    group = sandbox.stage_group()
    if sandbox.group_cpu_seconds(group) is None:
        sandbox.release_group(group)
        pytest.skip("this machine lets the kit make no control group that counts CPU time (not root, or no cgroups)")
    try:
        meter = busy.Meter()
        # eight, as the review's tree forked sixteen: most of the CPU even beside the suite's other worker
        procs = [subprocess.Popen([*sandbox.joining(group), sys.executable, "-c", work]) for _ in range(8)]
        time.sleep(3)
        used = sandbox.group_cpu_seconds(group)
        assert meter.own_load(used) is own, f"the group used {used:.1f} s of CPU in 3 s"
    finally:
        sandbox.release_group(group)   # kills what is left
        for proc in procs:
            proc.wait(timeout=10)
