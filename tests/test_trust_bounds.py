"""Bounds on what learner code may take from the machine that grades it (issue 16).

No user namespace inside the sandbox (kit/isolation/sandbox.py), a grading Redis with a memory
cap (kit/services/redis.py), and a cap on a stage's scratch tree on disk (kit/grading/checker.py).
Real bubblewrap, real Redis, real grading, no mocks.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import SOLUTIONS, copy_tree, grade_json
from kit.grading import checker
from kit.isolation import procs, sandbox, stage_groups
from kit.services.redis import RedisServer
from leaks import leftovers
from test_forgery import LIMITS

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="bubblewrap is Linux only")


def sandboxed() -> sandbox.Isolation:
    found = sandbox.detect()
    if not found.sandboxed:
        pytest.fail(f"No sandbox on this machine ({found.detail}): install bubblewrap.")
    return found


def run_learner(cmd: list[str], tree: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = sandbox.spawn(cmd, tree, isolation=sandboxed(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        procs.stop_tree(proc, grace=1)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "")


# -- no user namespaces inside the sandbox ------------------------------------------------------------
@pytest.mark.parametrize("cmd", [["unshare", "-U", "true"], ["unshare", "-Urn", "true"], ["unshare", "-Urm", "true"]])
def test_learner_code_cannot_make_a_user_namespace(tmp_path, cmd):
    """`unshare -U` would give the learner every capability in a namespace of its own: refused."""
    if "--disable-userns" not in sandbox._usage():
        pytest.skip("this bubblewrap is older than 0.8 and cannot refuse user namespaces")
    tree = tmp_path / "tree"
    tree.mkdir()
    control = run_learner(["true"], tree)
    assert control.returncode == 0, control.stdout
    done = run_learner(cmd, tree)
    assert done.returncode != 0, f"{cmd} worked inside the sandbox: {done.stdout}"
    assert "unshare failed" in done.stdout, done.stdout


# -- the grading Redis is bounded -------------------------------------------------------------------
def test_the_grading_redis_refuses_writes_past_its_memory_and_stays_up():
    """16 MiB values until Redis says OOM: it refuses the write, keeps answering, and never grows past its cap."""
    import redis as client

    with RedisServer(grading=True) as server:
        conn = client.Redis.from_url(server.url, socket_timeout=30)
        with pytest.raises(client.exceptions.ResponseError, match="proto-max-bulk-len"):
            conn.setrange("far", 536870000, "x")   # the offset that once made it allocate 512 MB
        written = 0
        with pytest.raises(client.exceptions.OutOfMemoryError):
            for written in range(64):               # 1 GiB, if nothing stopped it
                conn.set(f"v{written}", b"x" * (16 << 20))
        assert 0 < written < 32, written
        assert conn.ping()
        used = conn.info("memory")["used_memory"]
        assert used < 300 * 2 ** 20, used
        assert conn.eval("return 1", 0) == 1      # Lua stays: channels_redis needs it


# -- a stage's scratch tree is bounded on disk --------------------------------------------------------
DISK_FILLER = '''
import pathlib as _pathlib
_fill = _pathlib.Path(__file__).resolve().parent / "fill"
_fill.mkdir(exist_ok=True)
for _n in range(25):   # 400 MiB in files of 16 MiB, each below the per-file bound
    (_fill / f"part{_n}").write_bytes(b"x" * (16 << 20))
'''


# The sixth review: daphne's socket folder, the one folder outside the tree that daphne's learner process may
# write, lay in the grading machine's /tmp, unwatched: 320 MiB went there while the stage passed 10/10.
SOCKET_FOLDER_FILLER = '''
import os as _os
for _n in range(20):
    with open(f"/run/kit/daphne/fill{_n}", "wb") as _out:
        _out.write(b"x" * (16 << 20))
'''


# The twelfth review: files deleted but held open take disk space no walk of the folders can list: 1.5 GiB went
# that way, past the 256 MiB bound, and the stage was never stopped.
HELD_DELETED_FILLER = '''
import os as _os, pathlib as _pathlib, time as _time
_fill = _pathlib.Path(__file__).resolve().parent
_held = []
for _n in range(25):   # 400 MiB in files of 16 MiB, each unlinked as soon as it is open
    _fd = _os.open(_fill / f"held{_n}", _os.O_RDWR | _os.O_CREAT, 0o600)
    _os.unlink(_fill / f"held{_n}")
    _os.write(_fd, b"x" * (16 << 20))
    _os.fsync(_fd)
    _held.append(_fd)
_time.sleep(8)
'''


# The thirteenth review: the same, each file held by a mapping alone (its descriptor closed).
MAPPED_DELETED_FILLER = '''
import ctypes as _ctypes, os as _os, pathlib as _pathlib, time as _time
_libc = _ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = _ctypes.c_void_p
_libc.mmap.argtypes = [_ctypes.c_void_p, _ctypes.c_size_t, _ctypes.c_int, _ctypes.c_int, _ctypes.c_int,
                       _ctypes.c_long]
_fill = _pathlib.Path(__file__).resolve().parent
_held = []
for _n in range(25):   # 400 MiB in files of 16 MiB, each mapped, closed and unlinked
    _fd = _os.open(_fill / f"mapped{_n}", _os.O_RDWR | _os.O_CREAT, 0o600)
    _os.write(_fd, b"x" * (16 << 20))
    _os.fsync(_fd)
    _held.append(_libc.mmap(None, 16 << 20, 1, 1, _fd, 0))
    _os.close(_fd)
    _os.unlink(_fill / f"mapped{_n}")
_time.sleep(8)
'''


@pytest.mark.parametrize("stage_id, relpath, filler", [("settings", "myproject/settings.py", DISK_FILLER),
                                                       ("daphne", "myproject/asgi.py", SOCKET_FOLDER_FILLER),
                                                       ("settings", "myproject/settings.py", HELD_DELETED_FILLER),
                                                       ("settings", "myproject/settings.py", MAPPED_DELETED_FILLER)],
                         ids=["scratch-tree", "daphne-socket-folder", "deleted-but-open", "deleted-but-mapped"])
def test_a_tree_that_fills_the_disk_fails_its_stage_and_gives_the_space_back(tmp_path, stage_id, relpath, filler):
    tree = copy_tree(SOLUTIONS, tmp_path / "filler")
    module = tree / relpath
    module.write_text(module.read_text(encoding="utf-8") + "\n" + textwrap.dedent(filler), encoding="utf-8")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    report = grade_json(tree, stage_id, env=dict(LIMITS, TMPDIR=str(scratch), KIT_BUSY_RETRY="0"))
    failures = report["stages"][0]["failures"]
    message = failures[0]["message"] if failures else ""
    assert report["score"] == 0, json.dumps(report)[:2000]
    assert f"more than {sandbox.DISK_LIMIT // 2 ** 20} MiB" in message, json.dumps(report)[:2000]
    assert "Traceback" not in message and len(message) < 600, message
    assert leftovers(tree, tmpdir=scratch) == []
    assert checker._disk_used(scratch) < 16 << 20, sorted(str(p) for p in scratch.rglob("*"))[:20]
    assert not (tree / "myproject" / "fill").exists()   # the learner's own tree is never written


def test_the_disk_walk_counts_blocks_and_follows_no_link(tmp_path):
    (tmp_path / "data").write_bytes(b"x" * (1 << 20))
    os.symlink("/usr", tmp_path / "link")
    assert (1 << 20) <= checker._disk_used(tmp_path) < (2 << 20)
    for n in range(sandbox.DISK_ENTRIES + 1):
        (tmp_path / f"e{n}").touch()
    assert checker._disk_used(tmp_path) == float("inf")


# -- a stage's processes together are bounded in memory ------------------------------------------------
SHARED_HOG = '''
import mmap as _mmap
_hog = _mmap.mmap(-1, 3 << 30)   # shared and anonymous: RLIMIT_DATA does not count it
for _at in range(0, 3 << 30, 4096):
    _hog[_at] = 1
'''


@pytest.mark.skipif(os.geteuid() != 0, reason="control groups need root")
def test_a_tree_that_takes_shared_memory_fails_its_stage_within_the_stage_group(tmp_path):
    probe = stage_groups.stage_group()
    if not probe:
        pytest.skip("this machine lets no control group be made (read-only /sys/fs/cgroup or no controllers)")
    stage_groups.release_group(probe)
    assert not any(folder.exists() for folder in probe)
    tree = copy_tree(SOLUTIONS, tmp_path / "hog")
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text(encoding="utf-8") + "\n" + textwrap.dedent(SHARED_HOG), encoding="utf-8")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    left_before = {group for group in stage_groups.CGROUPS.glob("**/kit-stage-*") if not alive(group)}
    report = grade_json(tree, "settings", env=dict(LIMITS, TMPDIR=str(scratch)))
    assert report["score"] == 0, json.dumps(report)[:2000]
    message = report["stages"][0]["failures"][0]["message"]
    assert "Traceback" not in message and len(message) < 600, message
    assert leftovers(tree, tmpdir=scratch) == []
    # Only this grading's: a grader another test killed on purpose may have left one before.
    assert not [group for group in stage_groups.CGROUPS.glob("**/kit-stage-*")
                if not alive(group) and group not in left_before], "a group was left"


def alive(group: Path) -> bool:
    """A stage group is named after the grader that made it: one whose grader is gone was left behind."""
    try:
        os.kill(int(group.name.split("-")[2]), 0)
        return True
    except (ProcessLookupError, ValueError):
        return False
