"""Tests of the chat consumer, through real (in-memory) sockets: what it does, never how it is written.

Run them from the folder holding manage.py:  python -m pytest myapp/tests -q
Each test drives the consumer with channels.testing.WebsocketCommunicator
inside asyncio.run(): plain test functions, no pytest plugin needed.
"""
import asyncio
import json
import os
import uuid

import django
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
os.environ["REDIS_URL"] = ""  # the tests own their layer: in memory, in this process
django.setup()

from django.db import connection  # noqa: E402

# The tests' own database, migrated, in memory: users and saved messages live there, never in db.sqlite3.
connection.creation.create_test_db(verbosity=0, serialize=False)

from channels.db import database_sync_to_async  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from channels.routing import URLRouter  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402

from myapp.routing import websocket_urlpatterns  # noqa: E402

# The routes alone: the tests are about the consumer, not asgi.py's Origin check or sessions.
application = URLRouter(websocket_urlpatterns)


RUN = ""  # a new value for each test (fresh_rooms): every test talks in rooms of its own


@pytest.fixture(autouse=True)
def fresh_rooms():
    """A room with a history (stage 11) would greet a joiner with the last test's messages first."""
    global RUN
    RUN = uuid.uuid4().hex[:8]


async def joined(room: str, username: str = "alice") -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, f"/ws/chat/{room}-{RUN}/")
    # Who the socket is, as AuthMiddlewareStack would say it: a user saved in the tests' database,
    # so a consumer that saves each message with its author (stage 11) can.
    socket.scope["user"], _ = await database_sync_to_async(User.objects.get_or_create)(username=username)
    connected, _ = await socket.connect()
    assert connected, f"a socket to room {room} was refused"
    return socket


async def say(socket: WebsocketCommunicator, text: str) -> None:
    await socket.send_to(text_data=json.dumps({"message": text}))


async def heard(socket: WebsocketCommunicator) -> dict:
    return json.loads(await socket.receive_from(timeout=2))


def members() -> int:
    """(group, channel) pairs the in-memory layer holds: 0 once every socket has left."""
    return sum(len(channels) for channels in get_channel_layer().groups.values())


def test_sender_hears_its_own_message():
    async def scenario():
        alice = await joined("lobby")
        await say(alice, "hello")
        assert (await heard(alice))["message"] == "hello"
        await alice.disconnect()

    asyncio.run(scenario())


def test_everyone_in_the_room_hears_it():
    async def scenario():
        alice, bob = await joined("lobby"), await joined("lobby", "bob")
        await say(alice, "hi bob")
        assert (await heard(bob))["message"] == "hi bob"
        assert (await heard(alice))["message"] == "hi bob"
        await alice.disconnect()
        await bob.disconnect()

    asyncio.run(scenario())


def test_rooms_stay_apart():
    async def scenario():
        alice, carol = await joined("lobby"), await joined("kitchen", "carol")
        await say(alice, "lobby only")
        assert (await heard(alice))["message"] == "lobby only"
        assert await carol.receive_nothing(timeout=0.3)
        await alice.disconnect()
        await carol.disconnect()

    asyncio.run(scenario())


def test_a_socket_leaves_its_group_on_disconnect():
    async def scenario():
        before = members()
        alice = await joined("lobby")
        assert members() == before + 1
        await alice.disconnect()
        assert members() == before

    asyncio.run(scenario())


def test_a_frame_that_is_not_json_gets_an_error_and_the_socket_stays():
    async def scenario():
        alice, bob = await joined("lobby"), await joined("lobby", "bob")
        await alice.send_to(text_data="this is not JSON")
        assert "error" in await heard(alice)
        assert await bob.receive_nothing(timeout=0.3)
        await say(alice, "still here")
        assert (await heard(alice))["message"] == "still here"
        await alice.disconnect()
        await bob.disconnect()

    asyncio.run(scenario())


def test_a_non_ascii_room_works():
    async def scenario():
        adda = await joined("আড্ডা")
        await say(adda, "নমস্কার")
        assert (await heard(adda))["message"] == "নমস্কার"
        await adda.disconnect()

    asyncio.run(scenario())
