"""The unprivileged user that learner code runs as when the grader is root.

As root, a sandbox's own uid maps to the real uid 0, and a process started
without a sandbox is root itself: either could read /etc/shadow or open the
checker's verdict pipe through /proc. So a root grader starts every learner
process as a real, dedicated system user (`kit-learner`, created when missing;
`nobody` when it cannot be). That user owns the scratch tree it is started on
and may pass through (not list) the folders above the interpreter, the kit
and the tree: a POSIX ACL entry for that user alone, since Python or a
temporary folder often lies under a folder only root may enter (/root, a
0700 temporary folder). A grader that is not root runs learner code as
itself, as before.
"""
from __future__ import annotations

import functools
import os
import pwd
import stat
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

NAME = "kit-learner"
FALLBACK = "nobody"
_ACL = "system.posix_acl_access"
# Linux's POSIX ACL xattr: a version, then (tag, permissions, id) entries in this tag order.
_USER_OBJ, _USER, _GROUP_OBJ, _GROUP, _MASK, _OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_NO_ID = 0xFFFFFFFF
_handed: set[str] = set()


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int

    def describe(self) -> str:
        return f"the unprivileged user {self.name} (uid {self.uid})"


@functools.lru_cache(maxsize=1)
def account() -> Account | None:
    """Who learner code runs as: None when this process is not root (it runs as this user)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return None
    for name in (NAME, FALLBACK):
        entry = _lookup(name)
        if entry is None and name == NAME:
            _create(name)
            entry = _lookup(name)
        if entry is not None and entry.pw_uid != 0:
            return Account(entry.pw_name, entry.pw_uid, entry.pw_gid)
    return Account(str(65534), 65534, 65534)   # no such user at all: still a uid that owns nothing


def _lookup(name: str):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _create(name: str) -> None:
    """A system user with no home and no login shell (CI, Classroom and containers run as root)."""
    try:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        pass  # another grader may have made it meanwhile; the caller looks again, else falls back


def popen_args() -> dict:
    """subprocess.Popen's arguments that start a child as the learner user (none when not root)."""
    who = account()
    return {} if who is None else {"user": who.uid, "group": who.gid, "extra_groups": []}


def hand_over(tree: Path) -> None:
    """Make tree the learner user's and let that user reach it; once per tree, before its code first runs.

    os.fwalk with no link followed, and a file with a second hard link left alone: a link planted in the
    tree never gives away a file outside it."""
    who = account()
    key = str(tree)
    if who is None:
        return
    reach(Path(tree).parent.parent)   # every time: a chmod since may have taken the passage away
    _pass_through(str(Path(tree).parent), who, 5)  # and may list the folder holding the tree, as pytest does
    if key in _handed:
        return
    for _, dirs, files, fd in os.fwalk(tree, follow_symlinks=False):
        os.chown(fd, who.uid, who.gid)
        for name in (*dirs, *files):
            try:
                info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
                    continue
                if not stat.S_ISDIR(info.st_mode):
                    os.chown(name, who.uid, who.gid, dir_fd=fd, follow_symlinks=False)
            except OSError:
                continue
    _handed.add(key)


def reach(path: Path) -> None:
    """Let the learner user pass through path and every folder above it (not list them)."""
    who = account()
    if who is None:
        return
    for folder in [Path(path), *Path(path).parents]:
        _pass_through(str(folder), who, 1)


# Not cached: a later chmod of the folder (pytest tightens its own temporary root, for one) narrows the ACL
# mask and takes the passage away again, so every start looks afresh (a stat and an xattr read per folder).
def _pass_through(folder: str, who: Account, wanted: int) -> None:
    """Give who the permissions wanted (1: pass through, 5: list too) on folder, by an ACL entry of its own."""
    try:
        info = os.stat(folder)
    except OSError:
        return
    mode = info.st_mode
    if mode & wanted == wanted or (info.st_uid == who.uid and (mode >> 6) & wanted == wanted):
        return
    entries = _entries(folder) or [(_USER_OBJ, (mode >> 6) & 7, _NO_ID), (_GROUP_OBJ, (mode >> 3) & 7, _NO_ID),
                                    (_OTHER, mode & 7, _NO_ID)]
    if (any(tag == _USER and uid == who.uid and perm & wanted == wanted for tag, perm, uid in entries)
            and any(tag == _MASK and perm & wanted == wanted for tag, perm, _ in entries)):
        return  # (a chmod since sets the mask from the mode, which may take the passage away again)
    others = [e for e in entries if not (e[0] == _USER and e[2] == who.uid) and e[0] != _MASK]
    mine = next((e[1] for e in entries if e[0] == _USER and e[2] == who.uid), 0) | wanted
    mask = next((e[1] for e in entries if e[0] == _MASK), (mode >> 3) & 7) | wanted
    entries = sorted([*others, (_USER, mine, who.uid), (_MASK, mask, _NO_ID)], key=lambda e: (e[0], e[2]))
    try:
        os.setxattr(folder, _ACL, struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries))
    except OSError:
        pass  # no ACLs on this file system: the learner's process then fails to start, and says why


def _entries(folder: str) -> list[tuple[int, int, int]]:
    try:
        blob = os.getxattr(folder, _ACL)
    except OSError:
        return []
    return [struct.unpack_from("<HHI", blob, at) for at in range(4, len(blob) - 7, 8)]
