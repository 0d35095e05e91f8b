"""One checking process: the stages' pytest modules run on a scratch copy of the tree, watched (time, disk,
processes) and read back over a pipe no learner process inherits."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from kit.course import hidden
from kit.isolation import procs, sandbox, stage_groups
from kit.course.catalogue import EXERCISES_DIR, Stage
from kit.grading.explain import exit_calls
from kit.course.i18n import T, join
from kit.grading.limits import STAGE_TIME_LIMIT, TEST_TIME_LIMIT, WATCH_EVERY
from kit.grading.report import as_data


running: set[subprocess.Popen] = set()   # checking processes to stop if the grader is interrupted


def run_checkpoint(root: Path, tree: Path, stages: list[Stage], scratch: Path, isolation: sandbox.Isolation,
                    keep_going: bool, select: str | None, group=(),
                    limits: dict[str, str] | None = None, part: str = "all") -> tuple[str, list[dict], list[dict]]:
    """Run the stages' pytest modules in one fresh checking process on tree (a scratch copy of root).

    Nothing of the tree configures it: pytest runs from an empty folder with the
    kit's own ini file, no plugin autoloading and no path or file of the tree on
    its command line; the tree is named only in its environment."""
    # An instructor's hidden checks (kit/course/hidden.py) run after every visible check of the process (part "all"):
    # learner code sees a hidden check's questions, and a visible check run after it could quote what that code
    # wrote down in its failure message. grade() gives them a process of their own, after all others (part).
    limits = limits or {}
    test_limit = float(limits.get("KIT_TEST_TIME_LIMIT", TEST_TIME_LIMIT))
    stage_limit = float(limits.get("KIT_STAGE_TIME_LIMIT", STAGE_TIME_LIMIT))
    # Hidden checks alone still collect the stage's own module (its conftest and `support` come with it) and
    # deselect every check of it.
    modules = [str(stage.checkpoint) for stage in stages] + ([str(path) for stage in stages
                                                              for path in hidden.checks_for(stage)]
                                                             if part != "visible" else [])
    unwanted = [f"--deselect={stage.checkpoint.relative_to(EXERCISES_DIR)}::" for stage in stages] \
        if part == "hidden" else []
    cmd = [sys.executable, "-P", "-s", "-B", "-m", "pytest", *modules, "-c", str(EXERCISES_DIR / "pytest.ini"),
           "--rootdir", str(EXERCISES_DIR), "--confcutdir", str(EXERCISES_DIR), "-p", "kit.grading.pytest_plugin",
           "-p", "pytest_timeout", f"--timeout={test_limit:g}", "-q", "--no-header", "-rN",
           "-W", "ignore::DeprecationWarning", *unwanted, *(["--kit-keep-going"] if keep_going else []),
           *(["-k", select] if select else [])]
    env = dict(os.environ, KIT_GRADED_PROJECT=str(tree), KIT_SOURCE_TREE=str(root),
               KIT_GRADING_ISOLATION=isolation.kind, KIT_GRADING_ISOLATION_DETAIL=isolation.detail,
               PYTHONDONTWRITEBYTECODE="1", PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", KIT_CHECKER="1", **limits)
    env.pop("KIT_PROJECT", None)
    readable, writable = os.pipe()
    env["KIT_RESULTS_FD"] = str(writable)
    snapshots: list[str] = []
    reader = threading.Thread(target=_read_results, args=(readable, snapshots), daemon=True)
    work = scratch / "checks"
    work.mkdir()
    # Every folder the checks make (daphne's socket folder, which its learner process writes to; the testing
    # stage's copies; logs) goes in the scratch folder, where _watch bounds the disk they take.
    temporary = _temporary_folder(scratch)
    env["TMPDIR"] = str(temporary)
    log = scratch / "checks.log"
    with open(log, "wb") as out:
        try:
            proc = procs.spawn([*stage_groups.joining(group), *cmd], cwd=work, env=env, stdout=out,
                               stderr=subprocess.STDOUT, pass_fds=(writable,))
        finally:
            os.close(writable)  # from here on only the checking process holds the write end
        reader.start()
        running.add(proc)
        try:
            stopped = _watch(proc, [scratch, temporary], stage_limit)
            if stopped:
                procs.stop_tree(proc, grace=2)
                reader.join(timeout=5)
                expected, entries = _last(snapshots)
                return stopped, expected, entries
        except BaseException:
            procs.stop_tree(proc, grace=2)
            raise
        finally:
            procs.stop_tree(proc, grace=2)  # nothing the checks started may outlive them
            running.discard(proc)
            procs.stop_children(marked=("KIT_SOURCE_TREE", str(root)))  # orphans of this tree's learner code
            if not temporary.is_relative_to(scratch):
                shutil.rmtree(temporary, ignore_errors=True)
    reader.join(timeout=5)
    expected, entries = _last(snapshots)
    if proc.returncode in (0, 1) and not any(e["outcome"] == "running" for e in entries):
        return "", expected, entries
    if proc.returncode < 0:
        how = T("was killed by signal {signal}", signal=signal.Signals(-proc.returncode).name)
    else:
        how = T("ended abruptly (exit code {code})", code=proc.returncode)
    exits = exit_calls(tree)
    if exits:
        return T("The checking process {how}: the project ends the process itself, {call}. "
                 "A settings file or module must never call sys.exit() or os._exit(); raise an exception "
                 "instead.", how=how, call=exits[0]), expected, entries
    # The log's last lines, unless an instructor's hidden check ran here: its traceback may be among them.
    hidden_ran = part != "visible" and any(hidden.checks_for(stage) for stage in stages)
    tail = "" if hidden_ran else as_data(" | ".join(_tail(log).strip().splitlines()[-3:]), 600)
    said = T("The checking process {how} before it could report.", how=how)
    return (join([said, tail]) if tail else said), expected, entries


def _temporary_folder(scratch: Path) -> Path:
    """The checking process's TMPDIR: every folder the checks make goes there (daphne's socket folder, which
    its learner process writes to; the testing stage's copies; logs), where _watch bounds the disk they take.
    In the scratch folder when its path is short enough for a Unix socket inside it, else a folder of its own
    in /tmp (procs.socket_folder_base). Sticky and open to all, as /tmp is: Chromium, run as the learner
    user, makes its folders there."""
    inside = scratch / "tmp"
    if len(str(inside).encode()) <= 48:
        inside.mkdir()
    else:
        inside = Path(tempfile.mkdtemp(prefix="kit-tmp-", dir="/tmp"))
    inside.chmod(0o1777)
    return inside


def _watch(proc: subprocess.Popen, folders: list[Path], limit: float = STAGE_TIME_LIMIT) -> str:
    """Wait for the checking process, within the stage's time, while its folders (the scratch tree and the
    checks' temporary folder) stay within their disk bounds (a file's size is bounded per file only: many
    files could fill the disk). "" when it finished, else why the stage must be stopped."""
    deadline = time.monotonic() + limit
    while True:
        left = deadline - time.monotonic()
        try:
            proc.wait(timeout=max(0.0, min(WATCH_EVERY, left)))
            return ""
        except subprocess.TimeoutExpired:
            pass
        if left <= 0:
            return T("The stage did not finish within {limit:.0f} s and was stopped: "
                     "something in the project never returns.", limit=limit)
        if sum(_disk_used(folder) for folder in folders) + _held_deleted(proc, folders) > sandbox.DISK_LIMIT:
            procs.stop_tree(proc, grace=0.2)   # at once: every second of grace is more of the disk taken
            return T("The stage was stopped: the project wrote more than {limit} MiB or {entries} files into "
                     "its folder while it was graded.", limit=sandbox.DISK_LIMIT // 2 ** 20,
                     entries=sandbox.DISK_ENTRIES)


def _held_deleted(proc: subprocess.Popen, folders: list[Path]) -> float:
    """The bytes that files deleted but still held open or mapped by the stage's processes take on the folders'
    disks: no walk of the folders lists them (twelfth and thirteenth reviews: 1.5 GiB past the bound). Infinite
    past DISK_ENTRIES open files (the look stays short, whatever the processes hold). A descriptor
    in flight on a socket, held by no process, is not seen (docs/architecture.md, what stays open)."""
    import psutil

    try:
        devices = {os.stat(folder).st_dev for folder in folders}
        family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
    except (OSError, psutil.Error):
        return 0
    total, seen, counted = 0, 0, set()
    for member in family:
        places = []
        try:   # the process may end while it is looked at: what was found so far still counts
            for number in os.listdir(f"/proc/{member.pid}/fd"):
                seen += 1
                if seen > sandbox.DISK_ENTRIES:
                    return float("inf")
                try:
                    if os.readlink(f"/proc/{member.pid}/fd/{number}").endswith(" (deleted)"):
                        places.append(f"/proc/{member.pid}/fd/{number}")
                except OSError:   # closed since the listing
                    continue
            with open(f"/proc/{member.pid}/maps", encoding="utf-8", errors="replace") as maps:
                for line in maps:   # one read a process, however many mappings (a fork bomb has thousands)
                    if line.rstrip("\n").endswith(" (deleted)"):
                        places.append(f"/proc/{member.pid}/map_files/{line.split(None, 1)[0]}")
        except OSError:
            pass
        for place in places:
            try:
                info = os.stat(place)   # the file itself, deleted or not
            except OSError:
                continue
            if info.st_dev in devices and (info.st_dev, info.st_ino) not in counted:
                counted.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def _disk_used(top: Path) -> float:
    """The bytes the tree's files take on disk, found without following a link; infinite past DISK_ENTRIES
    entries (the walk stays short, whatever the tree holds)."""
    total, seen, folders = 0, 0, [str(top)]
    while folders:
        try:
            listing = os.scandir(folders.pop())
        except OSError:
            continue
        with listing:
            for entry in listing:
                seen += 1
                if seen > sandbox.DISK_ENTRIES:
                    return float("inf")
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)
    return total


def _tail(log: Path, size: int = 8192) -> str:
    """The end of the checking process's log, read bounded (a flood of output may be gigabytes)."""
    with open(log, "rb") as handle:
        handle.seek(max(0, handle.seek(0, os.SEEK_END) - size))
        return handle.read(size).decode("utf-8", errors="replace")


def _read_results(fd: int, snapshots: list[str]) -> None:
    with os.fdopen(fd, "r", encoding="utf-8", errors="replace") as channel:
        for line in channel:
            snapshots.append(line)
            del snapshots[:-2]


def _last(snapshots: list[str]) -> tuple[list[dict], list[dict]]:
    """The newest complete snapshot the checking process sent: (expected checks, entries)."""
    for line in reversed(snapshots):
        try:
            data = json.loads(line)
            return data["expected"], data["entries"]
        except (ValueError, KeyError, TypeError):
            continue
    return [], []
