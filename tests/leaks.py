"""Find processes a check left behind.

Two marks, because one is not enough: the grader gives its checkpoint process
KIT_SOURCE_TREE=<tree>, which daphne, the host, Playwright's driver and Chromium
inherit; but redis-server rewrites its own environment and command line (its
process title), so a Redis is found by its working directory instead: it
chdirs into a temporary folder, which lands under the TMPDIR a test hands the
grader. A tree or folder in a test's tmp_path is unique, so this never counts
another engineer's processes.
"""
from __future__ import annotations

import os
from pathlib import Path

import psutil


def leftovers(tree: Path, key: str = "KIT_SOURCE_TREE", *, tmpdir: Path | None = None) -> list[str]:
    wanted = str(Path(tree).resolve())
    folder = str(Path(tmpdir).resolve()) if tmpdir else None
    found = []
    for proc in psutil.process_iter(["pid", "name", "status"]):
        try:
            if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(key) == wanted or (folder and proc.cwd().startswith(folder)):
                found.append(f"{proc.pid} {proc.info['name']}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found
