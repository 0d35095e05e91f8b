"""Where the learner's code runs when it is graded: a bubblewrap sandbox when the machine allows one.

Inside the sandbox a learner process sees a read-only system, Python, the
kit's virtual environment and the `kit` package (not `solutions/`, not the
checks, not hidden checks, not other trees); its own scratch tree, writable;
a private /tmp; loopback networking, so the checks reach daphne; a clean
environment; and a PID namespace, so whatever it starts, daemons in a new
session included, dies with it. Where bubblewrap cannot run, grading still
works with process isolation alone, and every report says which was in force.

`KIT_SANDBOX=off` forces process isolation; `KIT_REQUIRE_SANDBOX=1` (CI)
makes a missing sandbox an error instead of a fallback.
"""
from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import procs

KIT_PACKAGE = Path(__file__).resolve().parent
FILE_SIZE_LIMIT = 64 * 1024 * 1024   # one file (a log, a flood of output) may not fill the disk
SANDBOX_UID = 65534                  # "nobody" inside the sandbox's user namespace
ENV_PASSED = ("LANG", "LC_ALL", "TZ")
NETWORK_PRIVATE = False              # learner sandboxes get a network namespace of their own


class SandboxUnavailable(RuntimeError):
    """KIT_REQUIRE_SANDBOX is set but no sandbox works on this machine."""


@dataclass(frozen=True)
class Isolation:
    kind: str        # "bubblewrap" or "process"
    detail: str      # one sentence for reports

    @property
    def sandboxed(self) -> bool:
        return self.kind == "bubblewrap"

    def describe(self) -> str:
        return f"{self.kind}: {self.detail}"

    def command(self, cmd: list[str], tree: Path, env: dict[str, str], *, binds=(),
                network_private: bool = NETWORK_PRIVATE) -> list[str]:
        """cmd as it must be started for the learner's tree.

        binds: (host folder, folder inside, writable) of the stage's services (a Unix socket's folder);
        network_private: a network namespace of its own, so no loopback service of the machine is reachable."""
        if not self.sandboxed:
            return cmd
        # The interpreter by a plain path: a "tests/../.venv" spelling crosses folders the sandbox does not show.
        program = os.path.abspath(cmd[0]) if os.sep in cmd[0] else cmd[0]
        return [*_bwrap_prefix(Path(tree), env), *_service_args(binds, network_private), program, *cmd[1:]]

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """What the process itself is started with (bubblewrap sets the sandbox's own)."""
        return _clean_env(env) if not self.sandboxed else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """No instructor secret, token or kit setting reaches learner code: only what it needs."""
    env = {name: os.environ[name] for name in ENV_PASSED if name in os.environ}
    env.update({
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": "/tmp", "TMPDIR": "/tmp", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1",
        # The grader's own kit package, wherever it was imported from (only that folder is shown).
        "PYTHONPATH": str(KIT_PACKAGE.parent),
    })
    env.setdefault("LANG", "C.UTF-8")
    env.update(extra)
    return env


def _system_binds() -> list[str]:
    args: list[str] = []
    for top in ("/usr", "/etc", "/opt"):
        if os.path.isdir(top):
            args += ["--ro-bind", top, top]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    return args


def _python_binds() -> list[str]:
    """Python itself, the virtual environment and the kit package: read-only, at their own paths."""
    places = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), KIT_PACKAGE,
              Path(sys.executable).resolve().parent}
    args = []
    for place in sorted(places, key=lambda p: len(p.parts)):
        if not str(place).startswith(("/usr/", "/etc/", "/opt/")):
            args += ["--ro-bind", str(place), str(place)]
    return args


def bwrap() -> str | None:
    """bubblewrap's path: on PATH, or where Debian puts it (a caller may have narrowed PATH)."""
    return shutil.which("bwrap") or next((p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK)), None)


def _bwrap_prefix(tree: Path, env: dict[str, str]) -> list[str]:
    args = [bwrap() or "bwrap", "--die-with-parent", "--new-session",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            *_system_binds(), "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
            *_python_binds(), "--bind", str(tree), str(tree), "--chdir", str(tree), "--clearenv"]
    for name, value in _clean_env(env).items():
        args += ["--setenv", name, value]
    return args


def _service_args(binds, network_private: bool) -> list[str]:
    args = ["--unshare-net"] if network_private else []
    for inside in sorted({str(Path(dest).parent) for _, dest, _ in binds}):
        for parent in reversed([inside, *map(str, Path(inside).parents)][:-1]):
            args += ["--dir", parent]  # 0755: the parents bubblewrap makes on its own are 0700
    for source, dest, writable in binds:
        args += ["--bind" if writable else "--ro-bind", str(source), str(dest)]
    return args


def _limits() -> None:
    """Runs in the child before exec: die with the parent, and no file bigger than the limit."""
    procs.die_with_parent()
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass


@functools.lru_cache(maxsize=1)
def detect() -> Isolation:
    """The strongest isolation this machine gives, proved by starting Python inside it."""
    if os.environ.get("KIT_SANDBOX", "").lower() in ("off", "0", "no", "none"):
        # Asked for by name, so not the silent fallback KIT_REQUIRE_SANDBOX guards against.
        return Isolation("process", "KIT_SANDBOX=off asked for process isolation only; learner code ran as "
                                    "separate processes only, which can read what this user can read")
    if not sys.platform.startswith("linux"):
        return _fallback(f"no sandbox on {sys.platform}")
    if not bwrap():
        return _fallback("bubblewrap (bwrap) is not installed; on Debian: apt-get install bubblewrap")
    probe = Isolation("bubblewrap", "")
    scratch = Path(os.environ.get("TMPDIR", "/tmp"))
    cmd = probe.command([sys.executable, "-S", "-c", "pass"], scratch, {})
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=probe.environment({}),
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _fallback(f"bubblewrap did not start ({exc})")
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return _fallback(f"bubblewrap cannot run here ({reason})")
    return Isolation("bubblewrap", "learner code ran in a bubblewrap sandbox: read-only kit, no view of "
                                   "solutions or checks, own PID namespace, clean environment")


def _fallback(reason: str) -> Isolation:
    if os.environ.get("KIT_REQUIRE_SANDBOX") == "1":
        raise SandboxUnavailable(f"KIT_REQUIRE_SANDBOX=1 but {reason}.")
    return Isolation("process", f"{reason}; learner code ran as separate processes only, which can read "
                                "what this user can read")


def for_grading() -> Isolation | None:
    """The isolation in force when this process checks a tree for points (the grader says so), else None."""
    kind = os.environ.get("KIT_GRADING_ISOLATION")
    if not kind:
        return None
    return Isolation(kind, os.environ.get("KIT_GRADING_ISOLATION_DETAIL", ""))


def spawn(cmd: list[str], tree: Path, *, env: dict[str, str] | None = None,
          isolation: Isolation | None = None, binds=(), **popen) -> subprocess.Popen:
    """Start learner code (cmd) for tree, isolated as well as this machine allows (binds: see command)."""
    chosen = isolation or detect()
    extra = dict(env or {})
    if "KIT_SOURCE_TREE" in os.environ:  # lets the kit's tests find what a check left running
        extra.setdefault("KIT_SOURCE_TREE", os.environ["KIT_SOURCE_TREE"])
    return subprocess.Popen(chosen.command(cmd, tree, extra, binds=binds), cwd=tree, env=chosen.environment(extra),
                            process_group=0, preexec_fn=_limits, stdin=subprocess.DEVNULL,
                            close_fds=True, **popen)
