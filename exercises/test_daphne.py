"""Checkpoint `daphne`: the project really serves pages and chat under daphne.

A real daphne in the tree's sandbox, listening on a Unix socket (its network is
its own); real `websockets` and HTTP clients in two rooms reach it through the
checker's own forwarder on a free loopback port (kit/services/server.py, kit/services/forward.py).
daphne serves the tree's own myproject.asgi:application (kit/services/daphne_app.py),
whose in-memory channel layer runs on a Redis of the checker's: the checker
finds the room's group there itself, hears the consumer's event in it, and
sends that event to the group, which must come out of every socket of the room
(exercises/support/layer.py Layer). A chat that relays between its own sockets
without the layer fails here.
"""
import urllib.request

import pytest

from kit.grading.explain import log_errors
from kit.course.i18n import T
from kit.services.server import ServerError
from support import (Layer, LiveSocket, apart_on_layer, checker_redis, close_all, fail, host, layer_channels,
                     layer_daphne, no_late_leak, relayed_by_layer, run, server_clue, stop_daphne)


@pytest.fixture(scope="module")
def server():
    """One daphne for the module: the tree's application, its in-memory layer on the checker's Redis."""
    host()  # the host that logs the clients in starts now, beside Redis and daphne, not after them
    daphne = layer_daphne()
    try:
        daphne.start()
    except ServerError as exc:
        fail(f"daphne did not start on this project. {exc}")
    yield daphne
    stop_daphne(daphne)


def get(server, path):
    try:
        with urllib.request.urlopen(server.url + path, timeout=10) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_pages_are_served(server):
    status, body = get(server, "/chat/")
    assert status == 200 and "room-name-input" in body, T("GET /chat/ answered {status}. {clue}", status=status,
                                                          clue=server_clue(server))
    status, body = get(server, "/chat/lobby/")
    assert status == 200 and "chat-log" in body, T("GET /chat/lobby/ answered {status}. {clue}", status=status,
                                                   clue=server_clue(server))


def test_clients_in_one_room_all_receive(server):
    async def scenario():
        async with Layer(checker_redis()) as layer:
            alice, bob = LiveSocket(server, "lobby"), LiveSocket(server, "lobby")
            await alice.connect()
            await bob.connect()
            group = await layer.listen(2)  # its failure waits: the frames say more first
            await alice.send("hello over daphne")
            for said, sock in ((T("The sender got {got}."), alice), (T("The other client got {got}."), bob)):
                got = await sock.receive(T("the room's message"))
                assert got["message"] == "hello over daphne", T(said.template, got=repr(got['message']))
            await relayed_by_layer(layer, group, [alice, bob], "hello over daphne")
            await close_all(alice, bob)

    run(scenario)


def test_two_rooms_stay_apart(server):
    async def scenario():
        async with Layer(checker_redis()) as layer:
            alice, carol = LiveSocket(server, "lobby"), LiveSocket(server, "kitchen")
            await alice.connect()
            await layer.group_of(1)   # joined (a consumer may accept before it joins): then the lobby's channels
            lobby = await layer_channels(layer)
            await carol.connect()
            await alice.send("lobby news")
            await alice.receive(T("its own message"))
            await carol.send("kitchen news")
            first = await carol.receive(T("its own message"))
            assert first["message"] == "kitchen news", T(
                "A client in 'kitchen' received {got} from 'lobby': rooms must not share a group.",
                got=repr(first['message']))
            # Observed on the checker's Redis: a group both rooms' sockets are in delivers sooner or later.
            await apart_on_layer(layer, lobby, leaked=T(
                "A client in 'kitchen' shares a group of the channel layer with 'lobby': rooms must not share a "
                "group."))
            await no_late_leak(carol, "lobby news", leaked=T(
                "A client in 'kitchen' received {got} from 'lobby': rooms must not share a group.",
                got=repr("lobby news")))
            await close_all(alice, carol)

    run(scenario)


def test_room_survives_a_client_leaving(server):
    async def scenario():
        async with Layer(checker_redis()) as layer:
            alice, bob = LiveSocket(server, "lobby"), LiveSocket(server, "lobby")
            await alice.connect()
            await bob.connect()
            group = await layer.joined("lobby", 2)
            await bob.close()
            await layer.left(group, 1)
            await alice.send("still here?")
            got = await alice.receive(T("its message after another client left"))
            assert got["message"] == "still here?"
            await alice.close()

    run(scenario)


def test_server_log_has_no_errors(server):
    assert not log_errors(server.log_text()), \
        T("daphne logged an error while serving the checks. {clue}", clue=server_clue(server))
