"""Running the lessons outside JupyterLab, in a real kernel: the kit's notebook tests and benchmarks/notebooks.py.

Nothing here runs in a learner's kernel, so it lives with the tests and no
release carries it. It imports only the kit, so a benchmark can import it as
`tests.notebook_runner` from the kit's folder.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import psutil

from kit.course import catalogue
from kit.isolation.procs import kit_processes, wait_until


def lesson_notebooks() -> list[Path]:
    """The lesson notebooks that exist, in course order: welcome first, then one per stage."""
    names = [catalogue.WELCOME_NOTEBOOK, *(stage.notebook for stage in catalogue.STAGES)]
    return [catalogue.NOTEBOOKS_DIR / name for name in names if (catalogue.NOTEBOOKS_DIR / name).exists()]


def stage_of(notebook: str | os.PathLike) -> catalogue.Stage | None:
    """The stage whose catalogue entry points at this notebook (None for the welcome notebook)."""
    name = Path(notebook).name
    return next((stage for stage in catalogue.STAGES if stage.notebook == name), None)


def execute(notebook: str | os.PathLike, project: str | os.PathLike, *, tags: set[str] | None = None,
            skip: set[str] | None = None, timeout: float = 600, after_last_cell=None,
            env: dict[str, str] | None = None):
    """Run a notebook in a fresh kernel with KIT_PROJECT=project; returns (executed notebook, kernel pid).

    With `tags`, only the cells carrying one of them run (e.g. {"setup", "checkpoint"}); with `skip`, every
    cell but those carrying one of these (e.g. {"checkpoint"}); `env` adds to the kernel's environment.
    `after_last_cell()` is called once the last code cell is done, while the kernel still
    lives: what runs then was left running by the cells themselves.
    A failing cell raises nbclient's CellExecutionError, which names the cell.
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(notebook, as_version=4)
    if tags is not None:
        nb.cells = [cell for cell in nb.cells if tags & set(cell.metadata.get("tags", []))]
    if skip:
        nb.cells = [cell for cell in nb.cells if not skip & set(cell.metadata.get("tags", []))]
    env = dict(os.environ, **(env or {}), KIT_PROJECT=str(Path(project).resolve()))
    pids = []
    last = max((i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"), default=-1)

    def cell_done(cell_index, **_):
        if cell_index == last and after_last_cell is not None:
            after_last_cell()

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(notebook).resolve().parent)}},  # its folder, as in JupyterLab
                            on_notebook_start=lambda notebook: pids.append(client.km.provisioner.pid),
                            on_cell_executed=cell_done)
    client.execute(env=env)
    return nb, (pids[0] if pids else None)


def cell_text(cell) -> str:
    """Everything a code cell showed, as plain text (ANSI colours removed)."""
    parts = []
    for output in cell.get("outputs", []):
        if "text" in output:
            parts.append(output["text"])
        parts.append(output.get("data", {}).get("text/plain", ""))
        if output.get("output_type") == "error":
            parts.append(f"{output['ename']}: {output['evalue']}")
    return re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(parts))


def survivors(tree, kernel_pid):
    """Processes still alive that belong to this run: daphne (cwd in the tree), graders, the kernel."""
    found = {p.pid: p for p in kit_processes(str(tree))}
    for proc in psutil.process_iter(["pid"]):
        try:
            if str(tree) in (proc.cwd() or ""):
                found[proc.pid] = proc
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    if kernel_pid and psutil.pid_exists(kernel_pid):
        try:
            if psutil.Process(kernel_pid).status() != psutil.STATUS_ZOMBIE:
                found[kernel_pid] = psutil.Process(kernel_pid)
        except psutil.NoSuchProcess:
            pass
    return list(found.values())


def describe(procs) -> list[str]:
    found = []
    for proc in procs:
        try:
            found.append(" ".join(proc.cmdline()[:6]))
        except psutil.NoSuchProcess:
            continue
    return found


def assert_nothing_survives(tree, kernel_pid, timeout=30.0):
    assert kernel_pid, "could not learn the kernel's pid"
    # Kernel shutdown and daphne's exit take a moment; wait for them, do not guess a sleep.
    wait_until(lambda: not survivors(tree, kernel_pid), timeout=timeout, interval=0.2)
    left = survivors(tree, kernel_pid)
    assert not left, f"processes outlived the notebook: {describe(left)}"
