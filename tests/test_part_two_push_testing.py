"""The `push` and `testing` checkpoints are honest: the starter fails, the solutions pass, each mutant is
caught at its own check, and another correct style passes.
"""
from __future__ import annotations

import re

import pytest
from conftest import STARTER, checkpoint_outcomes, grade_json, mutate, stage

FAST = {"KIT_WAIT": "3"}


def failed(results: dict) -> set[str]:
    return {name for name, entry in results.items() if entry["outcome"] == "failed"}


def outcomes(tree, stage_id: str) -> dict[str, dict]:
    return checkpoint_outcomes(tree, stage_id, env=FAST)


@pytest.mark.parametrize("stage_id", ["push", "testing"])
def test_solutions_pass(solved_tree, stage_id):
    result = stage(grade_json(solved_tree, stage_id), stage_id)
    assert result["passed"], result["failures"]
    assert result["points"] == result["max_points"] == 10


@pytest.mark.parametrize("stage_id", ["push", "testing"])
def test_every_check_fails_on_the_starter(starter_tree, stage_id):
    results = outcomes(starter_tree, stage_id)
    assert results and failed(results) == set(results), {n: e["outcome"] for n, e in results.items()}
    for entry in results.values():
        assert entry["message"] and "Traceback" not in entry["message"], entry


# -- push ----------------------------------------------------------------------------------------
PUSH_MUTANTS = {
    # The tutorial's group name: plain rooms still work, a Bengali room's group cannot exist.
    "wrong-group-name": ("myapp/push.py", "group_name(room_name)", 'f"chat_{room_name}"',
                         {"test_send_to_room_reaches_a_bengali_room"}),
    "another-group": ("myapp/push.py", "group_name(room_name)", '"room_" + group_name(room_name)',
                      {"test_send_to_room_reaches_the_room", "test_send_to_room_reaches_a_bengali_room",
                       "test_announce_command_reaches_the_room", "test_staff_announce_view_reaches_only_its_room"}),
    "no-async-to-sync": ("myapp/push.py", "async_to_sync(layer.group_send)(", "layer.group_send(",
                         {"test_send_to_room_reaches_the_room", "test_send_to_room_reaches_a_bengali_room",
                          "test_announce_command_reaches_the_room", "test_staff_announce_view_reaches_only_its_room"}),
    "view-lets-any-user-in": ("myapp/views.py", "request.user.is_authenticated and request.user.is_staff",
                              "request.user.is_authenticated", {"test_announce_view_refuses_anyone_but_staff"}),
    "command-on-its-own-layer": (
        "myapp/management/commands/announce.py", "        send_to_room(room, text)\n",
        "        from asgiref.sync import async_to_sync\n        from myapp.consumers import group_name\n"
        "        async_to_sync(InMemoryChannelLayer().group_send)(group_name(room), "
        "{'type': 'chat.message', 'message': text})\n",
        {"test_announce_command_reaches_the_room"}),
}


@pytest.mark.parametrize("name", list(PUSH_MUTANTS))
def test_each_push_mutant_fails_its_own_checks(solved_tree, name):
    relpath, old, new, expected = PUSH_MUTANTS[name]
    mutate(solved_tree, relpath, old, new)
    results = outcomes(solved_tree, "push")
    assert failed(results) == expected, {n: (e["outcome"], e["message"][:150]) for n, e in results.items()}
    if name == "no-async-to-sync":
        assert "async_to_sync" in results["test_send_to_room_reaches_the_room"]["message"]


CLASS_VIEW = '''from django.contrib.auth.mixins import UserPassesTestMixin
from django.http import HttpResponse
from django.shortcuts import render
from django.views import View

from myapp.push import send_to_room


def index(request):
    return render(request, "myapp/index.html")


def room(request, room_name):
    return render(request, "myapp/room.html", {"room_name": room_name})


class Announce(UserPassesTestMixin, View):
    raise_exception = True  # 403 rather than a redirect to a login page

    def test_func(self):
        return self.request.user.is_staff

    def post(self, request, room_name):
        send_to_room(room_name, request.POST["message"])
        return HttpResponse(status=204)
'''


def test_another_correct_push_style_passes(solved_tree):
    (solved_tree / "myapp/views.py").write_text(CLASS_VIEW)
    mutate(solved_tree, "myapp/urls.py", "views.announce,", "views.Announce.as_view(),")
    # The command sends on its own, through the layer's group_send, without the helper.
    mutate(solved_tree, "myapp/management/commands/announce.py", "        send_to_room(room, text)\n",
           "        from asgiref.sync import async_to_sync\n        from myapp.consumers import group_name\n"
           "        async_to_sync(get_channel_layer().group_send)(group_name(room), "
           "{'type': 'chat.message', 'message': text})\n")
    results = outcomes(solved_tree, "push")
    assert not failed(results), {n: e["message"][:200] for n, e in results.items() if e["outcome"] == "failed"}


# -- testing -------------------------------------------------------------------------------------
SUITE = "myapp/tests/test_consumers.py"
ALWAYS_PASSES = "def test_the_consumer_works():\n    assert True\n"
ALWAYS_FAILS = "def test_the_consumer_works():\n    assert False, 'not yet'\n"
COMPARES_SOURCE = '''import hashlib
from pathlib import Path

KNOWN = "{digest}"


def test_the_consumer_is_the_one_i_wrote():
    text = (Path(__file__).resolve().parents[1] / "consumers.py").read_bytes()
    assert hashlib.sha256(text).hexdigest() == KNOWN
'''
EXITS_EARLY = "import os\nos._exit(0)\n\ndef test_never_run():\n    pass\n"


def learner_suite(tree, text: str):
    (tree / SUITE).write_text(text)
    return tree


@pytest.mark.parametrize("kind", ["always-passes", "always-fails", "compares-source", "exits-early"])
def test_a_suite_that_does_not_test_behaviour_earns_nothing(solved_tree, kind):
    import hashlib

    digest = hashlib.sha256((solved_tree / "myapp/consumers.py").read_bytes()).hexdigest()
    text = {"always-passes": ALWAYS_PASSES, "always-fails": ALWAYS_FAILS,
            "compares-source": COMPARES_SOURCE.replace("{digest}", digest), "exits-early": EXITS_EARLY}[kind]
    results = outcomes(learner_suite(solved_tree, text), "testing")
    correct = {n for n in results if n.startswith("test_your_tests_pass_on_a_correct_consumer")}
    broken = set(results) - correct
    if kind == "always-passes":
        assert failed(results) == broken and len(broken) >= 6
        assert all("Your tests all passed on a consumer" in results[n]["message"] for n in broken)
        assert not any("def " in results[n]["message"] or "await" in results[n]["message"] for n in broken)
    else:  # a suite comparing the consumer's source with the learner's own passes there, and only there
        yours = "test_your_tests_pass_on_a_correct_consumer[yours]"
        assert correct - {yours} <= failed(results) and len(correct) == 5, results
    if kind == "exits-early":
        assert "os._exit" in results[sorted(correct)[0]]["message"]
    result = stage(grade_json(solved_tree, "testing", env=FAST), "testing")
    assert not result["passed"] and result["points"] == 0


def test_a_missing_test_names_the_broken_consumer_it_lets_through(solved_tree):
    text = (solved_tree / SUITE).read_text()
    cut = re.search(r"\ndef test_a_socket_leaves_its_group_on_disconnect\(\):.*?\n(?=\ndef )", text, re.S)
    learner_suite(solved_tree, text.replace(cut.group(0), "\n"))
    results = outcomes(solved_tree, "testing")
    assert failed(results) == {"test_your_tests_catch_a_broken_consumer[never-leaves]"}, results
    message = results["test_your_tests_catch_a_broken_consumer[never-leaves]"]["message"]
    assert "never leaves its group when a socket closes" in message


def test_a_suite_that_fails_on_the_learners_own_consumer_is_caught(solved_tree):
    """The lesson's old recipe: an unsaved User in the scope. The kit's consumers never save, so they pass; the
    learner's own consumer saves each message with its author (stage 11) and cannot: testing says so plainly."""
    text = (solved_tree / SUITE).read_text()
    saved = '    socket.scope["user"], _ = await database_sync_to_async(User.objects.get_or_create)(username=username)\n'
    assert saved in text
    learner_suite(solved_tree, text.replace(saved, '    socket.scope["user"] = User(username=username)\n'))
    results = outcomes(solved_tree, "testing")
    yours = "test_your_tests_pass_on_a_correct_consumer[yours]"
    assert failed(results) == {yours}, {n: e["message"][:200] for n, e in results.items() if e["outcome"] == "failed"}
    message = results[yours]["message"]
    assert message.startswith("Your tests fail on your own consumer, myapp/consumers.py: test_") and \
        "Traceback" not in message, message
    result = stage(grade_json(solved_tree, "testing", env=FAST), "testing")
    assert not result["passed"] and result["points"] == 0


def test_another_correct_testing_style_passes(solved_tree):
    # The same promises, run with async_to_sync instead of asyncio.run and wrapped into one helper.
    text = (solved_tree / SUITE).read_text()
    text = text.replace("import asyncio\n", "from asgiref.sync import async_to_sync\n")
    text = text.replace("    asyncio.run(scenario())\n", "    async_to_sync(scenario)()\n")
    assert "asyncio.run(scenario" not in text
    results = outcomes(learner_suite(solved_tree, text), "testing")
    assert not failed(results), {n: e["message"][:200] for n, e in results.items() if e["outcome"] == "failed"}


def test_every_file_of_both_stages_is_in_the_starter_and_the_solutions():
    from conftest import SOLUTIONS

    from kit.course import catalogue

    for stage_id in ("push", "testing"):
        for relpath in catalogue.get(stage_id).files:
            assert (STARTER / relpath).is_file() and (SOLUTIONS / relpath).is_file(), relpath
