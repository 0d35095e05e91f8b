"""Helpers for the lessons: the checkpoint cell and one background daphne per project.

    from kit import check
    check("consumer")                  # grades in a fresh process, shows a table

    from kit.notebook import serve, stop
    server = serve()                   # re-running the cell reuses the running server
"""
from __future__ import annotations

import atexit
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from .project import active_project, validate

_servers: dict[Path, "object"] = {}


def check(*stages: str, project=None):
    """Grade in a fresh process (the learner's saved files, no clash with the kernel's loop)."""
    from rich.console import Console

    from .grader import Failure, Report, StageResult
    from .render import table

    root = validate(project or active_project())
    cmd = [sys.executable, "-m", "kit", "check", *stages, "--project", str(root), "--json", "-"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    console = Console()
    if done.returncode == 2 or not done.stdout.strip():
        console.print(f"[bold red]The grader could not run:[/] {done.stderr.strip() or done.stdout.strip()}")
        return None
    data = json.loads(done.stdout)
    results = []
    for entry in data["stages"]:
        failures = [Failure(**f) for f in entry.pop("failures")]
        results.append(StageResult(**entry, failures=failures))
    report = Report(project=data["project"], stages=results)
    console.print(table(report))
    if report.all_passed:
        console.print("[bold green]Checkpoint passed.[/]")
    return SimpleNamespace(passed=report.all_passed, score=report.score, max_score=report.max_score, report=report)


def serve(project=None, *, restart: bool = False, **options):
    """The background daphne for this project: started once, reused when the cell runs again."""
    from .server import DaphneServer

    root = validate(project or active_project())
    server = _servers.get(root)
    if server is not None and server.running and not restart:
        print(f"daphne is already running at {server.url}/chat/ (serve(restart=True) after editing files)")
        return server
    if server is not None:
        server.stop()
    server = DaphneServer(root, **options).start()
    _servers[root] = server
    print(f"daphne is serving {root.name}/ at {server.url}/chat/ (ready in {server.started_in:.1f} s)")
    return server


def stop(project=None) -> None:
    """Stop the background daphne (all of them when no project is named)."""
    roots = [validate(project)] if project else list(_servers)
    for root in roots:
        server = _servers.pop(root, None)
        if server is not None:
            server.stop()
            print(f"daphne for {root.name}/ stopped")


atexit.register(stop)
