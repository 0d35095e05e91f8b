"""The `hardening` checkpoints are honest: solutions pass, the starter and the classic tutorial fail,
and removing any one fix from the solutions fails exactly the checks about that fix.

The "classic" tree is the solutions with every hardening file as the source
tutorial writes it: no Origin check, `\\w+` routes, json.loads()["message"]
with no guard, f"chat_{room}" groups and no limits in settings.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from classic import classic_tree
from conftest import checkpoint_outcomes, grade_json, mutate, stage

FAST = {"KIT_WAIT": "3"}  # the starter makes every check wait for answers that never come

def outcomes(tree: Path, *, select: str | None = None, env: dict | None = None) -> dict[str, dict]:
    """Every hardening check's verdict on tree, keyed by test name."""
    return checkpoint_outcomes(tree, "hardening", select=select, env={**FAST, **(env or {})})


def failed(results: dict) -> set[str]:
    return {name for name, entry in results.items() if entry["outcome"] == "failed"}


def make_classic(tree: Path) -> Path:
    return classic_tree(tree.parent / f"classic-{tree.name}")


def test_solutions_pass_the_stage(solved_tree):
    report = grade_json(solved_tree, "hardening")
    result = stage(report, "hardening")
    assert result["passed"], result["failures"]
    assert result["points"] == result["max_points"] > 0


def test_every_check_fails_on_the_starter(starter_tree):
    results = outcomes(starter_tree)
    assert results, "no hardening check ran"
    passed = {name for name, entry in results.items() if entry["outcome"] != "failed"}
    assert not passed, f"checks that do not fail on the starter: {passed}"
    for entry in results.values():
        assert entry["message"] and "Traceback" not in entry["message"], entry


def test_every_server_check_fails_on_the_classic_tutorial(solved_tree):
    """The page check is the exception: the tutorial's textarea .value shows HTML as text, safely."""
    results = outcomes(make_classic(solved_tree))
    survivors = {name for name, entry in results.items() if entry["outcome"] != "failed"}
    assert survivors <= {"test_html_in_a_message_is_shown_as_text"}, survivors
    assert len(results) >= 20
    crash = results["test_bad_frame_is_refused[not-json]"]["message"]
    assert "myapp/consumers.py, line" in crash and "JSONDecodeError" in crash, crash


def test_the_grader_fails_the_classic_stage_with_a_plain_message(solved_tree):
    report = grade_json(make_classic(solved_tree), "hardening", env=FAST)
    result = stage(report, "hardening")
    assert not result["passed"] and result["points"] == 0
    failure = result["failures"][0]
    assert "consumers.py" in failure["message"] and failure["hint"], failure


# One fix removed from the solutions -> exactly the checks about that fix fail.
MUTANTS = {
    "no-origin-check": (
        [("myproject/asgi.py", "AllowedHostsOriginValidator(\n            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))\n        )",
          "AuthMiddlewareStack(URLRouter(websocket_urlpatterns))")],
        "origin", {"test_foreign_origin_is_refused_in_process", "test_live_foreign_origin_is_refused"}),
    "naive-group-name": (
        [("myapp/consumers.py", 'return "chat-" + hashlib.sha256(room_name.encode("utf-8")).hexdigest()',
          'return "chat_" + "".join(c for c in room_name if c.isascii() and c.isalnum())[:80]')],
        "room_name", {"test_odd_room_name_is_safe[bengali]", "test_odd_room_name_is_safe[over-long]",
                      "test_odd_room_name_is_safe[punctuation]"}),
    "no-length-limit": (
        [("myapp/consumers.py", "if len(message) > self.max_length:", "if False:")],
        "oversized", {"test_oversized_message_is_refused"}),
    "no-rate-limit": (
        [("myapp/consumers.py", "if not self.rate_limit.allow():", "if False:")],
        "flood", {"test_flood_is_limited"}),
    "empty-relayed": (
        [("myapp/consumers.py", "if not message.strip():", "if False:")],
        "bad_frame", {"test_bad_frame_is_refused[empty-message]", "test_bad_frame_is_refused[blank-message]",
                      "test_live_bad_frames_are_refused_without_tracebacks"}),
    "html-preview": (
        [("myapp/templates/myapp/room.html", 'chatLog.value += author + data.message + "\\n";',
          'chatLog.value += author + data.message + "\\n";\n'
          '                    document.body.insertAdjacentHTML("beforeend", "<p>" + data.message + "</p>");')],
        "html", {"test_html_in_a_message_is_shown_as_text"}),
    # Lesson 08's room.html code: an error frame is shown to the person whose message it refuses.
    "error-not-shown": (
        [("myapp/templates/myapp/room.html", 'document.querySelector("#chat-error").textContent = data.error;', "")],
        "html", {"test_html_in_a_message_is_shown_as_text"}),
}


@pytest.mark.parametrize("name", list(MUTANTS))
def test_removing_one_fix_fails_its_checks(solved_tree, name):
    edits, select, expected = MUTANTS[name]
    for relpath, old, new in edits:
        mutate(solved_tree, relpath, old, new)
    results = outcomes(solved_tree, select=select)
    assert results, f"-k {select} selected nothing"
    if name in ("html-preview", "error-not-shown"):
        from kit.services import browser
        if browser.why_unavailable() and not browser.required():
            pytest.skip(browser.why_unavailable())
    assert failed(results) == expected, {n: e["message"][:200] for n, e in results.items()}


def test_live_flood_check_fails_without_a_rate_limit_when_the_room_must_wait(solved_tree):
    """The live flood check is about other sockets; it must still catch a consumer that never answers them."""
    mutate(solved_tree, "myapp/consumers.py", "async def chat_message(self, event):\n",
           "async def chat_message(self, event):\n        return\n")
    results = outcomes(solved_tree, select="live_flood")
    assert failed(results) == {"test_live_flood_does_not_silence_others"}
