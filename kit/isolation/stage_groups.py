"""A stage's control group: all processes of one stage together bounded in memory and processes, its CPU time
counted and shared out as one claim, and every process in it killed when the stage ends. Made only as root
where the kernel lets the grader (sandbox.py holds the limits of one process and one sandbox)."""
from __future__ import annotations

import itertools
import os
import signal
import sys
import time
from pathlib import Path


# All processes of one stage together, as root where the kernel lets the grader make a control group: memory
# (shared mappings and memfd too, which RLIMIT_DATA does not count) and processes (stage_group below).
STAGE_MEMORY_LIMIT = 2 * 1024 ** 3
STAGE_PROCESS_LIMIT = 2048
CGROUPS = Path("/sys/fs/cgroup")


def stage_group() -> list[Path]:
    """A new control group for one stage's processes (v1: a memory and a pids folder; v2: one folder), bounded
    by STAGE_MEMORY_LIMIT and STAGE_PROCESS_LIMIT; [] when this process may not make one (not root, no
    controllers, a read-only /sys/fs/cgroup): then the per-process limits alone hold."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return []
    if next(_sweeps) == 0:
        release_stale_groups()
    name = f"kit-stage-{os.getpid()}-{next(_numbers)}"
    unified = CGROUPS / "cgroup.subtree_control"
    made: list[Path] = []
    try:
        if unified.is_file():
            if not {"memory", "pids"} <= set(unified.read_text().split()):
                return []
            settings = [(CGROUPS / name, {"memory.max": STAGE_MEMORY_LIMIT, "pids.max": STAGE_PROCESS_LIMIT})]
        else:
            settings = [(CGROUPS / "memory" / name, {"memory.limit_in_bytes": STAGE_MEMORY_LIMIT}),
                        (CGROUPS / "pids" / name, {"pids.max": STAGE_PROCESS_LIMIT})]
        for folder, values in settings:
            folder.mkdir()
            made.append(folder)
            for setting, value in values.items():
                (folder / setting).write_text(str(value))
    except OSError:
        release_group(made)
        return []
    # v1 counts CPU time (cpuacct) and shares it out (cpu) in hierarchies of their own; v2's folder has both
    # when the parent enables cpu. A group of its own is one claim on the CPU however many processes (or
    # sessions: the kernel's autogroups) the tree makes, so a tree that forks spinners slows its own stage and
    # not another learner's. Without them: no count, no sharing (never a failure).
    for top in ([] if unified.is_file() else [CGROUPS / "cpuacct", CGROUPS / "cpu"]):
        try:
            (top / name).mkdir()
            made.append(top / name)
        except OSError:
            pass
    return made


GROUP_TOPS = ("", "memory", "pids", "cpuacct", "cpu")   # where stage groups are made (v2: the first)


def release_stale_groups() -> None:
    """Stage groups whose grading process is gone (killed before it could remove them): empty them, remove them."""
    if os.geteuid() != 0:
        return
    for top in GROUP_TOPS:
        try:
            folders = sorted((CGROUPS / top).glob("kit-stage-*-*"))
        except OSError:
            continue
        for folder in folders:
            try:
                owner = int(folder.name.split("-")[2])
            except (IndexError, ValueError):
                continue
            if not Path(f"/proc/{owner}").exists():
                release_group([folder])


def group_cpu_seconds(group: list[Path]) -> float | None:
    """CPU seconds the group's processes have used (v2: cpu.stat; v1: the cpuacct folder), or None."""
    for folder in group:
        try:
            if (folder / "cpu.stat").is_file():
                stat = dict(line.split() for line in (folder / "cpu.stat").read_text().splitlines())
                return int(stat["usage_usec"]) / 1e6
            if (folder / "cpuacct.usage").is_file():
                return int((folder / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError, KeyError):
            return None
    return None


_numbers = itertools.count()
_sweeps = itertools.count()   # the first stage group this process makes sweeps away stale ones


def memory_ran_out() -> bool:
    """Did the kernel kill a process of this process's stage group for memory (so a SIGKILL can be named)?"""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return False
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controllers == "" and "kit-stage-" in path:            # v2
            events = CGROUPS / path.lstrip("/") / "memory.events"
        elif "memory" in controllers.split(",") and "kit-stage-" in path:  # v1
            events = CGROUPS / "memory" / path.lstrip("/") / "memory.oom_control"
        else:
            continue
        try:
            counts = dict(line.split() for line in events.read_text().splitlines() if len(line.split()) == 2)
        except (OSError, ValueError):
            continue
        if "oom_kill" in counts:
            return int(counts["oom_kill"]) > 0
        try:  # a v1 kernel that does not count kills: the limit was reached at all
            return int((events.parent / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False
    return False


def joining(group: list[Path]) -> list[str]:
    """The prefix that puts a command in the group before it runs (so whatever it starts is in it too)."""
    if not group:
        return []
    script = 'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'
    return ["/bin/sh", "-c", script, "sh", *(str(folder / "cgroup.procs") for folder in group), "--"]


def release_group(group: list[Path]) -> None:
    """Kill whatever is still in the group (only a stage's own processes are), then remove it."""
    for folder in group:
        for _ in range(50):
            try:
                pids = [int(pid) for pid in (folder / "cgroup.procs").read_text().split()]
            except (OSError, ValueError):
                break
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.1)
        try:
            folder.rmdir()
        except OSError:
            pass
