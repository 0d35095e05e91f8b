"""Checkpoint `routing`: ws/chat/<room_name>/ reaches ChatConsumer through the whole ASGI app."""
import pytest

from support import Socket, close_all, load, run, use_in_memory_layer


def full_app():
    patterns = getattr(load("myapp.routing"), "websocket_urlpatterns", None)
    assert patterns is not None, "myapp/routing.py has no websocket_urlpatterns."
    assert list(patterns), "websocket_urlpatterns is empty: add a route for ws/chat/<room_name>/."
    application = load("myproject.asgi").application
    use_in_memory_layer()
    return application


@pytest.mark.hint("re_path(r'ws/chat/(?P<room_name>\\w+)/$', consumers.ChatConsumer.as_asgi())")
def test_chat_path_is_routed():
    app = full_app()

    async def scenario():
        sock = Socket(app, "lobby")
        await sock.connect()
        await sock.send("routed")
        got = await sock.receive("its message back through the router")
        assert got["message"] == "routed"
        await sock.close()

    run(scenario)


@pytest.mark.hint("Room names may hold letters, digits and underscores: use \\w+ or <str:room_name>.")
def test_room_names_with_digits_and_underscores():
    app = full_app()

    async def scenario():
        sock = Socket(app, "room_42")
        await sock.connect()
        await sock.close()

    run(scenario)


@pytest.mark.hint("Capture the room as the keyword room_name and pass .as_asgi(), not the class.")
def test_route_passes_room_name():
    app = full_app()

    async def scenario():
        alice, carol = Socket(app, "lobby"), Socket(app, "kitchen")
        await alice.connect()
        await carol.connect()
        await alice.send("lobby only")
        await alice.receive("its own message")
        await carol.send("kitchen only")
        first = await carol.receive("its own message")
        assert first["message"] == "kitchen only", (
            "Two different room paths reached the same group: the route must hand the room name to the consumer.")
        await close_all(alice, carol)

    run(scenario)
