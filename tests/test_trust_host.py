"""The host is the learner's own interpreter: what it says earns nothing, and what it sends is bounded.

The lying host: a settings.py that replaces the host's dispatcher in __main__
and answers every question as a correct tree would (settings values, the
app's shape, routes, group counts, migrations, log-ins), on the starter with
asgi.py, the consumer, the routes and the model still TODO. Every stage it
touches must score 0, because each has checks that observe behaviour (pages
and frames the checker's own clients receive, rows the checker reads from the
database) that the starter does not have.

The dict relay: a settings.py that replaces the host's methods (settings values,
the apps it serves, routes, group counts) and serves a fake chat of its own that
keeps a dict of open sockets per room, with no channel layer at all, behind a
router of its own that holds the kit's old probe route. The consumer and routing
stages must score 0: their host's layer is channels_redis on a Redis of the
checker's, and the checker finds the room's group there and sends to it itself.
settings scores 0 too: its values are read by a fresh Python that only loads
settings.py. asgi scores 0: it is graded on a daphne serving the tree's own
asgi.py, where no host runs (tests/test_trust_live.py swaps the handler there).

The huge line: a settings.py that writes hundreds of MiB without a newline
down the host's answer socket. The stage fails in one sentence and no process
of the grading grows with it.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from conftest import KIT_ROOT, MUST_FAIL, STARTER, copy_tree, grade_json, stage
from kit.isolation import sandbox
from leaks import leftovers
from test_forgery import LIMITS, kit_fingerprint

STAGES = ("settings", "asgi", "consumer", "routing", "history")

LYING_HOST = textwrap.dedent('''
    import itertools, sys
    _main = sys.modules.get("__main__")
    _Host = getattr(_main, "Host", None)
    if _Host is not None and not getattr(_Host, "lying", False):
        _real = _Host.dispatch
        _extra = itertools.count(10 ** 6)
        _members = itertools.cycle([2, 1])
        _SOLVED = {
            "INSTALLED_APPS": ["daphne", "django.contrib.auth", "django.contrib.contenttypes",
                               "django.contrib.sessions", "django.contrib.staticfiles", "channels", "myapp"],
            "ASGI_APPLICATION": "myproject.asgi.application",
            "CHANNEL_LAYERS": {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
        }
        _ANSWERS = {
            "asgi": {"type": "ProtocolTypeRouter", "router": True, "keys": ["http", "websocket"],
                     "chain": ["AllowedHostsOriginValidator", "AuthMiddlewareStack", "AuthMiddleware", "URLRouter"]},
            "patterns": {"exists": True, "routes": ["^ws/chat/(?P<room_name>[^/]+)/$"]},
            "migrations": {"model": True, "files": ["0001_initial.py"], "unmigrated": False, "table": True,
                           "db_table": "myapp_message", "fields": ["id", "room", "author", "text", "created"]},
            "http": {"status": 200, "body": "<form><input name=username></form>"},
            "login": {"name": "sessionid", "value": "k" * 32},
            "layer_roundtrip": {"delivered": True},
            "stall": {"seconds": 0.0},
        }

        async def _lie(self, request):
            op = request.get("op")
            if op == "app":  # the real apps of this (starter) tree, where there are any
                answer = await _real(self, request)
                return answer if "app" in answer else {"app": next(_extra)}
            if op == "settings":
                return {"values": {n: _SOLVED[n] for n in request.get("names", []) if n in _SOLVED}}
            if op == "groups":
                return {"members": next(_members)}
            return dict(_ANSWERS.get(op, {"ok": True}))

        _Host.dispatch = _lie
        _Host.op_why = lambda self, request: {"why": ""}
        _Host.lying = True
''')

DICT_RELAY = textwrap.dedent('''
    import json, sys
    _main = sys.modules.get("__main__")
    _Host = getattr(_main, "Host", None)
    if _Host is not None and not getattr(_Host, "relaying", False):
        _rooms = {}

        async def _chat(scope, receive, send):
            room = scope["path"].strip("/").split("/")[-1]
            await receive()
            await send({"type": "websocket.accept"})
            members = _rooms.setdefault(room, [])
            members.append(send)
            try:
                while True:
                    event = await receive()
                    if event["type"] == "websocket.disconnect":
                        return
                    text = event.get("text") or ""
                    try:
                        text = json.dumps({"message": json.loads(text)["message"]})
                    except Exception:
                        pass
                    for member in list(members):
                        await member({"type": "websocket.send", "text": text})
            finally:
                members.remove(send)

        def _project(self):
            from channels.auth import AuthMiddlewareStack
            from channels.routing import ProtocolTypeRouter, URLRouter
            from django.core.asgi import get_asgi_application
            from django.urls import re_path
            probe = [re_path(_main.PROBE, _main.probe)] if hasattr(_main, "probe") else []  # the host's, once
            return ProtocolTypeRouter({"http": get_asgi_application(), "websocket": AuthMiddlewareStack(URLRouter([
                *probe, re_path(r"^ws/chat/(?P<room_name>[^/]+)/$", _chat)]))})

        _SOLVED = {
            "INSTALLED_APPS": ["daphne", "django.contrib.auth", "django.contrib.contenttypes",
                               "django.contrib.sessions", "django.contrib.staticfiles", "channels", "myapp"],
            "ASGI_APPLICATION": "myproject.asgi.application",
            "CHANNEL_LAYERS": {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
        }
        _counts = iter([2, 1] * 100)
        _Host.op_settings = lambda self, names: (self.django_setup(), {"values": {
            n: _SOLVED[n] for n in names if n in _SOLVED}})[1]
        _Host.application = _project
        _Host.probed_application = _project
        _Host.consumer_app = lambda self, kind: _chat
        _Host.layer_app = lambda self: _chat
        _Host.op_patterns = lambda self: {"exists": True, "routes": ["^ws/chat/(?P<room_name>[^/]+)/$"]}
        _Host.op_groups = lambda self: {"members": next(_counts)}
        _Host.relaying = True
''')

HUGE_LINE = textwrap.dedent('''
    import os, socket, sys
    if hasattr(sys.modules.get("__main__"), "Host"):   # in the host: argv[1] is its answer socket
        _answers = socket.socket(fileno=os.dup(int(sys.argv[1])))
        _chunk = b"x" * (1 << 20)
        try:
            for _ in range(400):                         # 400 MiB, no newline, never held in memory here
                _answers.sendall(_chunk)
        except OSError:
            pass
''')

MAX_RSS_MB = 300   # the kit's processes while grading one stage; reading the whole line would take over 400 MB


def tree_with(tmp_path, name: str, appended: str):
    tree = copy_tree(STARTER, tmp_path / name)
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text(encoding="utf-8") + "\n" + appended, encoding="utf-8")
    return tree


@pytest.fixture(autouse=True)
def needs_sandbox():
    if not sandbox.detect().sandboxed:
        pytest.fail(f"No sandbox on this machine ({sandbox.detect().detail}): install bubblewrap.")


@pytest.mark.parametrize("mode", ["sandbox", "off"], ids=["sandbox", "no-sandbox"])
def test_a_lying_host_scores_zero(tmp_path, mode):
    """Nothing here needs a sandbox: what the host says never counted, with or without one."""
    tree = tree_with(tmp_path, "liar", LYING_HOST)
    before = kit_fingerprint()
    # Must fail everywhere: a busy machine's second try could only fail it again, twice as slowly (issue 17).
    env = dict(LIMITS, TMPDIR=str(tmp_path), **MUST_FAIL, **({"KIT_SANDBOX": "off"} if mode == "off" else {}))
    report = grade_json(tree, *STAGES, env=env)
    text = json.dumps(report)
    # The lie took hold: the routes it claims got routing past its asked first step (the starter's are empty).
    routing = stage(report, "routing")["failures"][0]["message"]
    assert "websocket_urlpatterns is empty" not in routing, text[:3000]
    assert report["score"] == 0, f"the lying host forged {report['score']} points: {text[:3000]}"
    for stage_id in STAGES:
        graded = stage(report, stage_id)
        assert not graded["passed"] and graded["failures"], f"{stage_id} says nothing: {graded}"
    assert leftovers(tree) == [], "the lying host left processes running"
    assert kit_fingerprint() == before, "the lying host changed the kit's files"


def test_a_dict_relay_without_a_layer_scores_zero_on_settings_asgi_consumer_and_routing(tmp_path):
    tree = tree_with(tmp_path, "relay", DICT_RELAY)
    report = grade_json(tree, "settings", "asgi", "consumer", "routing", env=dict(LIMITS, TMPDIR=str(tmp_path)))
    text = json.dumps(report)
    # The fake took hold: its sockets answer (the starter's consumer accepts nothing).
    assert "test_sender_gets_own_message" in stage(report, "consumer")["passed_checks"], text[:3000]
    assert report["score"] == 0, f"the dict relay forged {report['score']} points: {text[:3000]}"
    for stage_id in ("consumer", "routing"):
        graded = stage(report, stage_id)
        assert not graded["passed"] and "group of the channel layer" in json.dumps(graded["failures"]), graded
    # The settings are read by a fresh Python that only loads settings.py: no host there to patch.
    assert not stage(report, "settings")["passed"]
    assert leftovers(tree) == [], "the dict relay left processes running"


def test_the_starter_scores_zero_on_the_same_stages(tmp_path):
    """The baseline the lie starts from: an honest 0, so the lie is what the test above measures."""
    report = grade_json(copy_tree(STARTER, tmp_path / "starter"), *STAGES,
                        env=dict(LIMITS, TMPDIR=str(tmp_path), **MUST_FAIL))
    assert report["score"] == 0 and "test_channels_installed" not in stage(report, "settings")["passed_checks"]


def test_a_huge_line_fails_one_stage_in_one_sentence_and_the_checker_stays_small(tmp_path):
    tree = tree_with(tmp_path, "huge", HUGE_LINE)
    out = tmp_path / "report.json"
    env = dict(LIMITS, TMPDIR=str(tmp_path))
    # A fresh Python whose children are the whole grading (grader, checker, sandbox, host): their peak memory.
    script = textwrap.dedent('''
        import os, resource, subprocess, sys
        with open(sys.argv[2], "w") as out:
            subprocess.run([sys.executable, "-m", "kit", "check", "settings", "--project", sys.argv[1],
                            "--json", "-"], stdout=out, timeout=600)
        print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
    ''')
    done = subprocess.run([sys.executable, "-c", script, str(tree), str(out)], capture_output=True, text=True,
                          cwd=KIT_ROOT, env={**__import__("os").environ, **env}, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    peak_mb = int(done.stdout.strip().splitlines()[-1])
    report = json.loads(out.read_text())
    graded = stage(report, "settings")
    message = graded["failures"][0]["message"]
    assert not graded["passed"] and "over 1 MiB" in message, message
    assert "\n" not in message and message.count(". ") == 0 and message.endswith("."), message
    assert peak_mb < MAX_RSS_MB, f"a process of the grading grew to {peak_mb} MB reading the host's line"
    assert leftovers(tree) == []
