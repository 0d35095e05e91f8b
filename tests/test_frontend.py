"""The `frontend` stage, graded for real in headless Chromium: solutions pass, starter and mutants fail.

Also saves docs/screenshot.png, the picture of the working chat page the README shows.
"""
from __future__ import annotations

import os
import sys

import pytest

from conftest import KIT_ROOT, grade_json, mutate, stage, require_browser
from leaks import leftovers

ROOM_HTML = "myapp/templates/myapp/room.html"
SCREENSHOT = KIT_ROOT / "docs" / "screenshot.png"


@pytest.fixture(autouse=True)
def browser_present():
    require_browser()


def failed_check(report: dict) -> str:
    result = stage(report, "frontend")
    assert not result["skipped"], f"browser checks were skipped: {result['skipped']}"
    return result["failures"][0]["test"] if result["failures"] else ""


def test_solutions_pass(solved_tree):
    report = grade_json(solved_tree, "frontend")
    result = stage(report, "frontend")
    assert result["passed"] and result["points"] == result["max_points"], result["failures"]
    assert not result["skipped"]
    assert leftovers(solved_tree) == []


def test_starter_fails(starter_tree):
    report = grade_json(starter_tree, "frontend")
    result = stage(report, "frontend")
    assert not result["passed"] and result["points"] == 0
    assert "never opened a WebSocket" in result["failures"][0]["message"]
    assert leftovers(starter_tree) == []


# (what the mutant gets wrong, old text, new text, the check that must catch it, words of its message)
MUTANTS = [
    ("fixed port", 'window.location.host + "/ws', '"127.0.0.1:8000" + "/ws',
     "test_socket_follows_the_page_address", "fixed host or port"),
    ("fixed host", 'window.location.host + "/ws', '"127.0.0.1:" + window.location.port + "/ws',
     "test_socket_follows_the_page_address", "localhost"),
    ("always ws:", 'window.location.protocol === "https:" ? "wss:" : "ws:"', '"ws:"',
     "test_https_page_uses_wss", "wss:"),
    ("plain text", 'chatSocket.send(JSON.stringify({"message": message}))', "chatSocket.send(message)",
     "test_send_button_sends_json", "not JSON"),
    ("never appended", 'chatLog.value += author + data.message + "\\n";', "",
     "test_room_sees_messages_and_other_rooms_do_not", "never showed"),
    ("no Enter handler", 'event.key === "Enter"', "false",
     "test_enter_sends", "Pressing Enter"),
    ("input kept", 'messageInput.value = "";', "",
     "test_input_is_cleared_after_sending", "still holds"),
    ("log replaced", "chatLog.value += author + data.message", "chatLog.value = author + data.message",
     "test_messages_are_kept_one_per_line", "never replace the log"),
]


@pytest.mark.parametrize("name, old, new, check, words", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_fails_the_right_check(solved_tree, name, old, new, check, words):
    mutate(solved_tree, ROOM_HTML, old, new)
    report = grade_json(solved_tree, "frontend")
    result = stage(report, "frontend")
    assert not result["passed"], f"the {name} mutant passed the frontend stage"
    assert failed_check(report) == check, result["failures"]
    assert words in result["failures"][0]["message"], result["failures"][0]["message"]
    assert leftovers(solved_tree) == []


def test_missing_browser_skips_unless_required(solved_tree, tmp_path):
    """With no browser anywhere the stage is 'not graded' (never a pass), and a failure under KIT_REQUIRE_BROWSER=1."""
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    no_browser = {"PATH": os.path.dirname(sys.executable), "PLAYWRIGHT_BROWSERS_PATH": str(empty_home),
                  "KIT_BROWSER": "", "KIT_REQUIRE_BROWSER": ""}
    result = stage(grade_json(solved_tree, "frontend", env=no_browser), "frontend")
    assert not result["passed"] and result["points"] == 0
    assert result["skipped"] and "No browser" in result["skipped"][0]
    assert "Not graded" in result["failures"][0]["message"]

    required = stage(grade_json(solved_tree, "frontend", env={**no_browser, "KIT_REQUIRE_BROWSER": "1"}), "frontend")
    assert not required["passed"] and not required["skipped"]
    assert "KIT_REQUIRE_BROWSER=1" in required["failures"][0]["message"]


def logged_in(context, server) -> None:
    """The finished chat lets only logged-in people post (stage users): give the browser a session."""
    from kit.benchmark import load

    load.log_in(server)
    cookie = load._BY_TREE.get(str(server.project), {}).get("Cookie", "")
    if cookie:
        name, _, value = cookie.partition("=")
        context.add_cookies([{"name": name, "value": value, "url": server.url}])


def test_screenshot_of_the_working_chat(solved_tree):
    """Two people chatting in the finished page; saved for the README."""
    from kit.services import browser
    from kit.services.server import DaphneServer

    with DaphneServer(solved_tree, env={"REDIS_URL": ""}) as server, browser.chromium() as chromium:
        context = chromium.new_context(viewport={"width": 900, "height": 480}, device_scale_factor=1)
        logged_in(context, server)
        alice, bob = context.new_page(), context.new_page()
        for page in (alice, bob):
            page.goto(f"{server.url}/chat/lobby/")
            page.wait_for_function("() => document.querySelector('#chat-status').textContent === 'connected'")
        lines = [(alice, "Hi Bob! Is the chat working?"), (bob, "Yes: every tab in the lobby sees this."),
                 (alice, "And it is all WebSockets, no page reloads.")]
        for index, (page, text) in enumerate(lines, start=1):
            page.fill("#chat-message-input", text)
            page.press("#chat-message-input", "Enter")
            alice.wait_for_function("n => document.querySelector('#chat-log').value.split('\\n').length > n",
                                    arg=index)
        alice.fill("#chat-message-input", "typing…")
        SCREENSHOT.parent.mkdir(exist_ok=True)
        alice.screenshot(path=str(SCREENSHOT))
        assert alice.input_value("#chat-log").count("\n") == 3
        context.close()
    assert SCREENSHOT.stat().st_size > 5_000


def test_solution_page_reconnects_after_a_restart(solved_tree):
    """daphne restarts (after every code change): the finished page notices, retries with backoff, chats again."""
    from kit.services import browser
    from kit.isolation.procs import free_port
    from kit.services.server import DaphneServer

    connected = "() => document.querySelector('#chat-status').textContent === 'connected'"
    server = DaphneServer(solved_tree, port=free_port(), env={"REDIS_URL": ""})  # a fixed port survives restarts
    with server, browser.chromium() as chromium:
        context = chromium.new_context()
        logged_in(context, server)
        page = context.new_page()
        page.goto(f"{server.url}/chat/lobby/")
        page.wait_for_function(connected)
        server.stop()
        page.wait_for_function("() => document.querySelector('#chat-status').textContent.startsWith('disconnected')")
        server.start()
        page.wait_for_function(connected, timeout=60_000)
        page.fill("#chat-message-input", "back after the restart")
        page.press("#chat-message-input", "Enter")
        page.wait_for_function("() => document.querySelector('#chat-log').value.includes('back after the restart')")
    assert not server.running


def test_the_pages_own_error_leads_the_failure(solved_tree):
    """A script that uses a name it never defined (lesson 05 once taught `input` outside the function that
    made it): the failure names the error and its line in room.html, and the hint is about that error,
    not the code the learner already wrote."""
    mutate(solved_tree, ROOM_HTML, "        messageInput.focus();", "        input.focus();")
    line = 1 + (solved_tree / ROOM_HTML).read_text(encoding="utf-8").splitlines().index("        input.focus();")
    report = grade_json(solved_tree, "frontend")
    result = stage(report, "frontend")
    assert not result["passed"]
    failure = result["failures"][0]
    assert failure["message"].startswith(
        f"Your page's script stopped at room.html line {line}: ReferenceError: input is not defined."), failure
    assert "new WebSocket" not in failure["hint"] and "script" in failure["hint"], failure["hint"]


def test_a_page_line_is_said_as_the_templates_line(tmp_path):
    """The browser knows the served page's lines; a line a template tag moved is found by its text, and
    said in Bengali too."""
    from types import SimpleNamespace

    from kit.services.page import PageErrors

    template = tmp_path / "room.html"
    template.write_text("<p>\n{% if user %}Hi {{ user }}.\n{% else %}Log in{% endif %}\n</p>\n<script>\n"
                        "  input.focus();\n</script>\n", encoding="utf-8")
    served = "<p>\nLog in\n</p>\n<script>\n  input.focus();\n</script>\n"   # the if-branch's line is gone
    errors = PageErrors(template=("room.html", template))
    errors.remember_source("http://127.0.0.1:8000/chat/lobby/", served)
    errors._uncaught(SimpleNamespace(name="ReferenceError", message="input is not defined",
                                     stack="ReferenceError: input is not defined\n"
                                           "    at http://127.0.0.1:8000/chat/lobby/:5:3"))
    lead = errors.lead()
    assert lead.startswith("Your page's script stopped at room.html line 6: ReferenceError: input is not defined.")
    assert "রুম" not in lead and "room.html" in lead.translate("bn") and "থেমে গেছে" in lead.translate("bn")
    errors.remember_source("http://127.0.0.1:8000/chat/lobby/", served.replace("  input.focus();", "  input.x();"))
    assert "line 5 of the page as served" in errors.lead()
    quiet = PageErrors(template=("room.html", template))   # a console error alone: the script went on
    quiet.remember_source("http://127.0.0.1:8000/chat/lobby/", served)
    for text in ("Failed to load resource: 404 (favicon.ico)", "boom"):
        quiet._console(SimpleNamespace(type="error", text=text,
                                       location={"url": "http://127.0.0.1:8000/chat/lobby/", "lineNumber": 4}))
    assert quiet.lead() == "Your page's script logged an error at room.html line 6: boom." and not quiet.stopped_for()
