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
