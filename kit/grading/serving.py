"""The host's small ASGI server: the learner's app answering real HTTP and WebSocket clients.

The checks observe the learner's code only through what a real client
receives, so the host (kit/grading/host.py) serves its apps on a listening Unix socket
that the checker made in a folder of its own and handed over: the checker
connects there with ordinary clients (kit/grading/host.py says which app by the
X-Kit-App header, and names each socket by X-Kit-Socket so a crash can be
explained). It behaves as daphne does where the checks can tell: a socket the
app closes before accepting is refused with HTTP 403, an app that raises
before accepting gets HTTP 500, and one that raises later has its socket
closed with code 1011.
"""
from __future__ import annotations

import asyncio
import http
from urllib.parse import unquote

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response
from websockets.protocol import State

LIMIT = 1 << 20            # bytes of one frame or one response body: the checker reads no more either
KIT_HEADER = "x-kit-"      # the checker's own headers: never shown to the learner's app


class Link:
    """One ASGI connection: the app's task and the two queues between it and the socket."""

    def __init__(self, app, scope: dict, number: str):
        self.number = number
        self.inbound: asyncio.Queue = asyncio.Queue()
        self.outbound: asyncio.Queue = asyncio.Queue()
        self.closing = False
        self.connection = None
        self.task = asyncio.ensure_future(app(scope, self.inbound.get, self.outbound.put))
        self.task.add_done_callback(lambda _: self.outbound.put_nowait(None))  # wakes whoever waits for output

    def left(self) -> bool:
        """The socket is closing or closed (the client's close() may return before the reader hears of it)."""
        return self.closing or (self.connection is not None and self.connection.state is not State.OPEN)

    def crash(self) -> BaseException | None:
        if self.task.done() and not self.task.cancelled():
            return self.task.exception()
        return None


class Server:
    """choose(X-Kit-App value) -> an ASGI app or None; crashed(socket number, exception) records a crash."""

    def __init__(self, sock, choose, crashed):
        self.sock, self.choose, self.crashed = sock, choose, crashed
        self.links: set[Link] = set()

    async def start(self) -> None:
        self.server = await serve(self.handler, sock=self.sock, process_request=self.process_request,
                                  ping_interval=None, compression=None, max_size=LIMIT, server_header=None)

    # -- the handshake, or a plain HTTP request ------------------------------------------
    async def process_request(self, connection, request):
        app = self.choose(request.headers.get("X-Kit-App", ""))
        number = request.headers.get("X-Kit-Socket", "")
        if app is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "No such app.\n")
        if "websocket" not in request.headers.get("Upgrade", "").lower():
            return await self.http(app, scope_of(request, "http"), connection, number)
        link = Link(app, scope_of(request, "websocket"), number)
        await link.inbound.put({"type": "websocket.connect"})
        first = await self.first_output(link, connection)
        if first is not None and first.get("type") == "websocket.accept":
            connection.kit_link, link.connection = link, connection
            return None
        crash = link.crash()
        if crash is not None:
            self.crashed(number, crash)
            return connection.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, "Server error.\n")
        link.closing = True
        self.links.add(link)
        await link.inbound.put({"type": "websocket.disconnect", "code": 1006})
        return connection.respond(http.HTTPStatus.FORBIDDEN, "Access denied.\n")

    @staticmethod
    async def first_output(link: Link, connection) -> dict | None:
        """The app's first message, or None when it ended or the client gave up waiting."""
        getting = asyncio.ensure_future(link.outbound.get())
        await asyncio.wait([getting, connection.connection_lost_waiter], return_when=asyncio.FIRST_COMPLETED)
        if not getting.done():
            getting.cancel()
            link.task.cancel()
            return None
        return getting.result()

    async def http(self, app, scope: dict, connection, number: str):
        start: dict = {}
        body: list[bytes] = []
        done = asyncio.Event()
        asked = False

        async def receive():
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                if sum(map(len, body)) < LIMIT:
                    body.append(bytes(message.get("body", b""))[:LIMIT])
                if not message.get("more_body"):
                    done.set()

        task = asyncio.ensure_future(app(scope, receive, send))
        waiting = asyncio.ensure_future(done.wait())
        await asyncio.wait([task, waiting, connection.connection_lost_waiter], return_when=asyncio.FIRST_COMPLETED)
        done.set()
        waiting.cancel()
        if not start or not isinstance(start.get("status"), int):
            if task.done() and not task.cancelled() and task.exception() is not None:
                self.crashed(number, task.exception())
            else:
                task.cancel()
            return connection.respond(http.HTTPStatus.INTERNAL_SERVER_ERROR, "Server error.\n")
        status = start["status"]
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        headers = Headers([(bytes(k).decode("latin-1"), bytes(v).decode("latin-1"))
                           for k, v in start.get("headers", [])])
        headers["Connection"] = "close"
        return Response(status, reason, headers, b"".join(body))

    # -- an accepted socket -------------------------------------------------------------
    async def handler(self, connection) -> None:
        link = getattr(connection, "kit_link", None)
        if link is None:
            return
        self.links.add(link)
        reader = asyncio.ensure_future(self.read(connection, link))
        try:
            while (message := await link.outbound.get()) is not None:
                try:
                    if message["type"] == "websocket.send":
                        data = message.get("bytes")
                        await connection.send(data if data is not None else message.get("text") or "")
                    elif message["type"] == "websocket.close":
                        await connection.close(message.get("code") or 1000, message.get("reason") or "")
                except ConnectionClosed:
                    pass  # the client left; the app hears websocket.disconnect from the reader
            crash = link.crash()
            if crash is not None:
                self.crashed(link.number, crash)
            await connection.close(1011 if crash is not None else 1000)
        finally:
            reader.cancel()
            link.closing = True

    @staticmethod
    async def read(connection, link: Link) -> None:
        try:
            async for data in connection:
                key = "text" if isinstance(data, str) else "bytes"
                await link.inbound.put({"type": "websocket.receive", key: data})
        except ConnectionClosed:
            pass
        link.closing = True
        await link.inbound.put({"type": "websocket.disconnect", "code": connection.close_code or 1006})


def scope_of(request, kind: str) -> dict:
    raw_path, _, query = request.path.partition("?")
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1"))
               for name, value in request.headers.raw_items() if not name.lower().startswith(KIT_HEADER)]
    scope = {"type": kind, "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
             "scheme": "ws" if kind == "websocket" else "http", "path": unquote(raw_path),
             "raw_path": raw_path.encode("latin-1"), "query_string": query.encode("latin-1"), "root_path": "",
             "headers": headers, "client": ["127.0.0.1", 0], "server": ["127.0.0.1", 80]}
    if kind == "websocket":
        offered = request.headers.get("Sec-WebSocket-Protocol", "")
        scope["subprotocols"] = [p.strip() for p in offered.split(",") if p.strip()]
    else:
        scope["method"] = "GET"
    return scope
