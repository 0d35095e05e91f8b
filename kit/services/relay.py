"""The `testing` checkpoint's consumers, served from a process of their own to a learner's suite next door.

The learner's suite must tell the kit's correct consumers from its broken ones by what they do. Run in the
suite's own process, a consumer's compiled code is there to read (a frame's locals while it loads,
`ChatConsumer.receive.__code__`), and Python cannot hide code from code in the same interpreter. So the
consumers under test run here, in a sandboxed process the checker starts (exercises/test_testing.py), and
the suite's process gets only a stand-in: `myapp.consumers.ChatConsumer`, whose `as_asgi()` is an ASGI app
that relays each scope and message over a Unix socket to the consumer and back. The suite's process holds
no code of the consumer at all, only what it does.

Both sides use this module: the suite's process loads it by file (so no folder of the tree can shadow it),
and the consumers' process (kit/services/relay_consumers.py) imports it. What crosses, one JSON object a
line (bytes as base64, tuples as lists):
- suite -> consumer: the scope, then each message the communicator puts in (`in`), and the results of the
  channel-layer calls the consumer made (`re`);
- consumer -> suite: each message the consumer sends (`out`), its channel-layer calls (`call`, `cancel`),
  and how it ended (`end`, or `crash` with the exception's class name only).
Choices, and why:
- The channel layer stays in the suite's process, where the lesson's tests use it: the consumer's layer is
  a proxy whose calls run on the suite's own `get_channel_layer()` (in memory, as the lesson's tests make
  it). So `get_channel_layer().groups` counts the consumer's channels, and a `group_send` from a test
  reaches the room, as in one process. A shared Redis would change the lesson's layer, and its `groups`.
- The scope's user crosses as its username, primary key and whether it is authenticated, and comes back
  as a `RelayedUser` with the attributes a consumer reads (`get_username()`, `is_authenticated`); any
  other object in the scope (a session) is dropped. The consumers under test never touch a database (the
  learner's own consumer, which saves messages, runs in the suite's process as before), so the suite's
  in-memory database needs no second view here: no rows cross.
- One process serves every consumer of a grading, each on a listening socket of its own that the checker
  made (one Python start instead of eleven: the stage's speed); a learner run is shown only its own.
"""
from __future__ import annotations

import asyncio
import base64
import json

LINE_LIMIT = 1 << 20   # one relayed line; a longer one ends the connection
LAYER_METHODS = frozenset({"new_channel", "receive", "send", "group_add", "group_discard", "group_send", "flush"})
# Exceptions a layer call raises in the suite's process, raised again by that name in the consumer's
# (the kit's consumers catch OSError around group_send); any other comes back as a RuntimeError.
RAISED_AGAIN = {"TypeError": TypeError, "ValueError": ValueError, "OSError": OSError,
                "ConnectionError": ConnectionError, "KeyError": KeyError, "AssertionError": AssertionError}


# -- the wire -------------------------------------------------------------------------------------
def encode(value, users: bool = False):
    """value as JSON data: bytes tagged, tuples as lists, a user (only in a scope) as its three facts."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray)):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, (list, tuple)):
        return [encode(item, users) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item, users) for key, item in value.items()}
    if users and hasattr(value, "is_authenticated"):
        return {"$user": user_facts(value)}
    return None  # an object the other process could not rebuild (a session): dropped


def user_facts(user) -> dict:
    try:
        authenticated = bool(user.is_authenticated)
        name = user.get_username() if hasattr(user, "get_username") else getattr(user, "username", "")
        pk = getattr(user, "pk", None)
    except Exception:  # noqa: BLE001  (a lazy user whose lookup fails is nobody)
        return {"username": "", "authenticated": False, "pk": None}
    return {"username": str(name or ""), "authenticated": authenticated,
            "pk": pk if isinstance(pk, (int, str)) else None}


def decode(value):
    if isinstance(value, list):
        return [decode(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1 and "$b" in value and isinstance(value["$b"], str):
            return base64.b64decode(value["$b"])
        if len(value) == 1 and "$user" in value and isinstance(value["$user"], dict):
            return RelayedUser(value["$user"])
        return {key: decode(item) for key, item in value.items()}
    return value


def line(message: dict) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


async def read(reader: asyncio.StreamReader) -> dict | None:
    """The next object, or None when the other side hung up or sent what is not one."""
    try:
        data = await reader.readline()
        message = json.loads(data) if data else None
    except (ValueError, RecursionError, ConnectionError):  # over LINE_LIMIT, not JSON, too deep, reset
        return None
    return message if isinstance(message, dict) else None


class RelayedUser:
    """The scope's user as the consumer's process sees it: the facts a consumer reads, and no database."""

    def __init__(self, facts: dict):
        self.username = str(facts.get("username") or "")
        self.is_authenticated = bool(facts.get("authenticated"))
        self.is_anonymous = not self.is_authenticated
        self.pk = self.id = facts.get("pk")

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username or "AnonymousUser"


# -- the suite's side: the stand-in ---------------------------------------------------------------
class ConsumerCrashed(RuntimeError):
    """The consumer under test raised (only the exception's class crosses) or its process went away."""


class StandIn:
    """`myapp.consumers.ChatConsumer` in a testing run: `as_asgi()` relays to the consumer under test."""

    address = ""  # the listening socket of this run's consumer, set by the bootstrap

    @classmethod
    def wait_until_served(cls, limit: float = 60.0) -> None:
        """Blocks until the consumers' process answers (it starts beside the suite): called when the suite imports
        myapp.consumers, so that a test's connect(), given 1 s, never waits for that process to start."""
        import socket

        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(limit)
            try:
                probe.connect(cls.address)
                probe.sendall(line({"ping": True}))
                probe.recv(64)
            except OSError:
                pass  # no answer: the tests will fail on their own, and the checker says why

    @classmethod
    def as_asgi(cls, **initkwargs):
        async def app(scope, receive, send):
            return await relay(cls.address, scope, receive, send)

        app.consumer_class, app.consumer_initkwargs = cls, initkwargs
        return app


async def relay(address: str, scope, receive, send) -> None:
    """One socket's life, run in the suite's event loop: its messages out, the consumer's back."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    # The consumer's channel, made here (one round trip fewer when it connects).
    channel = await layer.new_channel() if layer is not None else None
    reader, writer = await asyncio.open_unix_connection(address, limit=LINE_LIMIT)
    calls: dict[int, asyncio.Future] = {}

    async def pump():
        while True:
            writer.write(line({"in": encode(await receive())}))
            await writer.drain()

    async def call(number, method, args, kwargs):
        try:
            answer = {"re": number, "ok": encode(await getattr(layer, method)(*args, **kwargs))}
        except Exception as exc:  # noqa: BLE001  (the layer's own refusal, raised again on the other side)
            answer = {"re": number, "err": type(exc).__name__, "text": str(exc)[:500]}
        calls.pop(number, None)
        writer.write(line(answer))

    writer.write(line({"scope": encode(dict(scope), users=True), "layer": layer is not None, "channel": channel}))
    pumping = asyncio.ensure_future(pump())
    try:
        while True:
            message = await read(reader)
            if message is None:
                raise ConsumerCrashed("the consumer under test went away")
            if "out" in message:
                await send(decode(message["out"]))
            elif "call" in message and message.get("method") in LAYER_METHODS and layer is not None:
                args, kwargs = decode(message.get("args") or []), decode(message.get("kwargs") or {})
                calls[message["call"]] = asyncio.ensure_future(call(message["call"], message["method"], args, kwargs))
            elif "cancel" in message and message["cancel"] in calls:
                calls.pop(message["cancel"]).cancel()
            elif "end" in message:
                return
            elif "crash" in message:
                raise ConsumerCrashed(f"the consumer under test raised {str(message['crash'])[:80]}")
    finally:
        pumping.cancel()
        for task in calls.values():
            task.cancel()
        writer.close()
