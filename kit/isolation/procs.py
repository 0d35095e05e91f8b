"""Child processes that never outlive their parent, and free loopback ports."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import psutil

_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def socket_folder_base() -> str:
    """Where a folder for a Unix socket goes: TMPDIR when short, else /tmp.

    A Unix socket's path stops at 107 bytes; under a deep TMPDIR (pytest's per-test folders under xdist
    reach 75) the socket could not be reached, and Redis or daphne would seem not to start."""
    base = tempfile.gettempdir()
    return base if len(base.encode()) <= 48 or not os.path.isdir("/tmp") else "/tmp"


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.25):
            return True
    except OSError:
        return False


def _prctl(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except OSError:
        return False


def adopt_orphans() -> bool:
    """Make this process the one that inherits its descendants' orphans (Linux).

    A learner process that double-forks into a new session would otherwise be
    re-parented to init, out of reach of stop_tree; as a subreaper, this
    process still finds it among its children and stops it.
    """
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def child_pids() -> set[int]:
    """The pids of this process's children right now."""
    try:
        return {child.pid for child in psutil.Process().children()}
    except psutil.NoSuchProcess:
        return set()


def reap_adopted(known: set[int]) -> int:
    """Collect the exit status of dead orphans this process adopted (adopt_orphans), leaving the children
    in `known` (those it had before, such as a lesson's daphne) to their owners. Without this, every
    sandbox process reparented here stays a zombie ("[bwrap] <defunct>") until this process exits."""
    reaped = 0
    try:
        children = psutil.Process().children()
    except psutil.NoSuchProcess:
        return 0
    for child in children:
        if child.pid in known:
            continue
        try:
            if child.status() == psutil.STATUS_ZOMBIE and os.waitpid(child.pid, os.WNOHANG)[0]:
                reaped += 1
        except (psutil.NoSuchProcess, ChildProcessError, OSError):
            continue
    return reaped


def keep_private() -> bool:
    """Other processes of this user may not read this one's memory, environment or open files."""
    return _prctl(_PR_SET_DUMPABLE, 0)


def stop_children(marked: tuple[str, str] | None = None, grace: float = 2.0) -> None:
    """Stop this process's children and their trees; with marked=(name, value), only those whose
    environment holds that variable (so a notebook's own server survives its kernel's grading)."""
    try:
        children = psutil.Process().children()
    except psutil.NoSuchProcess:
        return
    for child in children:
        if marked is not None:
            try:
                if child.environ().get(marked[0]) != marked[1] or "KIT_CHECKER" in child.environ():
                    continue
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        stop_tree(child.pid, grace=grace)


def die_with_parent() -> None:
    """Runs in the child before exec: a killed parent takes the child with it (Linux).

    SIGKILL, not SIGTERM: a daphne whose loop is stuck in the learner's time.sleep
    never acts on SIGTERM, and nothing the kit starts keeps state worth saving.
    """
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(cmd: list[str], **kwargs) -> subprocess.Popen:
    """Start cmd in its own process group, tied to this process's life."""
    return subprocess.Popen(
        cmd, process_group=0, preexec_fn=die_with_parent, stdin=subprocess.DEVNULL, **kwargs
    )


def stop_tree(proc: subprocess.Popen | int, grace: float = 5.0) -> None:
    """SIGTERM the process and all its descendants, then SIGKILL what is left."""
    pid = proc if isinstance(proc, int) else proc.pid
    try:
        root = psutil.Process(pid)
        family = root.children(recursive=True) + [root]
    except psutil.NoSuchProcess:
        family = []
    for member in family:
        try:
            member.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(family, timeout=grace)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)
    if not isinstance(proc, int):
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass


def wait_until(predicate, timeout: float, interval: float = 0.02) -> bool:
    """Poll predicate until it is true or timeout passes; no fixed sleeps elsewhere."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def kit_processes(marker: str) -> list[psutil.Process]:
    """Live processes whose command line mentions marker (used by tests and cleanup)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "pid"]):
        try:
            if proc.pid != os.getpid() and marker in " ".join(proc.info["cmdline"] or []):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found
