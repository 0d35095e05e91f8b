"""`asgi` and `daphne` are graded on a real daphne, through a channel layer the checker owns.

The relay: a settings.py that swaps django.core.asgi.ASGIHandler for an app
of its own, so that the starter's asgi.py (`application =
get_asgi_application()`) serves it, under the host and under daphne alike. It
is a ProtocolTypeRouter whose websocket side is a hand-written chat (a dict of
open sockets per room, no channel layer) that also answers the kit's probe
path with the frame a correct router's probe would send. asgi.py, the
consumer and the routes stay TODO. When the host's probe answered the `asgi`
checks and daphne's chat was judged by frames alone, this scored 10/10 on
each (review 1). Now `asgi` is graded by the kit's probe route, which goes first
in every URLRouter daphne's process builds and must join a group on the
checker's Redis, and `daphne` by the room's group there: both score 0.

Baselines: solutions/ full marks on both stages, the starter 0.
"""
from __future__ import annotations

import json
import textwrap

import pytest

from conftest import SOLUTIONS, STARTER, copy_tree, grade_json, stage
from kit.isolation import sandbox
from leaks import leftovers
from test_forgery import LIMITS, kit_fingerprint

STAGES = ("asgi", "daphne")

ASGI_HANDLER_RELAY = textwrap.dedent('''
    import json
    import django.core.asgi as _handlers
    if not getattr(_handlers, "kit_relay", False):
        from channels.routing import ProtocolTypeRouter
        _Django = _handlers.ASGIHandler
        _rooms = {}

        async def _sockets(scope, receive, send):
            parts = scope["path"].strip("/").split("/")
            await receive()
            await send({"type": "websocket.accept"})
            if parts[:2] == ["ws", "kit-probe"]:   # what the kit's probe said when the frame was the proof
                await send({"type": "websocket.send", "text": json.dumps(
                    {"token": parts[2], "user": "kit-learner", "has_user": True})})
                while (await receive())["type"] != "websocket.disconnect":
                    pass
                return
            members = _rooms.setdefault(parts[-1], [])
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

        class _Relay(ProtocolTypeRouter):
            def __init__(self):
                super().__init__({"http": _Django(), "websocket": _sockets})

        _handlers.ASGIHandler = _Relay
        _handlers.kit_relay = True
''')


@pytest.fixture(autouse=True)
def needs_sandbox():
    if not sandbox.detect().sandboxed:
        pytest.fail(f"No sandbox on this machine ({sandbox.detect().detail}): install bubblewrap.")


def grade(tree, tmp_path, **env) -> dict:
    return grade_json(tree, *STAGES, env=dict(LIMITS, TMPDIR=str(tmp_path), **env))


@pytest.mark.parametrize("mode", ["sandbox", "off"], ids=["sandbox", "no-sandbox"])
def test_an_asgi_handler_swapped_for_a_relay_scores_zero_on_asgi_and_daphne(tmp_path, mode):
    """The relay needs no escape, so a sandbox is no part of the defence: what is observed is."""
    tree = copy_tree(STARTER, tmp_path / "relay")
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text(encoding="utf-8") + "\n" + ASGI_HANDLER_RELAY, encoding="utf-8")
    before = kit_fingerprint()
    report = grade(tree, tmp_path, **({"KIT_SANDBOX": "off"} if mode == "off" else {}))
    text = json.dumps(report)
    assert report["score"] == 0, f"the relay forged {report['score']} points: {text[:3000]}"
    # The relay took hold: its sockets chat (the starter's refuse every handshake), and the router it
    # claims to be hides the starter's ASGIHandler from the host's answer.
    daphne = stage(report, "daphne")
    assert not daphne["passed"] and "group of the channel layer" in json.dumps(daphne["failures"]), daphne
    asgi = stage(report, "asgi")
    message = asgi["failures"][0]["message"]
    assert not asgi["passed"] and "URLRouter" in message and "ASGIHandler" not in message, asgi
    assert leftovers(tree) == [], "the relay left processes running"
    assert kit_fingerprint() == before, "the relay changed the kit's files"


def test_solutions_get_full_marks_and_the_starter_none(tmp_path):
    solved = grade(copy_tree(SOLUTIONS, tmp_path / "solutions"), tmp_path)
    assert solved["score"] == solved["max_score"] > 0, json.dumps(solved)[:3000]
    starter = grade(copy_tree(STARTER, tmp_path / "starter"), tmp_path)
    assert starter["score"] == 0, json.dumps(starter)[:3000]
    # The starter's failures are the honest ones: no router, and daphne refusing sockets.
    assert "ASGIHandler" in stage(starter, "asgi")["failures"][0]["message"]


LATE_LEAK = textwrap.dedent('''\
    import asyncio, json
    from channels.generic.websocket import AsyncWebsocketConsumer


    class ChatConsumer(AsyncWebsocketConsumer):
        """Every room's messages reach every other room, 1.5 s late (after an order check has looked)."""

        async def connect(self):
            self.room_group_name = f"chat_{self.scope['url_route']['kwargs']['room_name']}"
            await self.channel_layer.group_add(self.room_group_name, self.channel_name)
            await self.channel_layer.group_add("everyone", self.channel_name)
            await self.channel_layer.group_add("everyone", "decoy.never-read")
            await self.accept()

        async def disconnect(self, code):
            await self.channel_layer.group_discard(self.room_group_name, self.channel_name)
            await self.channel_layer.group_discard("everyone", self.channel_name)

        async def receive(self, text_data=None, bytes_data=None):
            event = {"type": "chat.message", "message": json.loads(text_data)["message"], "room": self.room_group_name}
            await self.channel_layer.group_send(self.room_group_name, event)
            asyncio.get_running_loop().call_later(1.5, lambda: asyncio.ensure_future(
                self.channel_layer.group_send("everyone", dict(event, leak=True))))

        async def chat_message(self, event):
            if event.get("leak") and event["room"] == self.room_group_name:
                return
            await self.send(text_data=json.dumps({"message": event["message"]}))
''')


def test_a_room_that_leaks_late_fails_every_stage_that_keeps_rooms_apart(tmp_path):
    """Rooms proven apart by order only let a leak sent after the check through (third review): each such
    check then watches the other room a while."""
    tree = copy_tree(SOLUTIONS, tmp_path / "late-leak")
    (tree / "myapp" / "consumers.py").write_text(LATE_LEAK)
    report = grade_json(tree, "consumer", "routing", "daphne", env=dict(LIMITS, KIT_BUSY_RETRY="0"))
    assert report["score"] == 0, json.dumps(report)[:2000]
    assert stage(report, "daphne")["failures"][0]["test"] == "test_two_rooms_stay_apart", json.dumps(report)[:2000]


PROBE_COPY = textwrap.dedent('''\
    import asyncio, os, re
    from channels_redis.core import RedisChannelLayer

    LAYER = RedisChannelLayer(hosts=[{"address": os.environ.get("KIT_LAYER_REDIS", ""), "socket_timeout": None}],
                              prefix="kit")


    async def application(scope, receive, send):
        """No ProtocolTypeRouter, URLRouter or AuthMiddlewareStack: a copy of what the kit's probe does."""
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        token = re.search(r"kit-probe/([0-9a-f]+)/", scope["path"])
        await receive()
        channel = await LAYER.new_channel()
        await LAYER.group_add(f"kit-probe.{token[1] if token else '0'}.anonymous", channel)
        await send({"type": "websocket.accept"})
        got, event = asyncio.ensure_future(LAYER.receive(channel)), asyncio.ensure_future(receive())
        await asyncio.wait([got, event], return_when=asyncio.FIRST_COMPLETED)
        if got.done():
            await send({"type": "websocket.send", "text": got.result().get("text", "")})
            await event
        got.cancel()
''')


def test_an_app_that_copies_the_probe_without_sessions_fails_asgi(tmp_path):
    """Third review: with django.contrib.sessions gone no log-in works, and 'anonymous' passed for the
    AuthMiddlewareStack it never wrote. The log-in must work for the auth check to pass."""
    tree = copy_tree(STARTER, tmp_path / "probe-copy")
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text().replace('    "django.contrib.sessions",\n', ""))
    (tree / "myproject" / "asgi.py").write_text(PROBE_COPY)
    report = grade_json(tree, "asgi", env=dict(LIMITS, KIT_BUSY_RETRY="0"))
    assert report["score"] == 0, json.dumps(report)[:2000]
