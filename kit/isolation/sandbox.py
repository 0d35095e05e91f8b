"""Where the learner's code runs when it is graded: a bubblewrap sandbox when the machine allows one.

Inside the sandbox a learner process sees a read-only system, Python, the
kit's virtual environment and the `kit` package (not `solutions/`, not the
checks, not hidden checks, not other trees); its own scratch tree, writable;
a private /tmp; a network of its own, so no service on the machine's loopback
is reachable (the stage's services, daphne's and Redis's, come in as Unix
sockets: kit/services/server.py, kit/services/redis.py); a clean environment; and a PID
namespace, so whatever it starts, daemons in a new session included, dies
with it. Where bubblewrap cannot run, grading still
works with process isolation alone, and every report says which was in force.

As root, learner processes run as a real unprivileged user, sandbox or not
(kit/isolation/learner.py). Every learner process is bounded: processes and threads,
memory, file size, and the sandbox's /tmp (the figures below); one that
hits a limit fails with an error of its own, in its own stage. No user
namespace can be made inside the sandbox (bubblewrap 0.8 and later). The
grader bounds a stage as a whole: its scratch tree on disk (DISK_LIMIT,
kit/grading/checker.py's watchdog) and, as root where control groups can be made, the
memory and tasks of all its processes together (stage_group).

`KIT_SANDBOX=off` forces process isolation; `KIT_REQUIRE_SANDBOX=1` (CI)
makes a missing sandbox an error instead of a fallback, and wins over
`KIT_SANDBOX=off`.
"""
from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kit.isolation import learner, procs, seccomp

KIT_PACKAGE = Path(__file__).resolve().parents[1]   # the whole kit package, read-only in a sandbox
FILE_SIZE_LIMIT = 64 * 1024 * 1024   # one file (a log, a flood of output) may not fill the disk
# All of a stage's scratch tree on disk, and its files and folders: the grader watches it (kit/grading/checker.py).
DISK_LIMIT = 256 * 1024 * 1024
DISK_ENTRIES = 20000
# Processes and threads in one sandbox: daphne, Django's thread pool and the learner's pytest need tens.
PROCESS_LIMIT = 512
# Without a sandbox (as root) one count holds all learner processes of the machine: parallel stages share it.
UNSANDBOXED_PROCESS_LIMIT = 1024
ALL_PROCESS_LIMIT = 8192             # with sandboxes (as root): all of them together
MEMORY_LIMIT = 2 * 1024 ** 3         # a process's data (RLIMIT_DATA: threads' reserved space is not counted)
TMP_SIZE = 256 * 1024 * 1024         # the sandbox's /tmp, which lives in memory
SHM_SIZE = 64 * 1024 * 1024          # its /dev/shm (multiprocessing's locks), in memory too
# Last: the sandbox's own root and /dev, in memory and unsized, become read-only once everything is mounted.
SEALED = ("--remount-ro", "/dev", "--remount-ro", "/")
SANDBOX_UID = 65534                  # "nobody" inside the sandbox's user namespace
ENV_PASSED = ("LANG", "LC_ALL", "TZ")
NETWORK_PRIVATE = True               # learner sandboxes get a network namespace of their own


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
                network_private: bool = NETWORK_PRIVATE, seccomp_fd: int | None = None) -> list[str]:
        """cmd as it must be started for the learner's tree.

        binds: (host folder, folder inside, writable) of the stage's services (a Unix socket's folder);
        network_private: a network namespace of its own, so no loopback service of the machine is reachable;
        seccomp_fd: the filter bubblewrap loads (kit/isolation/seccomp.py: no kernel keyrings)."""
        if not self.sandboxed:
            return cmd
        # The interpreter by a plain path: a "tests/../.venv" spelling crosses folders the sandbox does not show.
        program = os.path.abspath(cmd[0]) if os.sep in cmd[0] else cmd[0]
        filtered = ["--seccomp", str(seccomp_fd)] if seccomp_fd is not None else []
        return [*_bwrap_prefix(Path(tree), env), *_service_args(binds, network_private), *filtered, *SEALED,
                *_nproc_args(), program, *cmd[1:]]

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


SYSTEM_TOPS = ("/usr", "/etc", "/opt")   # shown whole, read-only, in every sandbox


def in_system_folder() -> str | None:
    """The kit's folder or the hidden checks' folder, when one lies in a folder every sandbox shows whole."""
    from kit.course.hidden import ENV_VAR

    return shown_whole(KIT_PACKAGE.parent, *([Path(os.environ[ENV_VAR]).expanduser()] if os.environ.get(ENV_VAR) else []))


def shown_whole(*places: Path) -> str | None:
    """The first of places that lies in a folder every sandbox shows whole (SYSTEM_TOPS), resolved, or None."""
    for place in places:
        resolved = Path(place).resolve()
        if any(resolved.is_relative_to(top) for top in SYSTEM_TOPS):
            return str(resolved)
    return None


def _system_binds() -> list[str]:
    args: list[str] = []
    for top in SYSTEM_TOPS:
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
    """bubblewrap's path: on PATH, or where Debian puts it (a caller may have narrowed PATH).

    Resolved: the learner user starts it, and may not pass through a private folder holding a link to it."""
    found = shutil.which("bwrap") or next((p for p in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(p, os.X_OK)), None)
    return os.path.realpath(found) if found else None


def _bwrap_prefix(tree: Path, env: dict[str, str]) -> list[str]:
    args = [bwrap() or "bwrap", "--die-with-parent", "--new-session",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--unshare-user", *_no_userns(), "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
            *_system_binds(), "--proc", "/proc", "--dev", "/dev", *_size(SHM_SIZE), "--tmpfs", "/dev/shm",
            *_size(TMP_SIZE), "--tmpfs", "/tmp",
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


def _size(size: int) -> list[str]:
    """The size of the next --tmpfs (bubblewrap 0.8 and later; older ones mount it unsized)."""
    return ["--size", str(size)] if _sizes() else []


def _no_userns() -> list[str]:
    """No user namespace may be made inside the sandbox (`unshare -U` would give a process every capability
    there: mounts, raw sockets, the kernel code behind them). bubblewrap 0.8 and later; older ones cannot."""
    return ["--disable-userns"] if "--disable-userns" in _usage() else []


def _sizes() -> bool:
    return "--size" in _usage()


@functools.lru_cache(maxsize=1)
def _usage() -> str:
    """bubblewrap's --help: which options this version has."""
    try:
        return subprocess.run([bwrap() or "bwrap", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def prlimit() -> str | None:
    return shutil.which("prlimit") or next((p for p in ("/usr/bin/prlimit", "/bin/prlimit") if os.access(p, os.X_OK)),
                                           None)


def _nproc_args() -> list[str]:
    """The process limit, set inside the sandbox: its user namespace counts its own processes only, so a fork
    bomb in one sandbox leaves the others their share (set outside, it would count all of the user's)."""
    tool = prlimit()
    return [tool, f"--nproc={PROCESS_LIMIT}", "--"] if tool else []


def _limits(processes: int | None) -> None:
    """Runs in the child (already the learner user, when root) before exec: die with the parent, and bounds."""
    procs.die_with_parent()
    bounds = [(resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT), (resource.RLIMIT_CORE, 0),
              (resource.RLIMIT_DATA, MEMORY_LIMIT)]
    if processes:
        bounds.append((resource.RLIMIT_NPROC, processes))
    for which, limit in bounds:
        try:
            soft, hard = resource.getrlimit(which)
            limit = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
            resource.setrlimit(which, (limit, limit))
        except (ValueError, OSError):
            pass


def _start_args(isolation: Isolation) -> dict:
    """Popen's arguments that start learner code: as the learner user when root, bounded (_limits).

    The process limit counts every process of a user: as root (a user of the learner's own) it is set here,
    for all learner processes, and again per sandbox inside it; a grader that is not root sets it only
    inside a sandbox, so its own processes never count against it."""
    dropped = learner.account() is not None
    per_sandbox = isolation.sandboxed and prlimit()
    processes = (ALL_PROCESS_LIMIT if per_sandbox else UNSANDBOXED_PROCESS_LIMIT) if dropped else None
    return {"preexec_fn": functools.partial(_limits, processes), **learner.popen_args()}


def _as_whom(sandboxed: bool) -> str:
    """Whom learner code ran as and its limits, for the report's isolation line."""
    who = learner.account()
    bounds = [f"{MEMORY_LIMIT // 2 ** 30} GiB of data per process", f"{FILE_SIZE_LIMIT // 2 ** 20} MiB per file"]
    if sandboxed:
        bounds = [f"{PROCESS_LIMIT} processes and threads", *bounds] if prlimit() else bounds
        bounds += [f"a {TMP_SIZE // 2 ** 20} MiB /tmp"] if _sizes() else []
    elif who:
        bounds = [f"{UNSANDBOXED_PROCESS_LIMIT} processes and threads for all learner code", *bounds]
    return (f"; as {who.describe()}" if who else "") + "; at most " + ", ".join(bounds)


@functools.lru_cache(maxsize=1)
def detect() -> Isolation:
    """The strongest isolation this machine gives, proved by starting Python inside it."""
    if os.environ.get("KIT_SANDBOX", "").lower() in ("off", "0", "no", "none"):
        if os.environ.get("KIT_REQUIRE_SANDBOX") == "1":
            raise SandboxUnavailable("KIT_REQUIRE_SANDBOX=1 and KIT_SANDBOX=off contradict each other: "
                                     "unset KIT_SANDBOX to grade in the sandbox.")
        # Asked for by name, so not the silent fallback KIT_REQUIRE_SANDBOX guards against.
        return Isolation("process", "KIT_SANDBOX=off asked for process isolation only; learner code ran as "
                                    f"separate processes only, which can read what this user can read"
                                    f"{_as_whom(False)}")
    if not sys.platform.startswith("linux"):
        return _fallback(f"no sandbox on {sys.platform}")
    if not bwrap():
        return _fallback("bubblewrap (bwrap) is not installed; on Debian: apt-get install bubblewrap")
    seen = in_system_folder()
    if seen:
        return _fallback(f"{seen} lies under {', '.join(SYSTEM_TOPS)}, which every sandbox shows whole (learner "
                         "code could read solutions/ and hidden checks there); move it elsewhere, say /srv")
    probe = Isolation("bubblewrap", "")
    try:
        with tempfile.TemporaryDirectory(prefix="kit-probe-") as scratch:
            _prepare(Path(scratch), probe, ())
            cmd = probe.command([sys.executable, "-S", "-c", "pass"], Path(scratch), {})
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, env=probe.environment({}),
                                  stdin=subprocess.DEVNULL, **_start_args(probe))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return _fallback(f"bubblewrap did not start ({exc})")
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return _fallback(f"bubblewrap cannot run here ({reason})")
    return Isolation("bubblewrap", "learner code ran in a bubblewrap sandbox: read-only kit, no view of "
                                   f"solutions or checks, own PID namespace, clean environment{_as_whom(True)}")


def _fallback(reason: str) -> Isolation:
    if os.environ.get("KIT_REQUIRE_SANDBOX") == "1":
        raise SandboxUnavailable(f"KIT_REQUIRE_SANDBOX=1 but {reason}.")
    return Isolation("process", f"{reason}; learner code ran as separate processes only, which can read "
                                f"what this user can read{_as_whom(False)}")


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
    _prepare(Path(tree), chosen, binds)
    filter_fd = seccomp.open_program() if chosen.sandboxed else None
    if filter_fd is not None:
        popen["pass_fds"] = (*popen.get("pass_fds", ()), filter_fd)
    try:
        return subprocess.Popen(chosen.command(cmd, tree, extra, binds=binds, seccomp_fd=filter_fd), cwd=tree,
                                env=chosen.environment(extra), process_group=0, stdin=subprocess.DEVNULL,
                                close_fds=True, **_start_args(chosen), **popen)
    finally:
        if filter_fd is not None:
            os.close(filter_fd)


def _prepare(tree: Path, isolation: Isolation, binds) -> None:
    """As root: the tree becomes the learner user's, and that user may reach Python, the kit and the binds."""
    if learner.account() is None:
        return
    learner.hand_over(tree)
    for place in {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), KIT_PACKAGE,
                  Path(sys.executable).resolve().parent, *(Path(source) for source, _, _ in binds)}:
        learner.reach(place)
