"""The same tree gets the same verdicts, and the same first messages, on a busy machine as on a quiet one.

The test makes the load itself (tests/underload.py). Verdicts come from real grading runs (sandbox, daphne,
Redis, Chromium). solutions/ and the starter are compared in tests/test_grading.py, beside their quiet grades.
"""
from __future__ import annotations

import time

import pytest

from kit.grading import busy
from kit.isolation import stage_groups
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


def test_only_the_kits_own_time_limits_can_be_the_machines():
    """A check's own wait for what a correct tree does at once is a verdict: the second try doubles it, and a
    consumer that never answers still fails then, however busy the machine (issue 17: a starter once read "the
    machine was too busy" when that wait counted as a time limit). The kit's own limits (a check or a stage
    that never finished) can be the machine's; the tree's own words never are."""
    from kit.grading.report import Failure
    from kit.grading.grader import _timed_out
    from kit.course.i18n import T

    def failure(message):
        return Failure("t", message, "h", template=message.data() if isinstance(message, T) else None)

    assert _timed_out(failure("No answer within 30 s: the code under test never returned."))
    assert _timed_out(failure(T("The stage did not finish within {limit:.0f} s and was stopped: "
                                "something in the project never returns.", limit=90)))
    waited = T("A socket in room '{room}' waited {wait:.0f} s for {what} and got nothing.", room="r", wait=5,
               what="its echo")
    assert not _timed_out(failure(waited))
    assert not _timed_out(failure(T("After a socket closed, its channel was still in the group {wait:.0f} s "
                                    "later: disconnect() must call group_discard(group, self.channel_name).",
                                    wait=10)))
    assert not _timed_out(failure(T("A client in 'kitchen' received {got} from 'lobby': rooms must not share a "
                                    "group.", got="'No answer within 30 s'")))   # a learner's value


def test_what_differs_from_run_to_run_is_left_out_of_the_comparison():
    """A room suffix is six hex digits, sometimes all letters: two runs' same failure compare equal."""
    def report(suffix, port):
        message = f"Room 'history_saved_{suffix}' was sent ['hello {suffix}'] on port {port}"
        return {"stages": [{"id": "history", "passed": False, "failures": [{"test": "t", "message": message}]}]}
    assert outcome(report("dbeeca", 41234)) == outcome(report("3f09a1", 5173))
    assert outcome(report("dbeeca", 1)) != outcome({"stages": [{"id": "history", "passed": True, "failures": []}]})


# Each its own session, as the review's spinners were: the kernel's autogroups would otherwise share the CPU
# out per session, and eight spinners of one session get what one busy process of another gets.
@pytest.mark.parametrize("work, own", [("import os; os.setsid()\nwhile True: pass", True),
                                       ("import time; time.sleep(30)", False)])
def test_a_stage_that_makes_the_load_itself_is_told_from_a_busy_machine(work, own):
    """Eighth review: a tree that forks spinners made its own timed-out checks read as 'the machine was too busy'
    (not graded, re-run, out of the class's numbers). The stage's control group counts its own CPU time; when
    that is most of what the machine spent, the load is the stage's, and a time limit hit twice is the code's."""
    import subprocess
    import sys

    group = stage_groups.stage_group()
    if stage_groups.group_cpu_seconds(group) is None:
        stage_groups.release_group(group)
        pytest.skip("this machine lets the kit make no control group that counts CPU time (not root, or no cgroups)")
    counted = [folder for folder in group if folder.parent.name != "cpu"]   # counted, not given a fair share
    try:
        meter = busy.Meter()
        # eight, as the review's tree forked sixteen: most of the CPU even beside the suite's other worker
        procs = [subprocess.Popen([*stage_groups.joining(counted), sys.executable, "-c", work]) for _ in range(8)]
        time.sleep(3)
        used = stage_groups.group_cpu_seconds(group)
        assert meter.own_load(used) is own, f"the group used {used:.1f} s of CPU in 3 s"
    finally:
        stage_groups.release_group(group)   # kills what is left
        for proc in procs:
            proc.wait(timeout=10)


def test_the_machines_verdict_needs_a_machine_busy_before_the_grading_began(tmp_path, monkeypatch):
    """Ninth review: a tree that loads the machine while it runs (spinners; tasks parked uninterruptibly, which
    the load average counts and no CPU meter sees) made its zero 'not graded, re-run'. The reading the
    machine's verdict rests on is taken when the grading begins, before any learner process exists."""
    pressure = tmp_path / "cpu"
    monkeypatch.setattr(busy, "PRESSURE", pressure)
    pressure.write_text("some avg10=3.10 avg60=1.00 avg300=0.50 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")
    busy.note_start()
    assert not busy.busy_before()
    pressure.write_text("some avg10=95.00 avg60=90.00 avg300=80.00 total=9\n")   # the tree's own load, later
    assert not busy.busy_before(), "a reading taken after the grading began decides"
    busy.note_start()                                                           # a grading on a busy machine
    assert busy.busy_before()


def test_a_stage_that_forks_spinners_gets_no_more_cpu_than_another_stage(tmp_path):
    """Ninth review: with --jobs 2, one learner's 48 spinners (each a session of its own, so each its own
    autogroup) starved another learner's correct tree into 'not graded'. Each stage's group has a CPU share of
    its own: eight spinners in one group get about what one process in another gets."""
    import subprocess
    import sys

    groups = [stage_groups.stage_group(), stage_groups.stage_group()]
    if not all(any(folder.parent.name == "cpu" for folder in group) for group in groups) \
            or stage_groups.group_cpu_seconds(groups[0]) is None:
        for group in groups:
            stage_groups.release_group(group)
        pytest.skip("this machine gives the kit no CPU-sharing control groups (not root, cgroup v2, or no cpu)")
    spin = "import os\nos.setsid()\nwhile True: pass"
    procs = []
    try:
        procs = [subprocess.Popen([*stage_groups.joining(groups[0]), sys.executable, "-c", spin]) for _ in range(8)]
        procs.append(subprocess.Popen([*stage_groups.joining(groups[1]), sys.executable, "-c", spin]))
        time.sleep(4)
        many, one = (stage_groups.group_cpu_seconds(group) for group in groups)
        assert one >= many / 2, f"eight spinners used {many:.1f} s of CPU, one beside them {one:.1f} s"
    finally:
        for group in groups:
            stage_groups.release_group(group)
        for proc in procs:
            proc.wait(timeout=10)


def test_stage_groups_left_by_a_killed_grading_are_removed(tmp_path):
    """Ninth review: stage groups of gradings killed before they could clean up piled up (and cpuacct's were
    never looked at). The first stage group a process makes removes those whose grading process is gone."""
    import subprocess
    import sys

    probe = stage_groups.stage_group()
    stage_groups.release_group(probe)
    if not any(folder.parent.name == "pids" for folder in probe):
        pytest.skip("this machine lets the kit make no v1 control groups (not root, cgroup v2, or no cgroups)")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    stale = [stage_groups.CGROUPS / top / f"kit-stage-{dead}-0" for top in ("pids", "cpuacct")]
    for folder in stale:
        folder.mkdir()
    stage_groups.release_stale_groups()
    assert not any(folder.exists() for folder in stale)


def test_a_failure_sooner_than_any_wait_is_not_graded_again(monkeypatch):
    """On a busy machine a failed stage is graded again only when a failing check ran long enough to have waited
    for something (issue 17: "INSTALLED_APPS has no 'channels'" is the code's however busy the machine, and
    grading it twice only doubled the learner's wait). A stopped or silent check counts as long as it gets."""
    from kit.grading.report import Failure, StageResult

    monkeypatch.delenv("KIT_BUSY_RETRY", raising=False)
    monkeypatch.delenv("KIT_WAIT", raising=False)

    def failed(waited=None):
        result = StageResult(id="settings", title="t", passed=False, points=0, max_points=10,
                             failures=[Failure("t", "m", "h")])
        if waited is not None:
            result.waited = waited
        return result

    quick, slow, stopped = failed(0.05), failed(busy.DEFAULT_WAIT), failed()
    assert not busy.second_try_wanted(quick, busy_share=1.0)
    assert busy.second_try_wanted(slow, busy_share=1.0) and busy.second_try_wanted(stopped, busy_share=1.0)
    assert not busy.second_try_wanted(slow, busy_share=0.0), "a quiet machine's verdict stands"
    monkeypatch.setenv("KIT_BUSY_RETRY", "always")   # the attack tests' mode: every failure, however quick
    assert busy.second_try_wanted(quick, busy_share=0.0)


def test_the_checker_reports_how_long_a_failing_check_ran(tmp_path, monkeypatch):
    """The time the rule above reads is the checker's own clock, per failing check (kit/grading/pytest_plugin.py):
    the starter's settings fail at once, its consumer after a wait of KIT_WAIT seconds."""
    import shutil

    from kit.course import catalogue
    from kit.grading import grader
    from kit.isolation import sandbox

    tree = tmp_path / "starter"
    shutil.copytree(catalogue.KIT_ROOT / "project", tree)
    monkeypatch.setenv("KIT_WAIT", "2")
    stages = [catalogue.get("settings"), catalogue.get("consumer")]
    outcome, expected, entries = grader.run_checks(tree, stages, sandbox.detect())
    by_stage = {s.id: grader._result(s, grader._of(s, expected), grader._of(s, entries), outcome, 1.0) for s in stages}
    assert by_stage["settings"].waited < busy.WAITED_SHARE * busy.current_wait(), by_stage["settings"].failures
    assert by_stage["consumer"].waited >= busy.current_wait(), by_stage["consumer"].failures


def test_a_time_limit_or_a_hidden_check_counts_as_a_wait_however_quick():
    """The per-check time limit covers the check's set-up too, so a check whose services were slow to start can
    hit it moments into its call (fourteenth review): a time limit always counts as a wait. So does an instructor's
    hidden check, whose waits the kit does not know."""
    from kit.course import catalogue
    from kit.grading import grader

    stage = catalogue.get("settings")

    def waited(**entry):
        base = {"test": "test_x", "stage": "settings", "outcome": "failed", "hint": "", "seconds": 0.1,
                "message": "INSTALLED_APPS has no 'channels'."}
        return grader._result(stage, [{"test": "test_x", "stage": "settings"}], [dict(base, **entry)], "", 1.0).waited

    assert waited() == 0.1
    assert waited(message="No answer within 30 s: the code under test never returned.") == float("inf")
    assert waited(hidden=True) == float("inf")
    assert waited(seconds=None) == float("inf")
