"""What a named-stage check says about the earlier stages it grades again, without live grading:
the score is the asked stages' alone, a re-checked stage is marked in every report, its failure says only
what is known (a shared file is named only when the learner's copy is not the kit's), and the taught
consumer guards only the channel-layer call, so a learner's typo shows as itself.
"""
import ast
import json
import xml.etree.ElementTree as ET

import pytest
from conftest import SOLUTIONS, copy_tree

from kit.course import catalogue, regions
from kit.grading.report import Failure, Report, StageResult
from kit.grading.grader import _broken_by
from kit.course.i18n import T

CONSUMER_STATES = [None, "users", "hardening"]   # the finished file, and the stages that change receive()


def _hardening_report(routing_fails=True) -> Report:
    hardening = StageResult("hardening", "Hardening", False, 0, 15,
                            failures=[Failure("test_hardening_x", T("hardening's own failure."), "fix it")])
    routing = StageResult("routing", "Routing", not routing_fails, 0 if routing_fails else 10, 10,
                          failures=[Failure("test_routing_x", T("routing's own failure."), "")] if routing_fails
                          else [])
    asgi = StageResult("asgi", "ASGI", True, 10, 10)
    for earlier in (routing, asgi):
        _broken_by(earlier, catalogue.get("hardening"), catalogue.get(earlier.id))
    return Report(project="/tmp/p", stages=[hardening, routing, asgi])


def test_the_score_counts_only_the_stages_asked_for_and_rechecks_are_marked():
    report = _hardening_report()
    assert (report.score, report.max_score) == (0, 15)
    assert report.broken == ["routing"]
    data = report.to_dict()
    assert (data["score"], data["max_score"]) == (0, 15)
    assert [(s["id"], s["recheck"], s["recheck_of"]) for s in data["stages"]] == [
        ("hardening", False, ""), ("routing", True, "hardening"), ("asgi", True, "hardening")]
    json.dumps(data)
    from kit.output.render import broken_line, to_junit

    suites = ET.fromstring(to_junit(report))
    marked = {s.get("name"): {p.get("name"): p.get("value") for p in s.iter("property")} for s in suites}
    assert marked["routing"]["recheck"] == "true" and "recheck" not in marked["hardening"]
    assert "routing" in broken_line(report)


def test_the_checkpoint_verdict_gives_the_asked_stages_points_and_names_the_broken_one():
    from kit.notebook import CheckResult

    result = CheckResult(_hardening_report())
    result.stages = ["hardening"]
    verdict = result.verdict()
    assert "(0/15 points)" in verdict and "stage routing" in verdict, verdict
    plain = CheckResult(_hardening_report(routing_fails=False))
    plain.stages = ["hardening"]
    assert "(0/15 points)" in plain.verdict() and "routing" not in plain.verdict()
    html = result._repr_html_()
    assert html.index("hardening&#x27;s own failure") < html.index("routing&#x27;s own failure") \
        if "&#x27;" in html else html.index("hardening's own failure") < html.index("routing's own failure")


def _routing_failure(tree):
    routing = StageResult("routing", "Routing", False, 0, 10,
                          failures=[Failure("test_routing_x", T("routing's own failure."), "")])
    _broken_by(routing, catalogue.get("hardening"), catalogue.get("routing"), tree)
    return str(routing.failures[0].message)


def test_a_recheck_never_blames_a_shared_file_the_learner_did_not_touch(tmp_path):
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")   # routing.py exactly as stage routing solved it
    message = _routing_failure(tree)
    assert message.startswith("Stage routing, graded again because hardening can break it, does not pass:"), message
    assert "routing.py" not in message and "broke" not in message and "routing's own failure" in message
    (tree / "myapp/routing.py").write_text("# mine\n" + (tree / "myapp/routing.py").read_text())
    assert "your myapp/routing.py differs" in _routing_failure(tree)


def test_a_recheck_failure_translates(tmp_path):
    routing = StageResult("routing", "Routing", False, 0, 10,
                          failures=[Failure("test_routing_x", T("routing's own failure."), "")])
    _broken_by(routing, catalogue.get("hardening"), catalogue.get("routing"), copy_tree(SOLUTIONS, tmp_path / "t"))
    routing.failures[0].translate("bn")
    assert "ধাপ routing" in routing.failures[0].translation["message"]


@pytest.mark.parametrize("stage", CONSUMER_STATES, ids=lambda s: s or "finished")
def test_the_taught_consumer_guards_only_the_channel_layer_call(stage):
    """A typo such as self.user.get_usename() must raise where it is, not read as a Redis outage."""
    text = (SOLUTIONS / "myapp/consumers.py").read_text(encoding="utf-8")
    tree = ast.parse(regions.cut(text, "myapp/consumers.py", stage))
    receive = next(n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name == "receive")
    guarded = [n for n in ast.walk(receive) if isinstance(n, ast.Try)]
    layer = [t for t in guarded if "group_send" in ast.unparse(t.body[0])]
    assert len(layer) == 1, ast.unparse(receive)
    body, handlers = layer[0].body, layer[0].handlers
    assert len(body) == 1 and ast.unparse(body[0]).startswith("await self.channel_layer.group_send("), \
        ast.unparse(body[0])
    assert "get_username" not in ast.unparse(body[0]), "the author is read outside the try"
    caught = [ast.unparse(h.type) for h in handlers]
    assert caught == ["(OSError, RedisError)"], caught


def test_the_page_error_suggests_the_name_a_misspelling_is_close_to():
    from kit.services.page import PageErrors

    errors = PageErrors()
    errors.remember_source("http://127.0.0.1:1/chat/a/", "<script>\nconst messageInput = document.querySelector("
                           "'#chat-message-input');\nmesageInput.focus();\n</script>")
    errors._add({"kind": "uncaught", "name": "ReferenceError", "text": "mesageInput is not defined",
                 "url": "http://127.0.0.1:1/chat/a/", "line": 3, "at": 0})
    lead = str(errors.lead())
    assert "Is mesageInput a misspelling of messageInput" in lead, lead
    assert "a const made inside" in lead
    errors.errors[0]["text"] = "zzqq is not defined"
    assert "misspelling" not in str(errors.lead())


def test_several_broken_stages_are_said_in_the_plural():
    from kit.notebook import CheckResult
    from kit.output.render import broken_line

    report = _hardening_report()
    report.stages[2].passed = False
    assert report.broken == ["routing", "asgi"]
    assert "stages routing, asgi fail now" in broken_line(report)
    result = CheckResult(report)
    result.stages = ["hardening"]
    assert "stages routing, asgi, graded again, fail now" in result.verdict()


def test_classroom_scores_a_rechecked_stage_in_its_own_step_only():
    from kit.output.classroom import classroom_result

    report = _hardening_report(routing_fails=False)
    result = classroom_result(report)
    assert result["max_score"] == 15
    assert sum(t["score"] for t in result["tests"]) <= result["max_score"]
    assert [t["name"].endswith("(re-check for hardening)") for t in result["tests"]] == [False, True, True]


def test_a_passed_checkpoint_names_the_next_stage_and_its_lesson():
    """The newcomer's walkthrough: after a pass the checkpoint line said nothing of where to go next."""
    from kit.notebook import CheckResult

    asgi = Report(project="/tmp/p", stages=[StageResult("asgi", "ASGI", True, 10, 10)])
    result = CheckResult(asgi)
    assert result.verdict() == ("Checkpoint asgi: passed, 10/10 points. Next: stage 3 consumer, in "
                                f"{catalogue.get('consumer').notebook}.")
    last = CheckResult(Report(project="/tmp/p", stages=[StageResult("testing", "Testing", True, 10, 10)]))
    assert "Next" not in last.verdict()
