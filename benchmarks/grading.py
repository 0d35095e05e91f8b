"""How fast the grader answers, on this machine (figures, not a test).

Targets on a 2-core machine: the four in-process stages under 3 s in all,
the whole `kit check` of solutions/ under 10 s, daphne start-to-ready under 2 s.

    python -m benchmarks.grading [--runs 5]      # from the kit's folder
"""
import argparse
import subprocess
import sys
import time

from benchmarks.timing import print_medians
from kit import catalogue
from kit.catalogue import KIT_ROOT as ROOT
from kit.server import DaphneServer

IN_PROCESS = [stage.id for stage in catalogue.STAGES if stage.available and not stage.live]


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
    print_medians("Grading speed", measures, runs)

if __name__ == "__main__":
    main()
