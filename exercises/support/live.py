"""WebSocket clients for the live checks, against a real daphne."""
from __future__ import annotations

import asyncio
import json

from kit.course.i18n import T, recall

from .base import fail, server_clue, WAIT
from .users import cookie_header, LEARNER, login
from .sockets import is_history, parse_frame


class SkipHistory:
    """A `websockets` connection whose recv() passes over replayed frames (see is_history)."""

    def __init__(self, connection):
        self.connection = connection

    async def recv(self, *args, **kwargs):
        while True:
            frame = await self.connection.recv(*args, **kwargs)
            if not is_history(frame):
                return frame

    def __getattr__(self, name):
        return getattr(self.connection, name)


class LiveSocket:
    """A `websockets` client on a running daphne that fails in plain words."""

    def __init__(self, server, room: str, *, origin: str | None = None, user: str | None = LEARNER,
                 history: bool = False, path: str | None = None):
        self.server, self.room = server, room
        self.history = history  # False: skip the room's replayed frames
        self.url = f"ws://{server.host}{path}" if path else server.ws_url(room)
        self.origin = origin or server.origin
        self.user = user
        self.connection = None

    def headers(self) -> dict:
        """The session cookie of the user this client chats as (daphne reads the same database)."""
        return {name.title(): value for name, value in cookie_header(login(self.user, required=False))} \
            if self.user else {}

    async def connect(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        try:
            self.connection = await connect(self.url, origin=self.origin, open_timeout=WAIT,
                                            close_timeout=WAIT, additional_headers=self.headers())
        except InvalidStatus as exc:
            fail(T("daphne refused the WebSocket handshake for {url} with HTTP {status}. {clue}",
                   url=self.url, status=exc.response.status_code, clue=self.server_clue()))
        except (asyncio.TimeoutError, TimeoutError):
            fail(T("daphne did not finish the handshake for {url} in {wait:.0f} s: does connect() accept? {clue}",
                   url=self.url, wait=WAIT, clue=self.server_clue()))
        except OSError as exc:
            fail(T("Nothing answered at {url} ({error}). {clue}", url=self.url, error=str(exc.strerror or exc),
                   clue=self.server_clue()))
        if not self.history:
            self.connection = SkipHistory(self.connection)

    async def send(self, message: str) -> None:
        await self.connection.send(json.dumps({"message": message}))

    async def receive(self, what: str = T("a message")) -> dict:
        from websockets.exceptions import ConnectionClosed

        try:
            frame = await asyncio.wait_for(self.next_frame(), WAIT)
        except (asyncio.TimeoutError, TimeoutError):
            fail(T("A client in room '{room}' waited {wait:.0f} s for {what} and got nothing. {clue}",
                   room=self.room, wait=WAIT, what=recall(what), clue=self.server_clue()))
        except ConnectionClosed as exc:
            fail(T("daphne closed a socket in room '{room}' (code {code}) instead of sending {what}. {clue}",
                   room=self.room, code=exc.rcvd.code if exc.rcvd else 'none', what=recall(what),
                   clue=self.server_clue()))
        if isinstance(frame, bytes):
            return parse_frame(None, frame)
        return parse_frame(frame)

    async def next_frame(self):
        """The next frame; replayed ones are passed over unless this client asked for them."""
        while True:
            frame = await self.connection.recv()
            if self.history or not is_history(frame):
                return frame

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
            self.connection = None

    def server_clue(self) -> str:
        return server_clue(self.server)
