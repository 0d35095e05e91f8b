"""Checkpoint `consumer`: ChatConsumer joins a room's group, broadcasts to it and leaves it.

Served by the host through a router of the kit's own, so this stage does not
depend on the learner's routing, and observed with real WebSocket clients. The
host's channel layer is channels_redis on a Redis of the checker's: the checker
reads the groups there itself and sends to them (support.Layer).
"""

from kit.course.i18n import T
from support import (Layer, Socket, close_all, consumer_app, layer_channels, layer_on_redis, relayed_by_layer,
                     rooms_stay_apart, run)

layer_on_redis()


def test_accepts_connection():
    app = consumer_app()

    async def scenario():
        sock = Socket(app, "lobby")
        await sock.connect()
        await sock.close()

    run(scenario)


def test_sender_gets_own_message():
    app = consumer_app()

    async def scenario():
        alice = Socket(app, "lobby")
        await alice.connect()
        await alice.send("hello from alice")
        got = await alice.receive(T("its own message back"))
        assert got["message"] == "hello from alice", \
            T("The sender got {got} back instead of 'hello from alice'.", got=repr(got['message']))
        await alice.close()

    run(scenario)


def test_everyone_in_room_gets_message():
    app = consumer_app()

    async def scenario():
        async with Layer() as layer:
            alice, bob = Socket(app, "lobby"), Socket(app, "lobby")
            await alice.connect()
            await bob.connect()
            group = await layer.listen(2)  # its failure waits: the frames say more first
            await alice.send("hi bob")
            got_alice = await alice.receive(T("the message it sent"))
            got_bob = await bob.receive(T("the message another socket sent to the room"))
            assert got_bob["message"] == "hi bob", T("The other socket got {got}, not 'hi bob'.",
                                                     got=repr(got_bob['message']))
            assert got_alice["message"] == "hi bob", T("The sender got {got}, not 'hi bob'.",
                                                       got=repr(got_alice['message']))
            await relayed_by_layer(layer, group, [alice, bob], "hi bob")
            await close_all(alice, bob)

    run(scenario)


def test_rooms_are_isolated():
    app = consumer_app()

    async def scenario():
        async with Layer() as layer:
            alice, bob, carol = Socket(app, "lobby"), Socket(app, "lobby"), Socket(app, "kitchen")
            await alice.connect()
            await bob.connect()
            await layer.group_of(2)   # joined (a consumer may accept before it joins): then the lobby's channels
            lobby = await layer_channels(layer)
            await carol.connect()
            await rooms_stay_apart(alice, carol, layer=layer, before=lobby, leaked=T(
                "A socket in room 'kitchen' received a message sent to room 'lobby', or shares a group of the "
                "channel layer with room 'lobby' (which delivers it sooner or later): every room needs a group "
                "of its own."))
            await bob.receive(T("the message sent to its room"))
            await close_all(alice, bob, carol)

    run(scenario)


def test_leaves_group_on_disconnect():
    app = consumer_app()

    async def scenario():
        async with Layer() as layer:
            alice, bob = Socket(app, "lobby"), Socket(app, "lobby")
            await alice.connect()
            await bob.connect()
            group = await layer.joined("lobby", 2)
            await bob.close()
            await layer.left(group, 1)
            await alice.close()

    run(scenario)


def test_frames_are_json_with_message_key():
    app = consumer_app()

    async def scenario():
        alice = Socket(app, "lobby")
        await alice.connect()
        await alice.send("shape check", sender="kit")
        got = await alice.receive(T("a JSON reply"))
        assert isinstance(got["message"], str), T("'message' should be a string, got {kind}.",
                                                  kind=type(got['message']).__name__)
        await alice.close()

    run(scenario)
