"""The consumers' side of the `testing` checkpoint's relay: the kit's consumers under test, each served on a
listening socket the checker made, in one sandboxed process of their own; their channel layer is a proxy whose
calls run on the suite's own layer (kit/services/relay.py says what crosses and why).

    python -P -m kit.services.relay_consumers FD
"""
from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import os
import sys

from kit.services.relay import LINE_LIMIT, RAISED_AGAIN, decode, encode, line, read


# -- the consumers' side ----------------------------------------------------------------------------
LAYER: contextvars.ContextVar = contextvars.ContextVar("kit_relay_layer", default=None)


class RemoteLayer:
    """The consumer's channel layer: each call runs on the suite's own layer, and its result comes back."""

    extensions = ["groups", "flush"]

    def __init__(self, writer: asyncio.StreamWriter, channel=None):
        self.writer, self.numbers, self.waiting = writer, itertools.count(1), {}
        self.channel = channel if isinstance(channel, str) else None  # made by the stand-in

    async def call(self, method: str, *args, **kwargs):
        number = next(self.numbers)
        future = self.waiting[number] = asyncio.get_running_loop().create_future()
        self.writer.write(line({"call": number, "method": method, "args": encode(list(args)),
                                "kwargs": encode(kwargs)}))
        try:
            return await future
        except asyncio.CancelledError:
            if not self.writer.is_closing():
                self.writer.write(line({"cancel": number}))
            raise
        finally:
            self.waiting.pop(number, None)

    def answer(self, message: dict) -> None:
        future = self.waiting.get(message.get("re"))
        if future is None or future.done():
            return
        if "err" in message:
            kind = RAISED_AGAIN.get(message["err"], RuntimeError)
            future.set_exception(kind(str(message.get("text", ""))[:500]))
        else:
            future.set_result(decode(message.get("ok")))

    async def new_channel(self, prefix="specific."):
        if self.channel is not None:
            channel, self.channel = self.channel, None
            return channel
        return await self.call("new_channel", prefix)

    async def receive(self, channel):
        return await self.call("receive", channel)

    async def send(self, channel, message):
        return await self.call("send", channel, message)

    async def group_add(self, group, channel):
        return await self.call("group_add", group, channel)

    async def group_discard(self, group, channel):
        return await self.call("group_discard", group, channel)

    async def group_send(self, group, message):
        return await self.call("group_send", group, message)

    async def flush(self):
        return await self.call("flush")


async def serve_one(app, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One connection from the suite's stand-in: one consumer instance, until either side ends."""
    first = await read(reader)
    if first is not None and first.get("ping"):
        writer.write(line({"pong": True}))  # the stand-in asks whether this process serves yet
    if first is None or not isinstance(first.get("scope"), dict):
        writer.close()
        return
    layer = RemoteLayer(writer, first.get("channel")) if first.get("layer") else None
    LAYER.set(layer)  # this task's context, copied into the consumer's task below
    inbox: asyncio.Queue = asyncio.Queue()

    async def send(message):
        writer.write(line({"out": encode(message)}))
        await writer.drain()

    async def listen():
        while (message := await read(reader)) is not None:
            if "in" in message:
                inbox.put_nowait(decode(message["in"]))
            elif "re" in message and layer is not None:
                layer.answer(message)

    running = asyncio.ensure_future(app(decode(first["scope"]), inbox.get, send))
    listening = asyncio.ensure_future(listen())
    await asyncio.wait({running, listening}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        failure = running.exception() if not running.cancelled() else None
        writer.write(line({"crash": type(failure).__name__} if failure else {"end": True}))
        listening.cancel()
    else:  # the suite hung up: the consumer goes with its socket
        running.cancel()
    try:
        await writer.drain()
    except ConnectionError:
        pass
    writer.close()


def consumer_app(text: str, number: int):
    """The ASGI app of one consumer under test, from its text (the kit's own, written for this grading)."""
    import types

    module = types.ModuleType(f"kit_consumer_{number}")
    exec(compile(text, "consumers.py", "exec", dont_inherit=True), module.__dict__)
    return module.ChatConsumer.as_asgi()


def set_up() -> None:
    """Django and Channels as the consumers need them: no database, no apps, the layer from LAYER."""
    import django
    from django.conf import settings

    settings.configure(DEBUG=False, INSTALLED_APPS=[], DATABASES={}, USE_TZ=True, LOGGING_CONFIG=None)
    django.setup()
    import channels.consumer

    channels.consumer.get_channel_layer = lambda alias=None: LAYER.get()


def not_dumpable() -> None:
    """No process of the same user reads this one's memory (/proc/PID/mem, ptrace)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError, ImportError):
        pass


async def serve(jobs: list[tuple[int, str]]) -> None:
    servers = []
    for number, (fd, text) in enumerate(jobs):
        import socket

        app = consumer_app(text, number)
        listening = socket.socket(fileno=fd)

        async def one(reader, writer, app=app):
            await serve_one(app, reader, writer)

        servers.append(await asyncio.start_unix_server(one, sock=listening, limit=LINE_LIMIT))
    # Serving: the checker starts the suites now (a lesson's test gives connect() 1 s, start-up included).
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.Event().wait()  # until the checker stops this process


def main(argv: list[str]) -> None:
    """python -P -m kit.services.relay_consumers FD: FD holds JSON [[listening fd, consumer text], ...], read and closed; says
    "ready" on stdout once every socket is served."""
    not_dumpable()
    with os.fdopen(int(argv[0]), "rb") as handle:
        jobs = json.loads(handle.read())
    set_up()
    asyncio.run(serve([(int(fd), str(text)) for fd, text in jobs]))


if __name__ == "__main__":
    main(sys.argv[1:])
