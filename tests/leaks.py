"""Find processes a check left behind: anything that still carries the graded tree in its environment.

The grader gives its checkpoint process KIT_GRADED_PROJECT=<tree>; daphne,
redis-server, Playwright's driver and Chromium inherit it. A tree copied into a
test's tmp_path is unique, so this never counts another engineer's processes.
"""
from __future__ import annotations

import os
from pathlib import Path

import psutil


def leftovers(tree: Path, key: str = "KIT_GRADED_PROJECT") -> list[str]:
    wanted = str(Path(tree).resolve())
    found = []
    for proc in psutil.process_iter(["pid", "name", "status"]):
        try:
            if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(key) == wanted:
                found.append(f"{proc.pid} {proc.info['name']}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found
