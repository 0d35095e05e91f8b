"""A TCP port on 127.0.0.1 that forwards every connection to a Unix socket, for as long as its owner runs.

When a tree is graded, its daphne runs in a sandbox with a network of its own
and listens on a Unix socket in a folder the checker made (kit/services/server.py).
The checks' own clients and the browser (Chromium speaks TCP only) reach it
through this forwarder: a thread of the checking process, so it dies with it.

    with Forwarder(socket_path) as forwarder:
        urlopen(f"http://127.0.0.1:{forwarder.port}/")
"""
from __future__ import annotations

import asyncio
import errno
import os
import socket
import stat
import threading

CHUNK = 64 * 1024


class Pinned:
    """A socket file opened without following a link, and a fresh AF_UNIX socket to connect to it.

    The folder of daphne's socket is the learner's (daphne creates the socket there): a link planted in its
    place could send this process, often root, to any socket of the machine. So the path is opened with
    O_PATH | O_NOFOLLOW, must be a socket, and is connected through /proc/self/fd: that very inode, no race."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
        if not stat.S_ISSOCK(os.fstat(self.fd).st_mode):
            os.close(self.fd)
            raise OSError(errno.ENOTSOCK, "not a socket", path)
        self.address = f"/proc/self/fd/{self.fd}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)

    def done(self, connected: bool) -> None:
        os.close(self.fd)
        if not connected:
            self.sock.close()


def connect_unix(path: str, timeout: float = 1.0) -> socket.socket:
    """A blocking connection to the socket at path itself, never to where a link there points (Pinned)."""
    pinned = Pinned(path)
    connected = False
    try:
        pinned.sock.settimeout(timeout)
        pinned.sock.connect(pinned.address)
        connected = True
        return pinned.sock
    finally:
        pinned.done(connected)


class Forwarder:
    """127.0.0.1:<free port> -> a Unix socket, served by an asyncio loop in a daemon thread."""

    def __init__(self, path: str):
        self.path = str(path)
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()

    def start(self) -> "Forwarder":
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                self._server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as exc:  # said to start(), in the caller's thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=serve, name=f"kit-forward {self.path}", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]
        return self

    async def _handle(self, client_reader, client_writer) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            try:
                server_reader, server_writer = await _open(self.path)
            except OSError:
                client_writer.close()
                return
            await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))
            for writer in (server_writer, client_writer):
                writer.close()
        finally:
            self._tasks.discard(task)

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            loop.call_later(0.05, loop.stop)  # the cancelled connections close their sockets first

        try:
            loop.call_soon_threadsafe(close)
        except RuntimeError:  # the loop is already closed
            pass
        thread.join(timeout=5)
        self._thread = self._loop = self._server = None

    def __enter__(self) -> "Forwarder":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


async def _open(path: str):
    pinned = Pinned(path)
    connected = False
    try:
        pinned.sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(pinned.sock, pinned.address)
        connected = True
    finally:
        pinned.done(connected)
    return await asyncio.open_unix_connection(sock=pinned.sock)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until its end; the end is passed on (half-close), so HTTP and WebSocket close cleanly."""
    try:
        while True:
            data = await reader.read(CHUNK)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()  # one side broke: the other learns it at once rather than waiting
