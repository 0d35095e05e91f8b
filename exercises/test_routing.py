"""Checkpoint `routing`: ws/chat/<room_name>/ reaches ChatConsumer through the whole ASGI app.

Observed with real WebSocket clients on the host's socket, through the
learner's own asgi.py: the chat path is accepted and broadcasts through a group
the checker reads and sends to on its own Redis (support.Layer), a path outside
ws/chat/ is refused. The routes' text, asked of the host, only explains a failure.
"""
from kit.course.i18n import T
from support import (Layer, Socket, close_all, fail, host, layer_channels, layer_on_redis, project_app,
                     relayed_by_layer, rooms_stay_apart, run)

layer_on_redis()


def full_app():
    patterns = host().call("patterns", doing=T("Loading myapp/routing.py"))
    assert patterns["exists"], T("myapp/routing.py has no websocket_urlpatterns.")
    assert patterns["routes"], T("websocket_urlpatterns is empty: add a route for ws/chat/<room_name>/.")
    return project_app()


async def connect_or_explain(app, room: str) -> Socket:
    """Connect to ws/chat/<room>/; when no route matches, say what the routes lack."""
    sock = Socket(app, room)
    try:
        await sock.connect()
    except AssertionError as exc:
        if "No route found" not in str(exc):
            raise
        bare = Socket(app, room, path=f"/ws/chat/{room}")
        routes = ", ".join(host().call("patterns", doing=T("Loading myapp/routing.py"))["routes"])
        try:
            await bare.connect()
        except AssertionError:
            fail(T("No route matches the path ws/chat/{room}/: your websocket_urlpatterns are {routes}. Patterns "
                   "have no leading slash, start with ws/chat/, capture room_name and end with a slash.",
                   room=room, routes=routes))
        await bare.close()
        fail(T("Your route matches ws/chat/{room} but not ws/chat/{room}/ (the page's path): the trailing slash "
               "is missing from {routes}.", room=room, routes=routes))
    return sock


def test_chat_path_is_routed():
    app = full_app()

    async def scenario():
        async with Layer() as layer:
            await routed(app, layer)

    run(scenario)


async def routed(app, layer) -> None:
    """Two sockets of a room through the learner's route: they broadcast through a group on the layer."""
    alice = await connect_or_explain(app, "lobby")
    bob = await connect_or_explain(app, "lobby")
    group = await layer.listen(2)  # its failure waits: the frames say more first
    await alice.send("routed")
    got = await alice.receive(T("its message back through the router"))
    assert got["message"] == "routed", T("Through the router, the sender got {got} back.", got=repr(got['message']))
    try:
        heard = await bob.receive(T("a message another socket in its room sent through the router"))
    except AssertionError:
        fail(T("Through your route, the sender got its message back but another socket in the same room heard "
             "nothing: the route reaches a consumer that does not broadcast. Route ws/chat/<room_name>/ to "
             "ChatConsumer, which sends to the room's group."))
    assert heard["message"] == "routed", T(
        "Another socket in the room got {got}: the route must reach the chat consumer, "
        "which broadcasts to the room.", got=repr(heard['message']))
    await relayed_by_layer(layer, group, [alice, bob], "routed")
    await close_all(alice, bob)
    stray = Socket(app, "lobby", path="/ws/elsewhere/lobby/")
    try:
        accepted, _ = await stray.try_connect()
    except AssertionError:
        accepted = False  # no route matched: the router refused it
    if accepted:
        await stray.close()
        fail(T("A socket to ws/elsewhere/lobby/ was accepted too: route only ws/chat/<room_name>/ to the chat "
               "consumer."))


def test_room_names_with_digits_and_underscores():
    app = full_app()

    async def scenario():
        sock = await connect_or_explain(app, "room_42")
        await sock.close()

    run(scenario)


def test_route_passes_room_name():
    app = full_app()

    async def scenario():
        async with Layer() as layer:
            alice = await connect_or_explain(app, "lobby")
            await layer.group_of(1)   # joined (a consumer may accept before it joins): then the lobby's channels
            lobby = await layer_channels(layer)
            carol = await connect_or_explain(app, "kitchen")
            await rooms_stay_apart(alice, carol, layer=layer, before=lobby, leaked=T(
                "Two different room paths reached the same group: the route must hand the room name to the "
                "consumer."))
            await close_all(alice, carol)

    run(scenario)
