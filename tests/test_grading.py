"""The checkpoints are honest: full marks for solutions/, zero for the starter, stage by stage."""
import pytest

from conftest import SOLUTIONS, copy_tree, grade_json, run_kit, stage

from kit.course import catalogue
from kit.isolation.procs import kit_processes

AVAILABLE = [s.id for s in catalogue.STAGES if s.available]


@pytest.fixture(scope="module")
def solutions_report(tmp_path_factory):
    tree = copy_tree(SOLUTIONS, tmp_path_factory.mktemp("solved") / "tree")
    return tree, grade_json(tree)


@pytest.fixture(scope="module")
def starter_report(tmp_path_factory):
    from conftest import STARTER

    tree = copy_tree(STARTER, tmp_path_factory.mktemp("starter") / "tree")
    return tree, grade_json(tree)


def test_solutions_score_full_marks(solutions_report):
    _, report = solutions_report
    failing = {s["id"]: s["failures"] for s in report["stages"] if s["available"] and not s["passed"]}
    assert not failing, f"solutions/ fails: {failing}"
    assert report["score"] == report["max_score"] == sum(catalogue.get(i).points for i in AVAILABLE)


@pytest.mark.parametrize("stage_id", AVAILABLE)
def test_starter_scores_zero_on_each_stage(starter_report, stage_id):
    _, report = starter_report
    result = stage(report, stage_id)
    assert not result["passed"] and result["points"] == 0
    first = result["failures"][0]
    assert first["message"] and first["hint"], f"a failure on the starter must say what to do: {first}"
    assert "Traceback" not in first["message"]


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("which", ["solutions_report", "starter_report"])
def test_verdicts_and_first_messages_do_not_change_under_load(request, which):
    """The same verdicts and first messages on a machine whose cores are all busy (tests/test_busy.py)."""
    from tests.underload import assert_same_under_load

    tree, quiet = request.getfixturevalue(which)
    assert_same_under_load(which, tree, quiet)


def test_starter_score_is_zero(starter_report):
    assert starter_report[1]["score"] == 0


@pytest.mark.parametrize("which", ["solutions_report", "starter_report"])
def test_no_process_outlives_grading(request, which):
    tree, _ = request.getfixturevalue(which)
    assert kit_processes(str(tree)) == []


def test_grading_leaves_no_bytecode_in_the_tree(solutions_report):
    tree, _ = solutions_report
    assert not list(tree.rglob("__pycache__"))


def test_check_exit_codes(solutions_report, starter_report):
    assert run_kit("check", "settings", "--project", str(solutions_report[0])).returncode == 0
    assert run_kit("check", "settings", "--project", str(starter_report[0])).returncode == 1
