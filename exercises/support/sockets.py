"""WebSocket clients for the in-process checks, and the checks that rooms stay apart."""
from __future__ import annotations

import asyncio
import base64
import json
import time
from urllib.parse import quote

from kit.course.i18n import T, recall

from .base import fail, LINE_LIMIT, PAGE_ORIGIN, WAIT
from .app import _numbers, App
from .users import cookie_header, LEARNER, login


def is_history(text) -> bool:
    """A replayed frame (stage `history`: {"message", "author", "history": true}), sent when a socket joins.

    The checks of other stages never see one: the sockets below skip them unless made with history=True."""
    if not isinstance(text, str) or '"history"' not in text:
        return False
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("history") is True


class Socket:
    """A real WebSocket client on the host's listening socket, explaining failures in the learner's terms.

    What it receives is what the learner's app sent: the host only adds, when a
    socket crashed, where in the learner's code it did (a claim, used only to fail)."""

    def __init__(self, app: App, room: str, *, path: str | None = None, origin: str = PAGE_ORIGIN,
                 user: str | None = LEARNER, history: bool = False):
        self.room = room
        self.history = history  # False: skip the room's replayed frames (see is_history)
        self.path = path or f"/ws/chat/{room}/"
        self.host = app.host  # a socket lives in the host its app was made in, and dies with it
        self.origin = origin
        self.number = next(_numbers)
        self.headers = {"X-Kit-App": str(app.number), "X-Kit-Socket": str(self.number)}
        if user:
            for name, value in cookie_header(login(user, required=False)):  # the tree's one database
                self.headers[name.title()] = value
        self.connection = None
        self.open = False

    def crash(self, doing: str) -> str:
        return self.host.why(self.number, doing)

    async def try_connect(self) -> tuple[bool, int | None]:
        """The handshake's outcome: (True, None) accepted, (False, 403) refused; only silence or a crash fails."""
        from websockets.asyncio.client import unix_connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        doing = T("Connecting to {path} crashed the consumer", path=self.path)
        try:
            self.connection = await unix_connect(
                self.host.address, "ws://127.0.0.1" + quote(self.path, safe="/"), origin=self.origin,
                additional_headers=self.headers, open_timeout=WAIT, close_timeout=WAIT, max_size=LINE_LIMIT,
                ping_interval=None, compression=None)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 403:
                return False, status
            fail(self.crash(doing) or T("Connecting to {path} was answered with HTTP {status}.", path=self.path,
                                        status=status))
        except (asyncio.TimeoutError, TimeoutError):
            fail(self.crash(doing) or T(
                "Connecting to {path} got no answer in {wait:.0f} s: connect() must end with `await self.accept()` "
                "(or self.accept() in a sync consumer).", path=self.path, wait=WAIT))
        except (OSError, InvalidHandshake) as exc:
            fail(self.crash(doing) or T("Connecting to {path} failed: {error}.", path=self.path, error=str(exc)))
        self.open = True
        return True, None

    async def connect(self) -> None:
        accepted, status = await self.try_connect()
        if not accepted:
            fail(T("The server refused the socket for {path} (HTTP {status}): connect() must accept the "
                   "connection.", path=self.path, status=status))

    async def send(self, message: str, **extra) -> None:
        await self.send_text(json.dumps({"message": message, **extra}))

    async def send_text(self, text: str) -> None:
        await self._send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._send(data)

    async def _send(self, data) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self.connection.send(data)
        except ConnectionClosed:
            pass  # the server closed it: the next receive says so

    async def receive_output(self, what: str = T("a message")) -> dict | None:
        """The next raw output ({'type', 'text', 'code', 'data'}), or None after WAIT seconds of silence."""
        from websockets.exceptions import ConnectionClosed

        while True:
            try:
                data = await asyncio.wait_for(self.connection.recv(), WAIT)
            except (asyncio.TimeoutError, TimeoutError):
                return None
            except ConnectionClosed as exc:
                self.open = False
                code = exc.rcvd.code if exc.rcvd else None
                if code in (None, 1006, 1011):
                    why = self.crash(T("While a socket in room '{room}' waited for {what}, the consumer crashed",
                                       room=self.room, what=recall(what)))
                    if why:
                        fail(why)
                return {"type": "websocket.close", "text": None, "code": code or 1006}
            if isinstance(data, bytes):
                return {"type": "websocket.send", "text": None, "code": None,
                        "data": base64.b64encode(data).decode()}
            if self.history or not is_history(data):
                return {"type": "websocket.send", "text": data, "code": None}

    async def next_output(self) -> dict | None:
        """Like receive_output (silence leaves the consumer running either way)."""
        return await self.receive_output(T("a flood's answers"))

    async def receive(self, what: str = T("a message")) -> dict:
        """The next frame as a dict; fails plainly on silence, a close, a crash or non-JSON."""
        output = await self.receive_output(what)
        if output is None:
            fail(T("A socket in room '{room}' waited {wait:.0f} s for {what} and got nothing.",
                   room=self.room, wait=WAIT, what=recall(what)))
        if output["type"] == "websocket.close":
            self.open = False
            fail(T("The server closed a socket in room '{room}' (code {code}) instead of sending {what}.",
                   room=self.room, code=output.get('code') or 1000, what=recall(what)))
        return parse_frame(output.get("text"), output.get("data"))

    async def ping(self) -> float:
        """Seconds from a WebSocket ping to its pong: the server's event loop answers it, so a loop that stands
        still (a blocking call in an async method) shows here, on every socket of the server."""
        begun = time.monotonic()
        try:
            await asyncio.wait_for(await self.connection.ping(), 4 * WAIT)
        except Exception:  # noqa: BLE001  (no pong at all: the loop stood still all that time, or the socket went)
            pass
        return time.monotonic() - begun

    async def close(self) -> None:
        if not self.open:
            return
        self.open = False
        try:
            await self.connection.close()
        except Exception:  # noqa: BLE001  (a server that never answers the close: it is closed on our side)
            pass


def error_of(frame) -> str | None:
    """The text of an error frame ({"error": "..."}), else None: how a server refuses a message (hardening)."""
    try:
        data = json.loads(frame)
    except (TypeError, ValueError):
        return None
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, str) and error.strip() else None


def parse_frame(text: str | None, data=None) -> dict:
    """The contract's frame: a JSON object with a 'message' key."""
    if text is None:
        fail(T("The server sent a binary frame; send text: self.send(text_data=json.dumps({...}))."))
    try:
        value = json.loads(text)
    except ValueError:
        fail(T("The server sent {text}, which is not JSON: send json.dumps({{'message': ...}}).", text=repr(text[:60])))
    if not isinstance(value, dict) or "message" not in value:
        fail(T("The server sent {text}: each frame must be a JSON object with a 'message' key.", text=repr(text[:60])))
    return value


async def close_all(*sockets) -> None:
    for sock in sockets:
        await sock.close()


async def rooms_stay_apart(first, second, *, leaked: str, layer=None, before: set | None = None) -> None:
    """first and second are connected sockets in two rooms: a message for the first must not reach the second.

    The second socket's queue is first in, first out: had the first room's
    message leaked into the second room, it would arrive before the second
    socket's own message; one leaked late (a timer, a task) through a group both
    rooms' sockets are in shows on the checker's layer at once (apart_on_layer:
    `before` holds the channels on it before the second socket connected), and
    any other in no_late_leak."""
    await first.send(f"for room {first.room[:30]} only")
    await first.receive(T("its own message back"))
    await second.send(f"for room {second.room[:30]}")
    got = await second.receive(T("its own message back"))
    if got["message"] != f"for room {second.room[:30]}":
        fail(leaked)
    if layer is not None:
        await apart_on_layer(layer, before or set(), leaked=leaked)
    await no_late_leak(second, f"for room {first.room[:30]} only", leaked=leaked)


async def layer_channels(layer) -> set[str]:
    """Every channel in a group on the checker's layer now."""
    return set().union(*(await layer.groups()).values())


async def apart_on_layer(layer, before: set, *, leaked: str) -> None:
    """Observed on the checker's Redis: no group holds both a channel of `before` (the first room's sockets)
    and one that joined since (the second room's). What a shared group is sent reaches both rooms, however
    late it is sent, so this needs no waiting."""
    groups = await layer.groups()
    since = set().union(*groups.values()) - before
    if any(members & before and members & since for members in groups.values()):
        fail(leaked)


LEAK_WAIT = max(2.5, WAIT / 2)   # seconds a room is watched, after the order check, for another room's message sent late


async def no_late_leak(sock, text: str, *, leaked: str) -> None:
    """Fail with `leaked` if a frame holding text (another room's message) reaches sock within LEAK_WAIT."""
    receive = sock.next_frame if hasattr(sock, "next_frame") else sock.connection.recv
    deadline = time.monotonic() + LEAK_WAIT
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(receive(), left)
        except Exception:  # noqa: BLE001  (silence, or a close that the next check judges)
            return
        if isinstance(frame, str) and text in frame:
            fail(leaked)
