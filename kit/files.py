"""`kit solve` and `kit reset`: copy a stage's files in, never losing the learner's work.

Stages share files (settings.py grows in the settings, redis and hardening
stages). A file the learner has changed that also belongs to another stage is
left alone unless --force; every file replaced is first copied to
<project>/.kit-backups/<time>/.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from rich.console import Console

from .catalogue import KIT_ROOT, Stage, stages_for_file

SOLUTIONS = KIT_ROOT / "solutions"
STARTER_SNAPSHOT = KIT_ROOT / ".kit" / "starter"   # written by `kit release`
out = Console()


def starter_text(relpath: str) -> str | None:
    """The file as the kit hands it out: a release's snapshot, else project/ at the kit's git HEAD."""
    snapshot = STARTER_SNAPSHOT / relpath
    if snapshot.is_file():
        return snapshot.read_text(encoding="utf-8")
    try:
        shown = subprocess.run(["git", "-C", str(KIT_ROOT), "show", f"HEAD:project/{relpath}"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return shown.stdout if shown.returncode == 0 else None


def solution_text(relpath: str) -> str | None:
    path = SOLUTIONS / relpath
    return path.read_text(encoding="utf-8") if path.is_file() else None


def solve(stage: Stage, project: Path, *, force: bool = False) -> int:
    if not SOLUTIONS.is_dir():
        out.print("[yellow]This copy of the kit has no solutions: ask your instructor, or read the hints "
                  "with `kit check`.[/]")
        return 1
    return _replace(stage, project, solution_text, "finished", force)


def reset(stage: Stage, project: Path, *, force: bool = False) -> int:
    return _replace(stage, project, starter_text, "starter", force)


def _replace(stage: Stage, project: Path, source, label: str, force: bool) -> int:
    backup_dir = project / ".kit-backups" / time.strftime("%Y%m%d-%H%M%S")
    refused = []
    if not stage.files:
        out.print(f"Stage {stage.id} has no files of its own: it checks the earlier stages' files. "
                  "Solve or reset those stages instead.")
        return 1
    for relpath in stage.files:
        wanted = source(relpath)
        if wanted is None:
            out.print(f"[red]No {label} copy of {relpath} is available.[/]")
            return 1
        target = project / relpath
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == wanted:
            out.print(f"  {relpath}: already the {label} version")
            continue
        others = [s.id for s in stages_for_file(relpath) if s.id != stage.id]
        if others and current is not None and current != starter_text(relpath) and not force:
            refused.append((relpath, others))
            continue
        if current is not None:
            (backup_dir / relpath).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, backup_dir / relpath)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(wanted, encoding="utf-8")
        saved = f" (yours saved in {backup_dir.relative_to(project)}/{relpath})" if current is not None else ""
        out.print(f"  {relpath}: {label} version written{saved}")
    for relpath, others in refused:
        elsewhere = f", or copy the part you need from solutions/{relpath}" if SOLUTIONS.is_dir() else ""
        out.print(f"[yellow]  {relpath}: left alone. You edited it, and it also holds your work for "
                  f"stage(s) {', '.join(others)}. Add --force to replace it anyway (a backup is kept)"
                  f"{elsewhere}.[/]")
    if label == "finished":
        out.print("daphne does not reload code: restart `kit serve` or the notebook's server to use it.")
    return 1 if refused else 0
