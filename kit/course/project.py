"""Which project tree is active, whether a folder is one, and what in a folder is no part of it."""
from __future__ import annotations

import os
import stat
from pathlib import Path

from kit.course.catalogue import CORE_FILES, KIT_ROOT
from kit.course.i18n import T
from kit.course.nofollow import linked_inside, read_inside, read_text_inside  # noqa: F401 (kept importable here)

# -- what is no part of a tree: one home, and where a reader passes over more, why -------------------
# What running code leaves in a folder: bytecode, and the database a run of the project creates.
# The leak test (tests/test_release.py) passes over only these: a backup in a release would be a leak.
RUN_LEFTOVERS = frozenset({"__pycache__", "db.sqlite3", "db.sqlite3-journal", "db.sqlite3-wal", "db.sqlite3-shm"})
# ... and the backups `kit solve` and `kit reset` keep in a learner's tree (kit/course/files.py). No copy of a
# tree carries them (the kit's tests, the benchmarks).
LEFTOVERS = RUN_LEFTOVERS | {".kit-backups"}
# Grading's scratch copy (kit/grading/scratch.py) leaves out a learner's repository, environment and packages too:
# large, and none of them the project. It keeps .kit/ (what solve wrote, the hints climbed). Also left out:
# any virtual environment, whatever its name (is_virtualenv), tools' caches, and build output (build/ and
# dist/ at the top of the tree, *.egg-info anywhere). `kit grade-all --help` and docs/instructors.md say so.
NOT_GRADED = LEFTOVERS | {".git", ".venv", "node_modules", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".tox",
                          ".ipynb_checkpoints"}
NOT_GRADED_ENDINGS = (".egg-info",)
NOT_GRADED_AT_TOP = frozenset({"build", "dist"})


def is_virtualenv(folder: Path) -> bool:
    """A Python virtual environment under any name: pyvenv.cfg, or an activate script beside site-packages."""
    if (folder / "pyvenv.cfg").is_file():
        return True
    if (folder / "bin" / "activate").is_file() and any((folder / "lib").glob("python*/site-packages")):
        return True
    return (folder / "Scripts" / "activate").is_file() and (folder / "Lib" / "site-packages").is_dir()


def not_graded(folder: Path, name: str, *, at_top: bool) -> bool:
    """Is the folder `name` inside `folder` (the tree's top when at_top) left out of what is graded?"""
    return (name in NOT_GRADED or name.endswith(NOT_GRADED_ENDINGS) or (at_top and name in NOT_GRADED_AT_TOP)
            or is_virtualenv(folder / name))
# The release (kit/output/release.py) walks the kit's own folder: it drops what Jupyter, pytest and packaging
# leave there as well (a folder or file named so, or a name with one of these endings).
NOT_RELEASED = LEFTOVERS | {".ipynb_checkpoints", ".pytest_cache"}
NOT_RELEASED_ENDINGS = (".pyc", ".egg-info")
# `kit check --watch` (kit/lessons/watch.py) waits for a save of the learner's own files: it passes over any
# database and editors' swap and temporary files as well (and every dot-folder and dot-file).
NOT_WATCHED = LEFTOVERS | {".ipynb_checkpoints", "node_modules"}
NOT_WATCHED_ENDINGS = (".pyc", ".sqlite3", ".swp", ".swx", "~", ".tmp")


def ignore_leftovers(folder, names) -> set[str]:
    """shutil.copytree's ignore=: a copy of a tree without LEFTOVERS."""
    return {name for name in names if name in LEFTOVERS}


class NotAProjectTree(ValueError):
    """The path given is not a project tree the checkpoints can grade."""


# -- links: a tree is graded as it lies, never through a link (docs/architecture.md, "Trust") -------------
def linked_part(path: str | os.PathLike) -> Path | None:
    """The first folder on the way to path (path itself included) that is a symbolic link, else None.

    Checked on the path as given, before anything resolves it: `project -> ../solutions` must not grade
    the solutions, nor `submission -> /elsewhere` another tree."""
    spelled = Path(os.path.abspath(Path(path).expanduser()))
    return next((part for part in [*reversed(spelled.parents), spelled] if part.is_symlink()), None)


def refuse_links(path: str | os.PathLike) -> None:
    """NotAProjectTree in one sentence when path, or a folder above it, is a symbolic link."""
    link = linked_part(path)
    if link is not None:
        raise NotAProjectTree(T("{path} is a symbolic link, or lies inside one ({link}), and grading never "
                                "follows links: grade the folder itself.", path=str(path), link=str(link)))


def links_leaving(root: Path, limit: int = 20000) -> list[str]:
    """The links in the graded part of the tree whose target lies outside it (relative paths, sorted).

    Nothing is followed: folders are walked by lstat, a link's target is resolved only to be compared."""
    root = Path(root)
    real_root = Path(os.path.realpath(root))
    found, seen, stack = [], 0, [(root, True)]
    while stack and seen < limit:
        here, at_top = stack.pop()
        try:
            with os.scandir(here) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            path = Path(entry.path)
            if entry.is_symlink():
                if not Path(os.path.realpath(path)).is_relative_to(real_root):
                    found.append(path.relative_to(root).as_posix())
            elif entry.is_dir(follow_symlinks=False) and not not_graded(here, entry.name, at_top=at_top):
                stack.append((path, False))
    return sorted(found)


def active_project() -> Path:
    """`KIT_PROJECT` when set, else the kit's own `project/`: absolute, links not resolved (validate refuses
    a linked tree, so it must see the path as it was given)."""
    return Path(os.path.abspath(Path(os.environ.get("KIT_PROJECT") or KIT_ROOT / "project").expanduser()))


def validate(path: str | os.PathLike) -> Path:
    """Return the tree's absolute path, or raise NotAProjectTree saying what is missing (or that it is a link)."""
    refuse_links(path)
    root = Path(os.path.abspath(Path(path).expanduser())).resolve()
    if not root.exists():
        raise NotAProjectTree(T("{root} does not exist.", root=str(root)))
    if not root.is_dir():
        raise NotAProjectTree(T("{root} is a file, not a project folder.", root=str(root)))
    # Only the core: a tree from before part two is still graded (its later stages fail on their own).
    missing = [name for name in CORE_FILES if not (root / name).is_file()]
    if len(missing) == len(CORE_FILES):
        raise NotAProjectTree(T("{root} is not a project tree: it has no manage.py, myproject/ or myapp/. "
                                "Point --project at the folder that holds manage.py.", root=str(root)))
    if missing:
        raise NotAProjectTree(T("{root} is missing {files}.", root=str(root), files=", ".join(missing)))
    return root


def django_env(project: Path, base: dict | None = None) -> dict:
    """Environment for a process that imports the project's Django settings."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), env.get("PYTHONPATH", "")]))
    env["DJANGO_SETTINGS_MODULE"] = "myproject.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
