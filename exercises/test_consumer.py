"""Checkpoint `consumer`: ChatConsumer joins a room's group, broadcasts to it and leaves it.

Graded in the host with channels.testing and a fresh in-memory layer, through
a router of the kit's own, so this stage does not depend on the learner's routing.
"""

from kit.i18n import T
from support import Socket, close_all, consumer_app, group_memberships, rooms_stay_apart, run


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
        alice, bob = Socket(app, "lobby"), Socket(app, "lobby")
        await alice.connect()
        await bob.connect()
        await alice.send("hi bob")
        got_alice = await alice.receive(T("the message it sent"))
        got_bob = await bob.receive(T("the message another socket sent to the room"))
        assert got_bob["message"] == "hi bob", T("The other socket got {got}, not 'hi bob'.", got=repr(got_bob['message']))
        assert got_alice["message"] == "hi bob", T("The sender got {got}, not 'hi bob'.", got=repr(got_alice['message']))
        await close_all(alice, bob)

    run(scenario)


def test_rooms_are_isolated():
    app = consumer_app()

    async def scenario():
        alice, bob, carol = Socket(app, "lobby"), Socket(app, "lobby"), Socket(app, "kitchen")
        for sock in (alice, bob, carol):
            await sock.connect()
        await rooms_stay_apart(alice, carol, leaked=T(
            "A socket in room 'kitchen' received a message sent to room 'lobby': every room needs a group of "
            "its own."))
        await bob.receive(T("the message sent to its room"))
        await close_all(alice, bob, carol)

    run(scenario)


def test_leaves_group_on_disconnect():
    app = consumer_app()

    async def scenario():
        alice, bob = Socket(app, "lobby"), Socket(app, "lobby")
        await alice.connect()
        await bob.connect()
        members = group_memberships()
        assert members == 2, T(
            "Two open sockets should mean two group members, the layer holds {members}: "
            "connect() must call group_add(group, self.channel_name).", members=members)
        await bob.close()
        assert group_memberships() == 1, T(
            "After a socket closed, its channel is still in the group: disconnect() must call "
            "group_discard(group, self.channel_name).")
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
