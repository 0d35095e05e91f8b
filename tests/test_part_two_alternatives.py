"""Every choice the part-two lessons leave open is accepted, and a mistake in each chosen style is still caught.

Issue 21. The lessons (09_push to 12_testing) say which styles are correct where they leave a choice; the
solutions take one side of each, the trees below the other, each a copy of solutions/ with a few lines
changed. Alternatives that do not interfere share a tree, so one grade with the real grader covers several:

| alternative | solutions | tree here |
|---|---|---|
| an anonymous POST to the announce view | refused, 403 | sent to the login page, 302 to LOGIN_URL (OTHER) |
| the staff response of the announce view | a redirect to the room | a 2xx (OTHER) |
| an announcement frame's author | "" | no `author` key (OTHER), or `null` (NULL) |
| a live frame's history mark | no `history` key | `"history": false` (OTHER) |
| the learner's tests | plain functions, asyncio.run | decorated: a decorator of one's own, anyio's mark (OTHER) |
| the learner's tests | plain functions, asyncio.run | unittest.IsolatedAsyncioTestCase (NULL) |

Each mutant is one mistake in one of these trees, caught by the check of its own stage that watches it, with a
plain message, while the stage's other checks still pass.
"""
from __future__ import annotations

import re

import pytest

from conftest import SOLUTIONS, checkpoint_outcomes, copy_tree, grade_only, mutate

CONSUMER = "myapp/consumers.py"
VIEWS = "myapp/views.py"
SUITE = "myapp/tests/test_consumers.py"

# -- the announce view: anonymous visitors to the login page, staff answered 200 ------------------
LOGIN_IMPORT = ("from django.http import HttpResponseBadRequest, HttpResponseForbidden\n",
                "from django.contrib.auth.views import redirect_to_login\n"
                "from django.http import HttpResponseBadRequest, HttpResponseForbidden, JsonResponse\n")
LOGIN_CHECK = ("    if not (request.user.is_authenticated and request.user.is_staff):\n"
               "        # 403 for anonymous visitors too: there is no login form to send them to.\n",
               "    if not request.user.is_authenticated:\n"
               "        return redirect_to_login(request.get_full_path())  # 302 to settings.LOGIN_URL\n"
               "    if not request.user.is_staff:\n")
STAFF_2XX = ('    return redirect("room", room_name=room_name)\n',
             '    return JsonResponse({"sent": text, "room": room_name})\n')

# -- frames: announcements without an author key, live frames marked "history": false ------------
OTHER_FRAMES = (
    '        await self.send_json_frame({"message": event["message"], "author": event.get("author", "")})\n',
    '        frame = {"message": event["message"], "history": False}\n'
    '        if "author" in event:  # an announcement (send_to_room) has none, and its frame has none either\n'
    '            frame["author"] = event["author"]\n'
    '        await self.send_json_frame(frame)\n')
NULL_AUTHOR = ('event.get("author", "")', 'event.get("author")')

# -- the learner's tests in other styles -----------------------------------------------------------
DECORATOR = '''
def scenario(test):
    """Runs an async test in an event loop of its own: pytest itself calls plain functions."""
    @functools.wraps(test)
    def run():
        asyncio.run(test())

    return run

'''


# Each of the solutions' tests: a plain function whose coroutine asyncio.run runs.
PLAIN_TEST = re.compile(r"\ndef (test_\w+)\(\):\n    async def scenario\(\):\n(.*?)\n"
                        r"    asyncio\.run\(scenario\(\)\)\n", re.S)


def plain_tests(text: str) -> list[tuple[str, str, str]]:
    """(the whole test, its name, its scenario's body) for each test of the solutions' suite."""
    found = [(m.group(0), m.group(1), m.group(2)) for m in PLAIN_TEST.finditer(text)]
    assert len(found) == 6, "solutions/myapp/tests/test_consumers.py changed: update this file's suites"
    return found


def decorated_suite(text: str) -> str:
    """The solutions' suite as decorated coroutines: half with a decorator of its own, half with anyio's mark
    (the anyio plugin that pytest loads by itself where anyio is installed, as in the lesson's runner)."""
    text = text.replace("import asyncio\n", "import asyncio\nimport functools\n", 1)
    for number, (whole, name, body) in enumerate(plain_tests(text)):
        body = "\n".join(line[4:] for line in body.splitlines())
        mark = "@scenario" if number % 2 == 0 else "@pytest.mark.anyio"
        text = text.replace(whole, f"{DECORATOR if number == 0 else ''}\n{mark}\nasync def {name}():\n{body}\n")
    return text


def unittest_suite(text: str) -> str:
    """The solutions' suite as one unittest.IsolatedAsyncioTestCase: each promise an async method."""
    text = text.replace("import asyncio\n", "import unittest\n", 1)
    methods = ""
    for whole, name, body in plain_tests(text):
        text = text.replace(whole, "")
        methods += f"\n    async def {name}(self):\n{body}\n"
    return text.rstrip("\n") + "\n\n\nclass ConsumerTests(unittest.IsolatedAsyncioTestCase):" + methods


def other_tree(dest):
    """Anonymous to the login page, staff 2xx, announcements without an author, live frames "history":
    false, tests as decorated coroutines."""
    tree = copy_tree(SOLUTIONS, dest)
    for old, new in (LOGIN_IMPORT, LOGIN_CHECK, STAFF_2XX):
        mutate(tree, VIEWS, old, new)
    mutate(tree, CONSUMER, *OTHER_FRAMES)
    (tree / SUITE).write_text(decorated_suite((tree / SUITE).read_text()))
    return tree


def null_tree(dest):
    """Announcements with "author": null, tests as a unittest.IsolatedAsyncioTestCase."""
    tree = copy_tree(SOLUTIONS, dest)
    mutate(tree, CONSUMER, *NULL_AUTHOR)
    (tree / SUITE).write_text(unittest_suite((tree / SUITE).read_text()))
    return tree


def failed(results: dict) -> dict[str, str]:
    return {name: entry["message"] for name, entry in results.items() if entry["outcome"] != "passed"}


def plain(message: str) -> bool:
    return bool(message) and "Traceback" not in message and len(message) < 1500


def test_the_other_side_of_each_choice_passes_push_users_history_and_testing(tmp_path):
    report = grade_only(other_tree(tmp_path / "other"), "push", "users", "history", "testing")
    failing = {s["id"]: s["failures"][:1] for s in report["stages"] if not s["passed"]}
    assert not failing and report["score"] == report["max_score"] == 40, failing


def test_null_authors_and_unittest_tests_pass_push_and_testing(tmp_path):
    report = grade_only(null_tree(tmp_path / "null"), "push", "testing")
    failing = {s["id"]: s["failures"][:1] for s in report["stages"] if not s["passed"]}
    assert not failing and report["score"] == report["max_score"] == 20, failing


# -- one mistake in each style: (tree, file, old, new, stage, select, the checks that fail, words of the message)
SENDS_FIRST = ("    if not request.user.is_authenticated:\n        return redirect_to_login",
               '    send_to_room(room_name, request.POST.get("message", ""))  # sent before asking who asks\n'
               "    if not request.user.is_authenticated:\n        return redirect_to_login")
MUTANTS = {
    # 1: anonymous visitors sent to the login page, but the view announced before it asked who posts.
    "login-redirect-after-sending": (other_tree, VIEWS, *SENDS_FIRST, "push", None,
                                     {"test_announce_view_refuses_anyone_but_staff"},
                                     "from an anonymous visitor reached the room (and answered 302)"),
    # 2: staff answered 200 with what was "sent", and nothing was.
    "2xx-without-sending": (other_tree, VIEWS, "    send_to_room(room_name, text)\n", "", "push", None,
                            {"test_staff_announce_view_reaches_only_its_room"}, "a staff user's POST"),
    # 3: announcements without an author key, but chat_message reads event["author"] for every event.
    "no-author-key-read-anyway": (other_tree, CONSUMER,
                                  '        if "author" in event:  # an announcement (send_to_room) has none, and '
                                  'its frame has none either\n            frame["author"] = event["author"]\n',
                                  '        frame["author"] = event["author"]\n', "push", None,
                                  {"test_send_to_room_reaches_the_room", "test_send_to_room_reaches_a_bengali_room",
                                   "test_announce_command_reaches_the_room",
                                   "test_staff_announce_view_reaches_only_its_room"}, "event.get('author')"),
    "null-author-read-anyway": (null_tree, CONSUMER, 'event.get("author")', 'event["author"]', "push", None,
                                {"test_send_to_room_reaches_the_room", "test_send_to_room_reaches_a_bengali_room",
                                 "test_announce_command_reaches_the_room",
                                 "test_staff_announce_view_reaches_only_its_room"}, "event.get('author')"),
    # 4: live frames marked with the text "false", which a page's `if (data.history)` takes for true. (Replayed
    # frames that copied the live mark would fail history too, but also hardening and push, whose checks pass
    # over only frames marked true and reuse their rooms.)
    "live-marked-with-text": (other_tree, CONSUMER, '"history": False}', '"history": "false"}', "history", None,
                              {"test_history_comes_before_live_messages_and_is_marked"},
                              'A live message arrived marked "history": "false"'),
    # 5: unittest.TestCase instead of IsolatedAsyncioTestCase: each async method returns a coroutine nobody runs.
    # (The whole stage: only a tree that passes every broken consumer is asked whether its tests run at all.)
    "testcase-not-async": (null_tree, SUITE, "unittest.IsolatedAsyncioTestCase", "unittest.TestCase", "testing",
                           None, {f"test_your_tests_catch_a_broken_consumer[{name}]" for name in (
                               "only-the-sender", "not-the-sender", "one-group", "never-leaves", "wrong-key",
                               "crashes-on-bad-json", "ascii-only-rooms")},
                           "and on every other broken consumer too: do they test anything?"),
    # 5: a decorator of one's own that makes the coroutine and never runs it.
    "decorator-never-runs": (other_tree, SUITE, "        asyncio.run(test())\n", "        test()\n", "testing",
                             "one-group", {"test_your_tests_catch_a_broken_consumer[one-group]"},
                             "puts every room in one group"),
    # 5: an async test whose anyio mark was forgotten: pytest cannot run it, on a correct consumer either.
    "anyio-mark-forgotten": (other_tree, SUITE, "@pytest.mark.anyio\nasync def test_a_socket_leaves",
                             "async def test_a_socket_leaves", "testing", "async",
                             {"test_your_tests_pass_on_a_correct_consumer[async]"},
                             "test_a_socket_leaves_its_group_on_disconnect"),
}
FAST = {"KIT_WAIT": "3"}


@pytest.mark.parametrize("name", list(MUTANTS))
def test_one_mistake_in_another_style_is_caught_by_its_own_check(tmp_path, name):
    build, relpath, old, new, stage_id, select, expected, words = MUTANTS[name]
    tree = build(tmp_path / "tree")
    mutate(tree, relpath, old, new)
    results = checkpoint_outcomes(tree, stage_id, select=select, env=FAST)
    failing = failed(results)
    assert set(failing) == expected, {n: m[:200] for n, m in failing.items()}
    assert all(plain(m) for m in failing.values()), failing
    assert any(words in m for m in failing.values()), failing
