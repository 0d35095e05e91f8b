"""The scratch copy of a learner's tree that grading works on.

Grading never runs the learner's own folder: a check may write files, and the
learner's code may try to. The copy holds regular files, folders and links.
Nothing is followed while copying (lstat, O_NOFOLLOW): a symbolic link is
copied as a link, and kept only when, in the copy, it still leads inside the
copy (an absolute link into the tree is made relative); a link to `solutions/`,
to another learner's tree or anywhere else outside is left out, so it can carry
nothing in, and no trusted reader can be led out of the copy by it.

What is no part of a project is left out before anything is counted (kit/course/project.py:
a repository's .git, any virtual environment whatever its name, node_modules,
tools' caches, build output). What remains is bounded, so a tree cannot fill the
disk by being copied: at most MAX_BYTES in all, MAX_FILES files, and no single
file over MAX_FILE_BYTES. `measure()` says, before any grading, whether a tree
fits; grade-all uses it to refuse a tree in one sentence.
"""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from kit.course.i18n import T
from kit.course.project import NOT_GRADED, not_graded

MAX_BYTES = 50 * 1024 * 1024
MAX_FILES = 5000
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_DEPTH = 50                     # folders within folders, counted from the tree's top
# Characters in a path from the tree's top: far above any project's, and short enough that the copy's path,
# under the grader's own temporary folder, stays within the system's limit wherever the tree was (review 11).
MAX_PATH = 1024
# One sentence for the guide and `kit grade-all --help` (docs/instructors.md quotes it).
LIMITS = (f"A tree is graded without .git, node_modules, any virtual environment (a folder holding pyvenv.cfg, or "
          f"bin/activate beside lib/python*/site-packages), caches (__pycache__, .pytest_cache, .mypy_cache, "
          f".ruff_cache) and build output (build/ and dist/ at its top, *.egg-info); what remains may hold at most "
          f"{MAX_FILES} files and {MAX_BYTES // 2**20} MB, no file over {MAX_FILE_BYTES // 2**20} MB, "
          f"no folder more than {MAX_DEPTH} levels deep, no path longer than {MAX_PATH} characters, or the tree is "
          f"refused with that reason.")


class TreeTooBig(ValueError):
    """The tree is over a limit; args[0] says which, in one sentence (a T)."""


def _files(root: Path):
    """(kind, source, folder relative to root) for every entry that is graded, in walk order; kind is "dir"
    (source None), "file" (a regular file) or "link". Nothing is followed.

    Iterative (no recursion however deep the tree) and bounded: a folder deeper than MAX_DEPTH is TreeTooBig."""
    stack = [(root, 0)]
    while stack:
        here, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise TreeTooBig(T("The project tree is too deep to grade: it has folders more than {limit} levels "
                               "deep. Remove them from the submission and grade again.", limit=MAX_DEPTH))
        try:
            with os.scandir(here) as listing:
                entries = sorted(listing, key=lambda e: e.name)
        except OSError:
            continue
        at_top = here == root
        dirs = [e.name for e in entries if e.is_dir(follow_symlinks=False)
                and not not_graded(here, e.name, at_top=at_top)]
        relative = here.relative_to(root)
        yield "dir", None, relative
        for entry in entries:
            if len(os.fsencode(relative / entry.name)) > MAX_PATH:
                raise TreeTooBig(T("The project tree has a path too long to grade: {path}... is over {limit} "
                                   "characters. Give its folders and files shorter names and grade again.",
                                   path=str(relative / entry.name)[:80], limit=MAX_PATH))
            if entry.name in NOT_GRADED or entry.is_dir(follow_symlinks=False):
                continue
            if entry.is_symlink():
                yield "link", here / entry.name, relative
            elif entry.is_file(follow_symlinks=False):   # a pipe, a socket or a device is never copied
                yield "file", here / entry.name, relative
        stack.extend((here / d, depth + 1) for d in reversed(dirs))


class _Budget:
    def __init__(self):
        self.total = self.count = 0

    def add(self, source: Path, root: Path, size: int) -> None:
        self.total += size
        self.count += 1
        if size > MAX_FILE_BYTES:
            raise TreeTooBig(T("The project tree is too big to grade: {file} is {size} MB (the limit for one file "
                               "is {limit} MB). Remove it from the submission and grade again.",
                               file=str(source.relative_to(root)), size=size // 2**20, limit=MAX_FILE_BYTES // 2**20))
        if self.count > MAX_FILES:
            raise TreeTooBig(T("The project tree is too big to grade: over {limit} files, not counting .git, "
                               "virtual environments, caches and build output. Remove what does not belong to "
                               "the project and grade again.", limit=MAX_FILES))
        if self.total > MAX_BYTES:
            raise TreeTooBig(T("The project tree is too big to grade: over {limit} MB, not counting .git, "
                               "virtual environments, caches and build output. Remove what does not belong to "
                               "the project and grade again.", limit=MAX_BYTES // 2**20))


def _size(kind: str, source: Path) -> int:
    try:
        return source.lstat().st_size if kind == "file" else 0
    except OSError:
        return 0


def measure(root: Path) -> tuple[int, int]:
    """(bytes, files) that grading would copy; TreeTooBig when the tree is over a limit."""
    root = Path(root).resolve()
    budget = _Budget()
    for kind, source, _ in _files(root):
        if kind != "dir":
            budget.add(source, root, _size(kind, source))
    return budget.total, budget.count


def _copy_file(source: Path, target: Path, root: Path, budget: _Budget) -> None:
    """A regular file, opened without following a link (swapped for one since the walk: left out)."""
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return
    with os.fdopen(fd, "rb") as src:
        info = os.fstat(src.fileno())
        if not stat.S_ISREG(info.st_mode):
            return
        budget.add(source, root, info.st_size)
        with open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)


def _link_target(source: Path, root: Path, dest: Path) -> str | None:
    """What the copied link points to: its own text, an absolute path into the tree made relative."""
    try:
        target = os.readlink(source)
    except OSError:
        return None
    if os.path.isabs(target):
        inside = Path(os.path.normpath(target))
        if not inside.is_relative_to(root):
            return None
        return os.path.relpath(dest / inside.relative_to(root), dest / source.parent.relative_to(root))
    return target


def scratch_copy(root: Path, dest: Path) -> Path:
    """Copy root to dest as described above; TreeTooBig (a ValueError, one plain sentence) when it is too big."""
    root = Path(root).resolve()
    budget = _Budget()
    dest.mkdir(parents=True)
    links = []
    for kind, source, relative in _files(root):
        target_dir = dest / relative
        if kind == "dir":
            target_dir.mkdir(exist_ok=True)
        elif kind == "file":
            _copy_file(source, target_dir / source.name, root, budget)
        else:
            budget.add(source, root, 0)
            text = _link_target(source, root, dest)
            if text is not None:
                os.symlink(text, target_dir / source.name)
                links.append(target_dir / source.name)
    # Only now, with the whole copy in place, can a link (or a chain of them) be judged where it leads.
    real_dest = Path(os.path.realpath(dest))
    for link in links:
        if not Path(os.path.realpath(link)).is_relative_to(real_dest):
            link.unlink()
    return dest
