"""Start daphne on a project tree: free port, readiness probe, captured log, clean stop.

Checkpoints, the CLI and the notebooks all use this one launcher.

For a learner (`kit serve`, notebooks) daphne listens on a free 127.0.0.1 port.
When a tree is graded, daphne runs in the tree's sandbox, whose network is its
own (kit/isolation/sandbox.py): nothing on the machine's loopback is reachable from it,
and it cannot listen there either. It listens on a Unix socket in a folder this
process made, shown in the sandbox at SANDBOX_FOLDER; this process reaches it
through a forwarder of its own on a free 127.0.0.1 port (kit/services/forward.py), so
`url`, `ws_url` and the browser work as before.

    with DaphneServer(project) as server:
        print(server.url, server.ws_url("lobby"))
"""
from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.isolation import learner, procs, sandbox
from kit.services.forward import Forwarder, connect_unix
from kit.course.project import django_env, validate

ASGI_APP = "myproject.asgi:application"
READY_TIMEOUT = float(os.environ.get("KIT_DAPHNE_READY_TIMEOUT", "30"))
SANDBOX_FOLDER = "/run/kit/daphne"   # where a graded daphne sees the folder of its socket
SOCKET_NAME = "daphne.sock"


_LOGS: list[Path] = []   # daphne logs outlive stop() (messages quote them), not the process


@atexit.register
def _remove_logs() -> None:
    for path in _LOGS:
        path.unlink(missing_ok=True)


def _socket_answers(path: str) -> bool:
    try:
        connect_unix(path, timeout=0.25).close()
        return True
    except OSError:
        return False


def _give_to_learner(folder: str) -> None:
    """The folder of daphne's socket is the learner user's when the grader is root: daphne creates the socket."""
    who = learner.account()
    if who is not None:
        os.chown(folder, who.uid, who.gid)


class ServerError(RuntimeError):
    """daphne could not be started; the message says why and shows its log."""


class DaphneServer:
    """One daphne process serving one project tree on 127.0.0.1."""

    def __init__(self, project: str | os.PathLike, *, port: int | None = None,
                 env: dict | None = None, ready_timeout: float = READY_TIMEOUT,
                 extra_args: tuple[str, ...] = (), binds=(), app: str = ASGI_APP):
        self.project = validate(project)
        self.app = app  # graded stages may serve kit.services.daphne_app, which imports the tree's ASGI_APP itself
        self.requested_port = port
        self.port: int | None = None
        self.extra_env = dict(env or {})
        self.ready_timeout = ready_timeout
        self.extra_args = tuple(extra_args)
        self.binds = tuple(binds)  # when graded: the stage's services, shown inside the sandbox (kit/isolation/sandbox.py)
        self.process: subprocess.Popen | None = None
        self.started_in: float | None = None
        self.socket_path: str | None = None    # graded: daphne's Unix socket, as this process sees it
        self._folder: str | None = None
        self._forwarder: Forwarder | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="kit-daphne-", suffix=".log", delete=False)
        self.log_path = Path(self._log.name)
        _LOGS.append(self.log_path)

    # -- addresses -------------------------------------------------------
    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def origin(self) -> str:
        """The Origin a page served by this server sends with its WebSocket handshake."""
        return self.url

    def ws_url(self, room: str) -> str:
        return f"ws://{self.host}/ws/chat/{room}/"

    # -- life cycle ------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> "DaphneServer":
        if self.running:
            return self
        isolation = sandbox.for_grading()
        if isolation:
            return self._start_graded(isolation)
        attempts = 1 if self.requested_port else 3
        for attempt in range(attempts):
            self.port = self.requested_port or procs.free_port()
            if self.requested_port and procs.port_answers(self.port):
                raise ServerError(f"Port {self.port} is already in use: stop what is using it or pick another port.")
            begun = time.monotonic()
            self._spawn()
            if procs.wait_until(lambda: not self.running or procs.port_answers(self.port),
                                self.ready_timeout):
                if self.running:
                    self.started_in = time.monotonic() - begun
                    return self
                if "Address already in use" in self.log_text() and attempt + 1 < attempts:
                    continue  # another program took the port between our probe and daphne's bind
                raise ServerError(self._explain(f"daphne exited with code {self.process.returncode} before it listened."))
            self.stop()
            raise ServerError(self._explain(
                f"daphne did not listen on port {self.port} within {self.ready_timeout:.0f} s: "
                "something at import time (settings.py, asgi.py, routing, consumers) blocks or loops."))
        raise ServerError(self._explain("daphne could not bind a port."))

    def _start_graded(self, isolation: sandbox.Isolation) -> "DaphneServer":
        """daphne on a Unix socket in the tree's sandbox; this process's forwarder gives it a loopback port."""
        self._folder = tempfile.mkdtemp(prefix="kit-daphne-", dir=procs.socket_folder_base())
        _give_to_learner(self._folder)
        inside = SANDBOX_FOLDER if isolation.sandboxed else self._folder
        self.socket_path = os.path.join(self._folder, SOCKET_NAME)
        # Without a sandbox the folder is "bound" where it is: the learner user is still let through to it.
        binds = [*self.binds, (self._folder, inside, True)]
        cmd = [sys.executable, "-m", "daphne", "-u", f"{inside}/{SOCKET_NAME}", *self.extra_args, self.app]
        self._log.write(f"$ {' '.join(['daphne', *cmd[3:]])}\n".encode())   # as a learner types it
        self._log.flush()
        begun = time.monotonic()
        env = {"PYTHONPATH": str(self.project), **self.extra_env}
        self.process = sandbox.spawn(cmd, self.project, env=env, isolation=isolation, binds=binds,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        if not procs.wait_until(lambda: not self.running or _socket_answers(self.socket_path), self.ready_timeout):
            self.stop()
            raise ServerError(self._explain(
                f"daphne did not listen within {self.ready_timeout:.0f} s: "
                "something at import time (settings.py, asgi.py, routing, consumers) blocks or loops."))
        if not self.running:
            code = self.process.returncode
            self.stop()
            raise ServerError(self._explain(f"daphne exited with code {code} before it listened."))
        self._forwarder = Forwarder(self.socket_path).start()
        self.port = self._forwarder.port
        self.started_in = time.monotonic() - begun
        return self

    def _spawn(self) -> None:
        # As a learner types it, in the tree: nothing sets DJANGO_SETTINGS_MODULE but the tree's own asgi.py.
        cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
               *self.extra_args, self.app]
        self._log.write(f"$ {' '.join(['daphne', *cmd[3:]])}\n".encode())   # as a learner types it
        self._log.flush()
        env = django_env(self.project)
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env.update(self.extra_env)
        self.process = procs.spawn(cmd, cwd=self.project, env=env, stdout=self._log,
                                   stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is not None:
            procs.stop_tree(self.process)
        if self._forwarder is not None:
            self._forwarder.stop()
            self._forwarder = None
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> "DaphneServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self):
        try:
            self.stop()
        except Exception:
            pass

    # -- log -------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def _explain(self, what: str) -> str:
        tail = self.log_tail()
        return f"{what}\n--- last lines of daphne's log ---\n{tail}" if tail else what

    def __repr__(self) -> str:
        state = f"running at {self.url}" if self.running else "stopped"
        return f"<DaphneServer {self.project.name} {state}>"
