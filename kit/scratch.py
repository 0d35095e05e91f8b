"""The scratch copy of a learner's tree that grading works on.

Grading never runs the learner's own folder: a check may write files, and the
learner's code may try to. The copy holds regular files and folders only. A
symbolic link is copied as the file it points to when that file lies inside
the tree or the kit's starter project, and left out otherwise: a link to
`solutions/` or to another learner's tree must not carry their files in.

What is no part of a project is left out before anything is counted (kit/project.py:
a repository's .git, any virtual environment whatever its name, node_modules,
tools' caches, build output). What remains is bounded, so a tree cannot fill the
disk by being copied: at most MAX_BYTES in all, MAX_FILES files, and no single
file over MAX_FILE_BYTES. `measure()` says, before any grading, whether a tree
fits; grade-all uses it to refuse a tree in one sentence.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .catalogue import KIT_ROOT
from .i18n import T
from .project import NOT_GRADED, not_graded

MAX_BYTES = 50 * 1024 * 1024
MAX_FILES = 5000
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_DEPTH = 50                     # folders within folders, counted from the tree's top
# One sentence for the guide and `kit grade-all --help` (docs/instructors.md quotes it).
LIMITS = (f"A tree is graded without .git, node_modules, any virtual environment (a folder holding pyvenv.cfg, or "
          f"bin/activate beside lib/python*/site-packages), caches (__pycache__, .pytest_cache, .mypy_cache, "
          f".ruff_cache) and build output (build/ and dist/ at its top, *.egg-info); what remains may hold at most "
          f"{MAX_FILES} files and {MAX_BYTES // 2**20} MB, no file over {MAX_FILE_BYTES // 2**20} MB, "
          f"no folder more than {MAX_DEPTH} levels deep, or the tree is refused with that reason.")


class TreeTooBig(ValueError):
    """The tree is over a limit; args[0] says which, in one sentence (a T)."""


def _files(root: Path):
    """(source, the file to copy, folder relative to root) for every file that is graded, in walk order.

    Iterative (no recursion however deep the tree) and bounded: a folder deeper than MAX_DEPTH is TreeTooBig."""
    allowed = (root, (KIT_ROOT / "project").resolve())
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
        files = [e.name for e in entries if not e.is_dir(follow_symlinks=False)]
        relative = here.relative_to(root)
        yield None, None, relative
        for name in files:
            if name in NOT_GRADED:
                continue
            source = here / name
            real = source.resolve()
            if source.is_symlink() and not any(real.is_relative_to(place) for place in allowed):
                continue
            if not real.is_file():
                continue
            yield source, real, relative
        stack.extend((here / d, depth + 1) for d in reversed(dirs))


class _Budget:
    def __init__(self):
        self.total = self.count = 0

    def add(self, source: Path, real: Path, root: Path) -> None:
        size = real.stat().st_size
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


def measure(root: Path) -> tuple[int, int]:
    """(bytes, files) that grading would copy; TreeTooBig when the tree is over a limit."""
    root = Path(root).resolve()
    budget = _Budget()
    for source, real, _ in _files(root):
        if source is not None:
            budget.add(source, real, root)
    return budget.total, budget.count


def scratch_copy(root: Path, dest: Path) -> Path:
    """Copy root to dest as described above; TreeTooBig (a ValueError, one plain sentence) when it is too big."""
    root = Path(root).resolve()
    budget = _Budget()
    dest.mkdir(parents=True)
    for source, real, relative in _files(root):
        target_dir = dest / relative
        if source is None:
            target_dir.mkdir(exist_ok=True)
            continue
        budget.add(source, real, root)
        shutil.copyfile(real, target_dir / source.name)
    return dest
