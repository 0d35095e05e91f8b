"""Child processes that never outlive their parent, and free loopback ports."""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time

import psutil

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_answers(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.25):
            return True
    except OSError:
        return False


def _die_with_parent() -> None:
    """Runs in the child before exec: a killed parent takes the child with it (Linux).

    SIGKILL, not SIGTERM: a daphne whose loop is stuck in the learner's time.sleep
    never acts on SIGTERM, and nothing the kit starts keeps state worth saving.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass


def spawn(cmd: list[str], **kwargs) -> subprocess.Popen:
    """Start cmd in its own process group, tied to this process's life."""
    return subprocess.Popen(
        cmd, process_group=0, preexec_fn=_die_with_parent, stdin=subprocess.DEVNULL, **kwargs
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
