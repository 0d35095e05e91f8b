"""The scratch copy of a learner's tree that grading works on.

Grading never runs the learner's own folder: a check may write files, and the
learner's code may try to. The copy holds regular files and folders only. A
symbolic link is copied as the file it points to when that file lies inside
the tree or the kit's starter project, and left out otherwise: a link to
`solutions/` or to another learner's tree must not carry their files in.
Size and count are bounded, so a tree cannot fill the disk by being copied.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from .catalogue import KIT_ROOT
from .project import NOT_GRADED

MAX_BYTES = 50 * 1024 * 1024
MAX_FILES = 5000


def scratch_copy(root: Path, dest: Path) -> Path:
    """Copy root to dest as described above; ValueError (one plain sentence) when the tree is too big."""
    root = Path(root).resolve()
    allowed = (root, (KIT_ROOT / "project").resolve())
    total = count = 0
    dest.mkdir(parents=True)
    for folder, dirs, files in os.walk(root, followlinks=False):
        here = Path(folder)
        dirs[:] = [d for d in dirs if d not in NOT_GRADED and not (here / d).is_symlink()]
        target_dir = dest / here.relative_to(root)
        target_dir.mkdir(exist_ok=True)
        for name in files:
            if name in NOT_GRADED:
                continue
            source = here / name
            real = source.resolve()
            if source.is_symlink() and not any(real.is_relative_to(place) for place in allowed):
                continue
            if not real.is_file():
                continue
            total += real.stat().st_size
            count += 1
            if total > MAX_BYTES or count > MAX_FILES:
                raise ValueError(f"The project tree is too big to grade (over {MAX_BYTES // 2**20} MB or "
                                 f"{MAX_FILES} files): remove what does not belong to the project.")
            shutil.copyfile(real, target_dir / name)
    return dest
