"""How long every lesson takes to execute top to bottom (figures, not a test).

Target on a 2-core machine: all notebooks together under 3 minutes. Each runs in
a fresh kernel on a fresh copy of solutions/, as tests/test_notebooks.py does.

    python -m benchmarks.notebooks [NAME ...]      # from the kit's folder; e.g. 03_consumer; default: every lesson
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kit.course.catalogue import KIT_ROOT as ROOT
from kit.course.project import ignore_leftovers
from tests.notebook_runner import execute, lesson_notebooks

TARGET_SECONDS = 180


def timed_run(notebook: Path) -> tuple[float, str]:
    with tempfile.TemporaryDirectory(prefix="kit-bench-") as scratch:
        tree = Path(shutil.copytree(ROOT / "solutions", Path(scratch) / "tree", ignore=ignore_leftovers))
        begun = time.perf_counter()
        try:
            execute(notebook, tree)
            verdict = "ok"
        except Exception as exc:  # a failing cell is a figure too: report it and go on
            verdict = f"failed: {str(exc).strip().splitlines()[0][:80]}"
        return time.perf_counter() - begun, verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook names without .ipynb (default: all)")
    args = parser.parse_args()
    notebooks = [nb for nb in lesson_notebooks() if not args.names or nb.stem in args.names]
    if not notebooks:
        known = ", ".join(nb.stem for nb in lesson_notebooks())
        print(f"No notebook matches {args.names}; the lessons are: {known}")
        return 2

    grid = Table(title="Lesson notebooks, executed top to bottom on solutions/")
    grid.add_column("notebook")
    grid.add_column("seconds", justify="right")
    grid.add_column("result")
    total, failed = 0.0, 0
    for notebook in notebooks:
        seconds, verdict = timed_run(notebook)
        total += seconds
        failed += verdict != "ok"
        grid.add_row(notebook.name, f"{seconds:.1f}", verdict)
    grid.add_row("[bold]total[/]", f"[bold]{total:.1f}[/]",
                 f"target under {TARGET_SECONDS} s: {'met' if total < TARGET_SECONDS else 'MISSED'}")
    Console().print(grid)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
