"""A lying page cannot earn the browser checks: the page is observed through the browser, never asked.

The attack: a room.html that opens no WebSocket (or one it never uses) and instead writes what the
checks once read from the page itself: window.__kit / window.__kitSockets with fake open sockets and
fake sent frames, and the expected text in #chat-log, shared between tabs with a BroadcastChannel
and with the logged-in user's name where the checks want an author. Each must score 0 on the checks
it fakes, leave nothing running and change nothing in the kit.
"""
from __future__ import annotations

import json

import pytest

from conftest import SOLUTIONS, STARTER, checkpoint_outcomes, copy_tree, grade_json, solved_through, stage, require_browser
from leaks import leftovers
from test_forgery import kit_fingerprint

ROOM_HTML = "myapp/templates/myapp/room.html"

# Everything the page fakes, as one script: {socket} is either nothing or a real socket it never uses.
LYING_PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Chat room</title></head>
<body>
    <textarea id="chat-log" cols="100" rows="20" readonly></textarea><br>
    <input id="chat-message-input" type="text" size="100"><br>
    <input id="chat-message-submit" type="button" value="Send">
    <p id="chat-error"></p>
    <p id="chat-status">connected</p>
    {{ room_name|json_script:"room-name" }}
    <script>
        const roomName = JSON.parse(document.getElementById("room-name").textContent);
        const me = "{{ user.get_username }}";
        const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/chat/" + roomName + "/";
        SOCKET
        const fake = {readyState: 1, url: url, send() {}, close() {}};
        window.__kit = {sockets: [fake], tried: [url], sent: []};
        window.__kitSockets = [fake];
        const chatLog = document.querySelector("#chat-log");
        const input = document.querySelector("#chat-message-input");
        const tabs = new BroadcastChannel("chat-" + roomName);   // the other tabs of this browser, same room
        function show(line) { chatLog.value += line + "\\n"; }
        tabs.onmessage = (event) => show(event.data);
        function post() {
            const text = input.value;
            if (!text) return;
            window.__kit.sent.push(JSON.stringify({message: text}));
            const line = (me ? me + ": " : "") + text;
            show(line);
            tabs.postMessage(line);
            input.value = "";
        }
        document.querySelector("#chat-message-submit").onclick = post;
        input.onkeyup = (event) => { if (event.key === "Enter") post(); };
        document.querySelector("#chat-error").textContent = "Log in to post: too many messages, slow down.";
    </script>
</body>
</html>
"""
NO_SOCKET = LYING_PAGE.replace("SOCKET", "")
UNUSED_SOCKET = LYING_PAGE.replace("SOCKET", "const real = new WebSocket(url);   // opened, never used")
# Short waits, and room for a busy machine: these tests are about verdicts, not speed.
LIMITS = {"KIT_WAIT": "3", "KIT_TEST_TIME_LIMIT": "90", "KIT_STAGE_TIME_LIMIT": "300", "REDIS_URL": ""}


@pytest.fixture(autouse=True)
def browser_present():
    require_browser()


def with_page(tree, html: str):
    (tree / ROOM_HTML).write_text(html, encoding="utf-8")
    return tree


@pytest.mark.parametrize("mode", ["sandbox", "off"])
def test_a_page_with_no_websocket_scores_zero_on_frontend(tmp_path, mode):
    from kit.isolation import sandbox

    if mode == "sandbox" and not sandbox.detect().sandboxed:
        pytest.fail(f"No sandbox on this machine ({sandbox.detect().detail}): install bubblewrap.")
    tree = with_page(copy_tree(STARTER, tmp_path / "liar"), NO_SOCKET)
    before = kit_fingerprint()
    env = dict(LIMITS, **({"KIT_SANDBOX": "off"} if mode == "off" else {}))
    report = grade_json(tree, "frontend", env=env)
    result = stage(report, "frontend")
    assert report["score"] == 0 and not result["passed"], json.dumps(report)[:2000]
    assert not result["skipped"], result["skipped"]
    assert "never opened a WebSocket" in result["failures"][0]["message"], result["failures"]
    assert leftovers(tree) == []
    assert kit_fingerprint() == before


def test_every_frontend_check_fails_when_the_page_fakes_it(tmp_path):
    """Built on a tree whose server works (every stage before frontend solved), the page opens a real socket
    but never sends over it: the checks that watch frames and the log all fail, each on its own; only the
    two about where the socket goes may pass, since that part the page really does."""
    from kit.course import catalogue

    tree = with_page(solved_through(catalogue.get("routing"), tmp_path / "liar"), UNUSED_SOCKET)
    outcomes = checkpoint_outcomes(tree, "frontend", env=LIMITS)
    really_done = {"test_socket_follows_the_page_address", "test_https_page_uses_wss"}
    passed = {name for name, o in outcomes.items() if o["outcome"] == "passed"}
    assert len(outcomes) == 7 and passed <= really_done, outcomes
    room = outcomes["test_room_sees_messages_and_other_rooms_do_not"]["message"]
    assert "no frame holding it reached that page's WebSocket" in room, room
    assert leftovers(tree) == []


def test_a_lying_page_fails_the_users_and_hardening_browser_checks(tmp_path):
    """Solutions with only the page replaced: the in-process checks still pass (the server is right); the
    checks that watch two logged-in people, and a page shown HTML, fail because no socket carries anything."""
    tree = with_page(copy_tree(SOLUTIONS, tmp_path / "liar"), NO_SOCKET)
    users = checkpoint_outcomes(tree, "users", env=LIMITS)
    browser_check = users["test_two_people_side_by_side_see_each_others_names"]
    assert browser_check["outcome"] == "failed" and "opened no WebSocket" in browser_check["message"], users
    assert users["test_each_message_carries_its_authors_name"]["outcome"] == "passed", users
    hardening = checkpoint_outcomes(tree, "hardening", env=LIMITS, select="html_in_a_message")
    page_check = hardening["test_html_in_a_message_is_shown_as_text"]
    assert page_check["outcome"] == "failed" and "never showed a message sent to its room" in page_check["message"]
    assert leftovers(tree) == []


# A page that turns HTML in a message into markup (the hardening mutant html-preview) and hides it from any
# check that asks the page: its querySelectorAll finds no <img>, its window.__kitXss is always 0.
HIDES_ITS_HTML = """
        Object.defineProperty(window, "__kitXss", {get() { return 0; }, set(value) {}});
        const everything = Document.prototype.querySelectorAll;
        Document.prototype.querySelectorAll = function (selector) {
            return String(selector).includes("img") ? [] : everything.call(this, selector);
        };
        const roomName = JSON.parse"""


def test_a_page_cannot_hide_html_it_runs(tmp_path):
    from conftest import mutate

    tree = copy_tree(SOLUTIONS, tmp_path / "liar")
    mutate(tree, ROOM_HTML, 'chatLog.value += author + data.message + "\\n";',
           'chatLog.value += author + data.message + "\\n";\n'
           '                    document.body.insertAdjacentHTML("beforeend", "<p>" + data.message + "</p>");')
    mutate(tree, ROOM_HTML, "\n        const roomName = JSON.parse", HIDES_ITS_HTML)
    outcomes = checkpoint_outcomes(tree, "hardening", env=LIMITS, select="html_in_a_message")
    check = outcomes["test_html_in_a_message_is_shown_as_text"]
    assert check["outcome"] == "failed" and "became part of the page" in check["message"], check
    assert leftovers(tree) == []
