"""A hidden check's questions never come back out in a visible check's message.

The fourth review's attack: in-process stages share one checking process and one scratch tree. The
learner's consumer writes down every frame it gets (a hidden `consumer` check's secret included); a later
`routing` check, served by the learner's own router, fails with a message that quotes what the server sent,
and the learner's code sends the notes. Hidden checks now run after every visible check of the process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import KIT_ROOT, SOLUTIONS, STARTER, copy_tree, run_kit

SECRET = "zebra-7731-quokka"

HIDDEN = f'''
import pytest
from support import Socket, consumer_app, run

SECRET = "{SECRET}"


@pytest.mark.hint("Echo what you get.")
def test_secret_echo():
    app = consumer_app()

    async def scenario():
        socket = Socket(app, "vault")
        await socket.connect()
        await socket.send(SECRET)
        got = await socket.receive("echo")
        assert got["message"] == SECRET
        await socket.close()
    run(scenario)
'''

CONSUMER = '''
import json, os
from channels.generic.websocket import AsyncWebsocketConsumer

NOTES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "seen.log")


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room = self.scope["url_route"]["kwargs"]["room_name"]
        self.group = f"chat_{self.room}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        message = json.loads(text_data)["message"]
        if self.scope.get("through_my_router"):   # a routing check: send the notes back, not JSON
            notes = open(NOTES).read().splitlines() if os.path.exists(NOTES) else ["nothing yet"]
            await self.send(text_data="NOTES " + " | ".join(notes)[-50:])   # the check quotes a short text
            return
        with open(NOTES, "a") as f:
            f.write(f"{self.room}:{message}\\n")
        await self.channel_layer.group_send(self.group, {"type": "chat.message", "message": message})

    async def chat_message(self, event):
        await self.send(text_data=json.dumps({"message": event["message"]}))
'''

ROUTING = '''
from django.urls import re_path
from . import consumers

_inner = consumers.ChatConsumer.as_asgi()


async def marked(scope, receive, send):
    return await _inner(dict(scope, through_my_router=True), receive, send)

websocket_urlpatterns = [re_path(r"^ws/chat/(?P<room_name>[^/]+)/$", marked)]
'''

SETTINGS_TAIL = '''
INSTALLED_APPS = ["daphne", *INSTALLED_APPS, "channels"]
ASGI_APPLICATION = "myproject.asgi.application"
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
'''

ASGI = '''
import os
from django.core.asgi import get_asgi_application
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
django_asgi_app = get_asgi_application()
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
import myapp.routing
application = ProtocolTypeRouter({"http": django_asgi_app,
    "websocket": AuthMiddlewareStack(URLRouter(myapp.routing.websocket_urlpatterns))})
'''


@pytest.mark.timeout(900)
@pytest.mark.parametrize("retry", ["0", "always"])
def test_a_hidden_checks_secret_never_reaches_a_visible_checks_message(tmp_path, retry):
    tree = copy_tree(STARTER, tmp_path / "tree")
    (tree / "myapp/consumers.py").write_text(CONSUMER)
    (tree / "myapp/routing.py").write_text(ROUTING)
    (tree / "myproject/asgi.py").write_text(ASGI)
    settings = tree / "myproject/settings.py"
    settings.write_text(settings.read_text() + SETTINGS_TAIL)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_consumer_secret.py").write_text(textwrap.dedent(HIDDEN))
    done = run_kit("check", "consumer", "routing", "--project", str(tree), "--json", "-",
                   env={"KIT_HIDDEN_CHECKS": str(hidden), "KIT_BUSY_RETRY": retry})
    report = json.loads(done.stdout)
    routing = next(s for s in report["stages"] if s["id"] == "routing")
    assert not routing["passed"] and "NOTES" in routing["failures"][0]["message"], routing
    assert SECRET not in done.stdout + done.stderr


# The sixth review's attack went between processes: the `consumer` stage's hidden check ran in its checking
# process while the `daphne` stage's daphne (in another sandbox) was still up, and a lock on a file every
# sandbox reads carried the question from one to the other, into daphne's visible failure. Kernel channels
# between sandboxes cannot all be closed, so no learner process of a visible check may live while a hidden
# check runs: grade() starts hidden checks in processes of their own after every visible one has ended.
WHEN = '''
import json, sys, time
from pathlib import Path
from kit.course import catalogue
from kit.grading import grader

calls, run_checks = [], grader.run_checks


def timed(root, stages, *args, part="all", **kwargs):
    begun = time.monotonic()
    try:
        return run_checks(root, stages, *args, part=part, **kwargs)
    finally:
        calls.append([part, [s.id for s in stages], begun, time.monotonic()])


grader.run_checks = timed
report = grader.grade(sys.argv[1], ["consumer", "routing", "daphne"])
print(json.dumps({"calls": calls, "passed": {s.id: s.passed for s in report.stages}}))
'''


@pytest.mark.timeout(900)
def test_hidden_checks_start_after_every_visible_check_of_the_grading_has_ended(tmp_path):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    for name in ("test_consumer_extra.py", "test_daphne_extra.py"):   # when they run is what is tested here
        (hidden / name).write_text("def test_nothing_more():\n    pass\n")
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    env = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"} | {"KIT_HIDDEN_CHECKS": str(hidden)}
    done = subprocess.run([sys.executable, "-c", WHEN, str(tree)], env=env, cwd=KIT_ROOT, capture_output=True,
                          text=True, timeout=800)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    calls, passed = out["calls"], out["passed"]
    visible = [c for c in calls if c[0] == "visible"]
    hiding = [c for c in calls if c[0] == "hidden"]
    assert {s for c in hiding for s in c[1]} == {"consumer", "daphne"}, json.dumps(calls)
    assert visible and not [c for c in calls if c[0] == "all"], calls
    assert min(c[2] for c in hiding) >= max(c[3] for c in visible), calls
    assert passed == {"consumer": True, "routing": True, "daphne": True}, out
