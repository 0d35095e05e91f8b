"""Proving a move of course data (issue 19) against the commit before it, for as long as that proof means something.

A test that compares what the kit shows now with what it showed at BEFORE proves a move: the hint
ladders out of Python, the per-stage solution copies into stage regions. Once the moved files are
changed on purpose after the move, BEFORE no longer describes the course and the comparison says
nothing: the test then skips, naming the move's commit, and the durable tests (every ladder string
translated; each stage's state passes exactly its stages) carry on.
"""
from __future__ import annotations

import subprocess

import pytest
from conftest import KIT_ROOT

BEFORE = "4bf878a4d94e8d258074b7e1be511deb686b628e"   # the commit before issue 19's moves


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(KIT_ROOT), *args], capture_output=True, text=True, timeout=60)


def require_unchanged_since_move(paths: list[str], diff_filter: str, made: str) -> None:
    """Skip unless BEFORE is here and `paths` are as the move left them. The move is the first commit after
    BEFORE whose change to `made` has diff_filter (A: added it, D: deleted it); none yet means the move is
    the working tree's and is what is proven."""
    if git("cat-file", "-e", f"{BEFORE}^{{commit}}").returncode != 0:
        pytest.skip(f"this checkout does not hold commit {BEFORE} (a shallow clone, or a release)")
    moves = git("log", "--reverse", f"--diff-filter={diff_filter}", "--format=%H", f"{BEFORE}..HEAD", "--", made)
    move = moves.stdout.split()[0] if moves.stdout.split() else None
    if move and git("diff", "--quiet", move, "--", *paths).returncode != 0:
        pytest.skip(f"{', '.join(paths)} changed since the move ({move[:10]}): the comparison with {BEFORE[:10]} "
                    "proved that move and says nothing of later changes")


def show(path: str) -> bytes | None:
    """A file as it was at BEFORE, or None when it did not exist there."""
    done = subprocess.run(["git", "-C", str(KIT_ROOT), "show", f"{BEFORE}:{path}"], capture_output=True, timeout=60)
    return done.stdout if done.returncode == 0 else None
