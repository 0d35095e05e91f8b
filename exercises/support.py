"""What every checkpoint shares: the host that runs the learner's code, plain failures, sockets.

The checks never import the learner's tree. The in-process stages talk to a
host process (kit/host.py) that loads the tree inside the sandbox and answers
over a socket; the live stages talk to daphne. A checkpoint fails with one
sentence a learner can act on, naming the file and line of their code where
it can; never with a wall of traceback.
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from kit import procs, sandbox
from kit.explain import Places, exit_calls

PROJECT = Path(os.environ["KIT_GRADED_PROJECT"]).resolve()
PLACES = Places(PROJECT)
PAGE_ORIGIN = "http://127.0.0.1"           # the origin a page served on 127.0.0.1 sends
WAIT = float(os.environ.get("KIT_WAIT", "5"))  # seconds to wait for something a correct tree does at once
MARGIN = 3.0                               # the host's own bookkeeping, on top of a wait


class LearnerCodeError(AssertionError):
    """A failure caused by the learner's code, already explained in plain words."""


def fail(message: str):
    raise LearnerCodeError(message)


def server_clue(server) -> str:
    """The first error in daphne's log, said in one line with its place in the project, or nothing."""
    return PLACES.server_clue(server.log_text())


def run_in_tree(args: list[str], *, env: dict, timeout: float) -> tuple[int, str, str]:
    """Run `python ARGS` on the learner's tree in its own isolated process: (exit code, stdout, stderr)."""
    isolation = sandbox.for_grading() or sandbox.Isolation("process", "")
    proc = sandbox.spawn([sys.executable, *args], PROJECT, env={"PYTHONPATH": str(PROJECT), **env},
                         isolation=isolation, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        procs.stop_tree(proc, grace=1)
        fail(f"Running your project's code did not finish within {timeout:.0f} s: something at import time "
             "never returns.")
    finally:
        procs.stop_tree(proc, grace=1)
    return proc.returncode, out, err


# -- the host: the learner's code in its own sandboxed process ----------------------
class Host:
    """A client for kit/host.py. Its answers are data; what they mean is decided here."""

    def __init__(self):
        ours, theirs = socket.socketpair()
        self.log = tempfile.TemporaryFile(prefix="kit-host-")
        env = {"KIT_SOURCE_TREE": os.environ.get("KIT_SOURCE_TREE", str(PROJECT))}
        self.process = sandbox.spawn([sys.executable, "-P", "-m", "kit.host", str(theirs.fileno()), str(PROJECT)],
                                     PROJECT, env=env, pass_fds=(theirs.fileno(),), stdout=self.log,
                                     stderr=subprocess.STDOUT)
        theirs.close()
        self.conn = ours
        self.reader = ours.makefile("r", encoding="utf-8")
        self.clues: list[str] = []
        self.numbers = iter(range(1, 1 << 30))
        self.dead = ""
        self.started = False  # the host says "ready" once its libraries are in; read at the first question

    @property
    def alive(self) -> bool:
        return not self.dead and self.process.poll() is None

    def answer(self, limit: float, doing: str) -> dict:
        self.conn.settimeout(limit + MARGIN)
        try:
            line = self.reader.readline()
        except (TimeoutError, socket.timeout):
            line = None
        if not line:
            self.dead = self.why_gone(doing, line is None, limit)
            self.stop()
            fail(self.dead)
        reply = json.loads(line)
        self.clues += reply.get("clues", [])
        if "blocked" in reply:
            self.dead = self.blocked(doing, reply)
            self.stop()
            fail(self.dead)
        return reply

    def call(self, op: str, *, doing: str, limit: float = WAIT * 2, **args) -> dict:
        """One question; a refusal is a plain failure, anything else comes back as data."""
        if not self.dead and self.process.poll() is not None:
            self.dead = self.why_gone(doing, False, limit)
        if self.dead:
            fail(self.dead)
        if not self.started:
            self.answer(WAIT * 6, "Starting Python on your project")
            self.started = True
        request = {"id": next(self.numbers), "op": op, "limit": limit, "doing": doing, **args}
        try:
            self.conn.sendall((json.dumps(request) + "\n").encode())
        except OSError:
            self.dead = self.why_gone(doing, False, limit)
            fail(self.dead)
        reply = self.answer(limit, doing)
        if "error" in reply:
            fail(reply["error"])
        return reply

    def blocked(self, doing: str, reply: dict) -> str:
        place = f"; it was still running {reply['blocked']}" if reply.get("blocked") else ""
        return (f"No answer within {reply['limit']:.0f} s: the code under test never returned{place}. Look for a "
                "loop that never ends, a blocking call (time.sleep, input, requests) in an async method, or an "
                "await on something that never comes.")

    def why_gone(self, doing: str, silent: bool, limit: float) -> str:
        if silent and self.process.poll() is None:
            return (f"No answer within {limit:.0f} s: the code under test never returned. Look for a loop that "
                    "never ends or a blocking call at import time.")
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        exits = exit_calls(PROJECT)
        if exits:
            return (f"The process running your project ended itself (exit code {code}): {exits[0]}. Your code must "
                    "never call sys.exit() or os._exit(); raise an exception instead.")
        return f"The process running your project ended abruptly (exit code {code}) while {doing[0].lower()}{doing[1:]}."

    def take_clues(self) -> list[str]:
        clues, self.clues = self.clues, []
        return clues

    def stop(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        procs.stop_tree(self.process, grace=1)


_host: Host | None = None
_starting = threading.Lock()


def host() -> Host:
    """The host for this checking process, started again if the last one died."""
    global _host
    with _starting:
        if _host is None or not _host.alive:
            if _host is not None:
                _host.stop()
            _host = Host()
        return _host


def start_host_early() -> None:
    """Start the host while pytest collects: its Python start-up then costs nothing.

    From this (the main) thread: a child dies with the thread that started it."""
    host()


def stop_host() -> None:
    if _host is not None:
        _host.stop()


# -- questions about the tree ----------------------------------------------------------
def django_setup() -> None:
    host().call("setup", doing="Loading myproject/settings.py", limit=WAIT * 4)


def setting_values(*names: str) -> dict:
    """The named settings that exist, as data."""
    return host().call("settings", names=list(names), doing="Reading the settings", limit=WAIT * 4)["values"]


class App:
    """An ASGI app inside the host: the whole project, or the learner's consumer behind the kit's router."""

    def __init__(self, kind: str):
        self.host = host()
        self.number = self.host.call("app", kind=kind, doing="Loading your project", limit=WAIT * 4)["app"]


def project_app() -> App:
    return App("project")


def consumer_app(any_room: bool = False) -> App:
    return App("any-room" if any_room else "consumer")


def group_memberships() -> int:
    """How many (group, channel) pairs the host's in-memory layer holds."""
    return host().call("groups", doing="Counting group members")["members"]


# -- running async scenarios ---------------------------------------------------------------
def run(scenario, *, limit: float = 4 * WAIT):
    """Run a scenario; what the host noticed (a blocked loop, a forgotten await) is added to its failure."""
    if _host is not None:
        _host.take_clues()
    try:
        return asyncio.run(_with_limit(scenario, limit))
    except AssertionError as exc:
        clues = _host.take_clues() if _host is not None else []
        message = str(exc)
        if clues and "never returned" not in message:
            message = " ".join([message.split("\nassert ")[0], *clues])
        raise LearnerCodeError(message) from None


async def _with_limit(scenario, limit):
    try:
        return await asyncio.wait_for(scenario(), limit)
    except (asyncio.TimeoutError, TimeoutError):
        fail(f"The scenario did not finish within {limit:.0f} s: something waits forever.")


# -- WebSocket clients for in-process checks ---------------------------------------------
class Socket:
    """A WebsocketCommunicator inside the host, driven from here, explaining failures in the learner's terms."""

    def __init__(self, app: App, room: str, *, path: str | None = None, origin: str = PAGE_ORIGIN):
        self.room = room
        self.path = path or f"/ws/chat/{room}/"
        self.host = app.host  # a socket lives in the host its app was made in, and dies with it
        headers = [["host", "127.0.0.1"], ["origin", origin]]
        self.number = self.host.call("open", app=app.number, path=self.path, headers=headers,
                                     doing="Opening a socket")["socket"]
        self.open = False

    def _call(self, op: str, doing: str, limit: float = WAIT, **args) -> dict:
        return self.host.call(op, socket=self.number, timeout=limit, limit=limit + 1, doing=doing, **args)

    async def try_connect(self) -> tuple[bool, int | None]:
        """The handshake's outcome, refusals included; only silence or a crash fails."""
        reply = self._call("connect", f"Connecting to {self.path} crashed the consumer")
        if reply.get("timeout"):
            fail(f"Connecting to {self.path} got no answer in {WAIT:.0f} s: connect() must end with "
                 "`await self.accept()` (or self.accept() in a sync consumer).")
        self.open = reply["accepted"]
        return reply["accepted"], reply["code"]

    async def connect(self) -> None:
        accepted, code = await self.try_connect()
        if not accepted:
            fail(f"The server refused the socket for {self.path} (close code {code}): "
                 "connect() must accept the connection.")

    async def send(self, message: str, **extra) -> None:
        await self.send_text(json.dumps({"message": message, **extra}))

    async def send_text(self, text: str) -> None:
        self._call("send", "Sending a message crashed the consumer", text=text)

    async def send_bytes(self, data: bytes) -> None:
        self._call("send", "Sending a binary frame crashed the consumer", data=base64.b64encode(data).decode())

    async def receive_output(self, what: str = "a message") -> dict | None:
        """The next raw output ({'type', 'text', 'code', 'data'}), or None after WAIT seconds of silence."""
        reply = self._call("receive", f"While a socket in room '{self.room}' waited for {what}, the consumer crashed")
        return None if reply.get("timeout") else reply["output"]

    async def next_output(self) -> dict | None:
        """Like receive_output, but silence leaves the consumer running (for floods)."""
        reply = self._call("next", "While a socket read a flood's answers, the consumer crashed")
        return None if reply.get("timeout") else reply["output"]

    async def receive(self, what: str = "a message") -> dict:
        """The next frame as a dict; fails plainly on silence, a close, a crash or non-JSON."""
        output = await self.receive_output(what)
        if output is None:
            fail(f"A socket in room '{self.room}' waited {WAIT:.0f} s for {what} and got nothing.")
        if output["type"] == "websocket.close":
            self.open = False
            fail(f"The server closed a socket in room '{self.room}' (code {output.get('code') or 1000}) "
                 f"instead of sending {what}.")
        return parse_frame(output.get("text"), output.get("data"))

    async def close(self) -> None:
        if not self.open:
            return
        self.open = False
        self._call("disconnect", "Closing a socket crashed disconnect()")


def parse_frame(text: str | None, data=None) -> dict:
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


async def close_all(*sockets) -> None:
    for sock in sockets:
        await sock.close()


async def rooms_stay_apart(first, second, *, leaked: str) -> None:
    """first and second are connected sockets in two rooms: a message for the first must not reach the second.

    The second socket's queue is first in, first out: had the first room's
    message leaked into the second room, it would arrive before the second
    socket's own message."""
    await first.send(f"for room {first.room[:30]} only")
    await first.receive("its own message back")
    await second.send(f"for room {second.room[:30]}")
    got = await second.receive("its own message back")
    if got["message"] != f"for room {second.room[:30]}":
        fail(leaked)


# -- WebSocket clients for live checks against a real daphne --------------------------------
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
        except OSError as exc:
            fail(f"Nothing answered at {self.url} ({exc.strerror or exc}). {self.server_clue()}")

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
