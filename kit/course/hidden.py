"""Hidden checks: an instructor's own checkpoint modules, graded with the stage they name.

They live in `exercises/hidden/` unless `KIT_HIDDEN_CHECKS` names another
folder. A module `test_<stage>_<anything>.py` runs in the same pytest process
as `exercises/test_<stage>.py`, so its failures cost that stage's points
(all or nothing, as for the stage's own checks). `kit release` leaves the
folder out, so learners never see them.

The `<stage>_` part keeps its name apart from the stage's own module: pytest
imports both under their base names, and two `test_consumer.py` would clash.
"""
from __future__ import annotations

import os
from pathlib import Path

from kit.course.catalogue import EXERCISES_DIR, Stage, stage_of_module

DEFAULT_FOLDER = EXERCISES_DIR / "hidden"
ENV_VAR = "KIT_HIDDEN_CHECKS"


class HiddenChecksError(ValueError):
    """KIT_HIDDEN_CHECKS names something that is not a folder."""


def folder() -> Path | None:
    """The hidden-checks folder in use, or None when there is none."""
    named = os.environ.get(ENV_VAR)
    if named:
        path = Path(named).expanduser().resolve()
        if not path.is_dir():
            raise HiddenChecksError(f"{ENV_VAR} is set to {named!r}, which is not a folder. "
                                    "Point it at the folder holding your test_<stage>_*.py modules, or unset it.")
        return path
    return DEFAULT_FOLDER if DEFAULT_FOLDER.is_dir() else None


def modules() -> list[Path]:
    place = folder()
    return sorted(place.glob("test_*.py")) if place else []


def checks_for(stage: Stage) -> list[Path]:
    """The hidden modules that belong to this stage."""
    return [path for path in modules() if _stage_of(path) == stage.id]


def orphans() -> list[Path]:
    """Hidden modules whose name matches no stage: they would never run, so the instructor is told."""
    return [path for path in modules() if _stage_of(path) is None]


def _stage_of(path: Path) -> str | None:
    stage_id = stage_of_module(path.name)
    return stage_id if path.name.startswith(f"test_{stage_id}_") else None
