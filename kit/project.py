"""Which project tree is active, and whether a folder is one."""
from __future__ import annotations

import os
from pathlib import Path

from .catalogue import KIT_ROOT, PROJECT_FILES


class NotAProjectTree(ValueError):
    """The path given is not a project tree the checkpoints can grade."""


def active_project() -> Path:
    """`KIT_PROJECT` when set, else the kit's own `project/`."""
    return Path(os.environ.get("KIT_PROJECT") or KIT_ROOT / "project").resolve()


def validate(path: str | os.PathLike) -> Path:
    """Return the tree's absolute path, or raise NotAProjectTree saying what is missing."""
    root = Path(path).expanduser().resolve()
    if not root.exists():
        raise NotAProjectTree(f"{root} does not exist.")
    if not root.is_dir():
        raise NotAProjectTree(f"{root} is a file, not a project folder.")
    missing = [name for name in PROJECT_FILES if not (root / name).is_file()]
    if len(missing) == len(PROJECT_FILES):
        raise NotAProjectTree(
            f"{root} is not a project tree: it has no manage.py, myproject/ or myapp/. "
            "Point --project at the folder that holds manage.py."
        )
    if missing:
        raise NotAProjectTree(f"{root} is missing {', '.join(missing)}.")
    return root


def django_env(project: Path, base: dict | None = None) -> dict:
    """Environment for a process that imports the project's Django settings."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), env.get("PYTHONPATH", "")]))
    env["DJANGO_SETTINGS_MODULE"] = "myproject.settings"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env
