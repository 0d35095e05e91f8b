"""How fast the grader answers, on this machine (figures, not a test).

Targets on a 2-core machine: the four in-process stages under 3 s in all,
the whole `kit check` of solutions/ under 10 s, daphne start-to-ready under 2 s.

    python benchmarks/grading.py [--runs 5]
"""
import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit.server import DaphneServer  # noqa: E402

IN_PROCESS = ["settings", "asgi", "consumer", "routing"]


def timed_check(*stages: str) -> float:
    begun = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kit", "check", *stages, "--project", str(ROOT / "solutions"),
                           "--json", "-"], capture_output=True, cwd=ROOT)
    elapsed = time.perf_counter() - begun
    if done.returncode != 0:
        raise SystemExit(f"solutions/ did not pass ({' '.join(stages) or 'all'}): {done.stdout[-400:]!r}")
    return elapsed


def daphne_ready() -> float:
    with DaphneServer(ROOT / "solutions") as server:
        return server.started_in


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    measures = {
        "four in-process stages": (lambda: timed_check(*IN_PROCESS), 3.0),
        "whole kit check": (lambda: timed_check(), 10.0),
        "daphne start-to-ready": (daphne_ready, 2.0),
    }
    table = Table(title=f"Grading speed, median of {runs} runs")
    for column in ("what", "median s", "min s", "max s", "target s", "within"):
        table.add_column(column)
    for name, (measure, target) in measures.items():
        samples = [measure() for _ in track(range(runs), description=name, transient=True)]
        median = statistics.median(samples)
        table.add_row(name, f"{median:.2f}", f"{min(samples):.2f}", f"{max(samples):.2f}", f"{target:.1f}",
                      "yes" if median <= target else "NO")
    Console().print(table)


if __name__ == "__main__":
    main()
