"""Channels Kit: the course's tooling (grader, daphne and Redis launchers, notebook helpers).

In a notebook:
    from kit import check, hint
    check("consumer")
    hint("consumer")       # stuck? the next hint, a little more each time
"""
from __future__ import annotations

__all__ = ["check", "hint", "STAGES"]

from kit.course.catalogue import STAGES


def check(*stages: str, project=None):
    """Grade stages of the active tree; the result shows the verdict table inline. Never raises."""
    from kit.lessons.checkpoint import check as notebook_check

    return notebook_check(*stages, project=project)


def hint(stage: str | None = None, project=None) -> str:
    """Print (and return) the next hint for the first failing check; never raises."""
    from kit.lessons.checkpoint import hint as notebook_hint

    return notebook_hint(stage, project=project)
