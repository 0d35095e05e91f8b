"""Reading a learner's tree without following a link planted in it (lowest layer: imports nothing of the kit).

Trusted code that reads learner files (the explainer, hints' state, the checks' readers) goes through here.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path


def read_inside(root: Path, relpath: str, limit: int = 4 * 2**20) -> bytes | None:
    """A regular file of the tree, opened one folder at a time with no link followed (O_NOFOLLOW), never
    blocking (a named pipe), at most limit bytes; None for a link, anything not a regular file, or too big.

    Trusted code reads learner files this way only: a planted `consumers.py -> solutions/...` reads as None."""
    parts = [p for p in Path(relpath).parts if p not in ("", ".")]
    if not parts or ".." in parts or Path(relpath).is_absolute():
        return None
    folder_flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        fd = os.open(root, folder_flags)
    except OSError:
        return None
    try:
        for part in parts[:-1]:
            inner = os.open(part, folder_flags, dir_fd=fd)
            os.close(fd)
            fd = inner
        file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError:
        os.close(fd)
        return None
    os.close(fd)
    try:
        info = os.fstat(file_fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(os.dup(file_fd), "rb") as handle:
            data = handle.read(limit + 1)
        return data if len(data) <= limit else None
    except OSError:
        return None
    finally:
        os.close(file_fd)


def read_text_inside(root: Path, relpath: str, limit: int = 4 * 2**20) -> str | None:
    """read_inside as text (UTF-8, undecodable bytes replaced)."""
    data = read_inside(root, relpath, limit)
    return None if data is None else data.decode("utf-8", errors="replace")


def linked_inside(root: Path, relpath: str) -> bool:
    """Is relpath, or a folder between root and it, a symbolic link (lstat, nothing followed)?"""
    here = Path(root)
    for part in Path(relpath).parts:
        here = here / part
        if here.is_symlink():
            return True
    return False
