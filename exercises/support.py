"""What every checkpoint shares: loading the learner's code, plain-language failures, sockets.

A checkpoint fails with one sentence a learner can act on, naming the file and
line of their code where it can; never with a wall of traceback.
"""
from __future__ import annotations

import asyncio
import gc
import importlib
import json
import logging
import os
import traceback
import warnings
from pathlib import Path

PROJECT = Path(os.environ["KIT_GRADED_PROJECT"]).resolve()
PAGE_ORIGIN = "http://127.0.0.1"           # the origin a page served on 127.0.0.1 sends
WAIT = float(os.environ.get("KIT_WAIT", "5"))  # seconds to wait for something a correct tree does at once


class LearnerCodeError(AssertionError):
    """A failure caused by the learner's code, already explained in plain words."""


# -- explaining failures ---------------------------------------------------
KNOWN_CAUSES = (
    ("No handler for message type", "the event's 'type' names a method: 'chat.message' calls chat_message(self, event). "
                                    "Check the spelling on both sides."),
    ("No route found for path", "no pattern in websocket_urlpatterns matches this path: patterns start with 'ws/chat/' "
                                "(no leading slash) and capture room_name."),
    ("'url_route'", "the consumer was reached without URLRouter: wrap the patterns in URLRouter(...)."),
    ("room_name", "the route must capture a keyword argument named room_name."),
    ("You cannot call this from an async context", "a synchronous call (ORM, async_to_sync) ran inside an async "
                                                   "method: await the async version instead."),
    ("Group name must be", "group names allow only ASCII letters, digits, hyphens, underscores and periods, "
                           "under 100 characters."),
    ("Channel layer", "CHANNEL_LAYERS is missing or wrong in settings.py."),
    ("can only handle ASGI/HTTP connections", "asgi.py sends WebSockets to Django's HTTP handler: make application "
                                              "a ProtocolTypeRouter with a 'websocket' entry."),
    ("Connection refused", "a service the settings name (Redis?) is not running: set REDIS_URL to a running Redis "
                           "or use the in-memory layer."),
)


def where(exc: BaseException) -> str:
    """'myapp/consumers.py, line 12 (in receive)' for the deepest frame in the learner's tree."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return _relative(exc.filename, exc.lineno)
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _in_project(f.filename)]
    if frames:
        return f"{_relative(frames[-1].filename, frames[-1].lineno)} (in {frames[-1].name})"
    if exc.__cause__ or exc.__context__:
        return where(exc.__cause__ or exc.__context__)
    return ""


def explain(exc: BaseException, doing: str) -> str:
    """One paragraph: what we were doing, what went wrong, where, and a known cause if any."""
    if isinstance(exc, LearnerCodeError):
        return str(exc)
    if isinstance(exc, SyntaxError):
        text = f"{doing}: syntax error in {where(exc)}: {exc.msg}"
        return text + (f"\n    {exc.text.strip()}" if exc.text else "")
    detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    place = where(exc)
    text = f"{doing}: {detail}" + (f" at {place}" if place else "")
    for needle, cause in KNOWN_CAUSES:
        if needle in str(exc):
            return f"{text}. Likely cause: {cause}"
    return text + "."


def _in_project(filename: str) -> bool:
    try:
        Path(filename).resolve().relative_to(PROJECT)
        return True
    except ValueError:
        return False


def _relative(filename: str, lineno: int | None) -> str:
    try:
        name = Path(filename).resolve().relative_to(PROJECT).as_posix()
    except ValueError:
        name = filename
    return f"{name}, line {lineno}" if lineno else name


def fail(message: str):
    raise LearnerCodeError(message)


# -- loading the learner's code ---------------------------------------------
def django_setup() -> None:
    """django.setup() on the graded tree; a broken settings.py becomes one plain failure."""
    import django
    from django.conf import settings

    if settings.configured and getattr(django_setup, "done", False):
        return
    try:
        django.setup()
    except BaseException as exc:  # SystemExit from a settings file counts too
        fail(explain(exc, "Loading myproject/settings.py failed"))
    django_setup.done = True


def load(module: str):
    """Import a module of the learner's tree with a plain failure message."""
    django_setup()
    try:
        return importlib.import_module(module)
    except BaseException as exc:
        fail(explain(exc, f"Importing {module} failed"))


def use_in_memory_layer() -> None:
    """In-process checks use a fresh in-memory layer whatever the settings say."""
    from channels.layers import channel_layers
    from django.conf import settings

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends = {}


def group_memberships() -> int:
    """How many (group, channel) pairs the in-memory layer holds."""
    from channels.layers import get_channel_layer

    return sum(len(channels) for channels in get_channel_layer().groups.values())


# -- running async scenarios --------------------------------------------------
class _SlowCallbacks(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record):
        text = record.getMessage()
        if "took" in text and "seconds" in text:
            self.seen.append(text)


def run(scenario, *, limit: float = 4 * WAIT):
    """Run an async scenario in a fresh loop; a blocked loop or a forgotten await is named."""
    slow = _SlowCallbacks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(slow)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return asyncio.run(_with_limit(scenario, limit), debug=True)
        except AssertionError as exc:
            gc.collect()
            raise LearnerCodeError(_with_clues(str(exc), slow.seen, caught)) from None
        except BaseException as exc:
            gc.collect()
            if isinstance(exc, (KeyboardInterrupt, SystemExit)) or type(exc).__name__ == "Failed":
                raise
            raise LearnerCodeError(_with_clues(explain(exc, "The consumer crashed"), slow.seen, caught)) from None
        finally:
            logger.removeHandler(slow)


async def _with_limit(scenario, limit):
    asyncio.get_running_loop().slow_callback_duration = 0.5
    try:
        return await asyncio.wait_for(scenario(), limit)
    except (asyncio.TimeoutError, TimeoutError):
        fail(f"The scenario did not finish within {limit:.0f} s: something waits forever.")


def _with_clues(message: str, slow: list[str], caught) -> str:
    clues = []
    if slow:
        clues.append("The event loop was blocked (" + slow[0].split(" took ")[-1] + "): a blocking call such as "
                     "time.sleep, requests or a sync ORM query inside an async method stops every socket. "
                     "Use await asyncio.sleep / async libraries / database_sync_to_async.")
    for item in caught:
        text = str(item.message)
        if "was never awaited" in text:
            clues.append(f"Python warned: {text}. Put `await` before that call.")
            break
    return " ".join([message, *clues])


# -- WebSocket clients for in-process checks ---------------------------------
class Socket:
    """A WebsocketCommunicator that explains, in the learner's terms, what went wrong."""

    def __init__(self, app, room: str, *, path: str | None = None, origin: str = PAGE_ORIGIN):
        from channels.testing import WebsocketCommunicator

        self.room = room
        self.path = path or f"/ws/chat/{room}/"
        headers = [(b"host", b"127.0.0.1"), (b"origin", origin.encode())]
        self.communicator = WebsocketCommunicator(app, self.path, headers=headers)
        self.open = False

    async def connect(self) -> None:
        try:
            accepted, code = await self.communicator.connect(timeout=WAIT)
        except (asyncio.TimeoutError, TimeoutError):
            fail(f"Connecting to {self.path} got no answer in {WAIT:.0f} s: connect() must end with "
                 "`await self.accept()` (or self.accept() in a sync consumer).")
        except AssertionError as exc:
            fail(f"Connecting to {self.path} got an unexpected reply: {exc}")
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            fail(explain(exc, f"Connecting to {self.path} crashed the consumer"))
        if not accepted:
            fail(f"The server refused the socket for {self.path} (close code {code}): "
                 "connect() must accept the connection.")
        self.open = True

    async def send(self, message: str, **extra) -> None:
        await self.send_text(json.dumps({"message": message, **extra}))

    async def send_text(self, text: str) -> None:
        try:
            await self.communicator.send_to(text_data=text)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            fail(explain(exc, "Sending a message crashed the consumer"))

    async def receive(self, what: str = "a message") -> dict:
        """The next frame as a dict; fails plainly on silence, a close, a crash or non-JSON."""
        try:
            output = await self.communicator.receive_output(timeout=WAIT)
        except (asyncio.TimeoutError, TimeoutError):
            fail(f"A socket in room '{self.room}' waited {WAIT:.0f} s for {what} and got nothing.")
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            fail(explain(exc, f"While a socket in room '{self.room}' waited for {what}, the consumer crashed"))
        if output["type"] == "websocket.close":
            self.open = False
            fail(f"The server closed a socket in room '{self.room}' (code {output.get('code', 1000)}) "
                 f"instead of sending {what}.")
        return parse_frame(output.get("text"), output.get("bytes"))

    async def close(self) -> None:
        if not self.open:
            return
        self.open = False
        try:
            await self.communicator.disconnect(timeout=WAIT)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            fail(explain(exc, "Closing a socket crashed disconnect()"))


def parse_frame(text: str | None, data: bytes | None = None) -> dict:
    """The contract's frame: a JSON object with a 'message' key."""
    if text is None:
        fail("The server sent a binary frame; send text: self.send(text_data=json.dumps({...})).")
    try:
        value = json.loads(text)
    except ValueError:
        fail(f"The server sent {text[:60]!r}, which is not JSON: send json.dumps({{'message': ...}}).")
    if not isinstance(value, dict) or "message" not in value:
        fail(f"The server sent {text[:60]!r}: each frame must be a JSON object with a 'message' key.")
    return value


async def close_all(*sockets: Socket) -> None:
    for sock in sockets:
        await sock.close()


# -- WebSocket clients for live checks against a real daphne -----------------
class LiveSocket:
    """A `websockets` client on a running daphne that fails in plain words."""

    def __init__(self, server, room: str, *, origin: str | None = None):
        self.server, self.room = server, room
        self.url = server.ws_url(room)
        self.origin = origin or server.origin
        self.connection = None

    async def connect(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        try:
            self.connection = await connect(self.url, origin=self.origin, open_timeout=WAIT,
                                            close_timeout=WAIT)
        except InvalidStatus as exc:
            fail(f"daphne refused the WebSocket handshake for {self.url} with HTTP "
                 f"{exc.response.status_code}. {self.server_clue()}")
        except (asyncio.TimeoutError, TimeoutError):
            fail(f"daphne did not finish the handshake for {self.url} in {WAIT:.0f} s: "
                 f"does connect() accept? {self.server_clue()}")

    async def send(self, message: str) -> None:
        await self.connection.send(json.dumps({"message": message}))

    async def receive(self, what: str = "a message") -> dict:
        from websockets.exceptions import ConnectionClosed

        try:
            frame = await asyncio.wait_for(self.connection.recv(), WAIT)
        except (asyncio.TimeoutError, TimeoutError):
            fail(f"A client in room '{self.room}' waited {WAIT:.0f} s for {what} and got nothing. "
                 f"{self.server_clue()}")
        except ConnectionClosed as exc:
            fail(f"daphne closed a socket in room '{self.room}' (code {exc.rcvd.code if exc.rcvd else 'none'}) "
                 f"instead of sending {what}. {self.server_clue()}")
        if isinstance(frame, bytes):
            return parse_frame(None, frame)
        return parse_frame(frame)

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
            self.connection = None

    def server_clue(self) -> str:
        return server_clue(self.server)


def server_clue(server) -> str:
    """The first error in daphne's log, said in one line with its place in the project, or nothing."""
    lines = server.log_text().splitlines()
    for index, line in enumerate(lines):
        if "Traceback" not in line and "Exception inside application" not in line:
            continue
        block = [line]
        for entry in lines[index + 1:]:
            if entry[:1].isdigit() and block[-1][:1] not in (" ", "T"):
                break  # the next log or access line
            block.append(entry)
        error = next((e for e in reversed(block) if e.strip() and not e.startswith(" ")), line)
        error = error.split("Exception inside application: ")[-1].rstrip(".")
        frames = [e.strip() for e in block if e.strip().startswith("File ") and str(PROJECT) in e]
        place = frames[-1].replace(str(PROJECT) + os.sep, "") if frames else ""
        text = f"daphne's log says: {error}" + (f" ({place})" if place else "")
        cause = next((c for needle, c in KNOWN_CAUSES if needle in error), "")
        return f"{text}. Likely cause: {cause}" if cause else text
    return ""
