"""How long the live stages take on this machine: Chromium, Redis, and grading `frontend` and `redis`.

Figures, not a test. Targets on a 2-core machine: Chromium ready under 3 s,
a private Redis under 1 s, each of the two stages graded under 20 s.

    python benchmarks/live_stages.py [--runs 3]
"""
import argparse
import os
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

from kit import browser  # noqa: E402
from kit.redis import RedisServer  # noqa: E402


def timed(action) -> float:
    begun = time.perf_counter()
    action()
    return time.perf_counter() - begun


def chromium_ready() -> None:
    with browser.chromium() as chromium:
        chromium.new_page().close()


def redis_ready() -> None:
    with RedisServer(use_env=False):
        pass


def grade(stage: str):
    def action():
        env = dict(os.environ, REDIS_URL="")  # the kit starts its own Redis
        done = subprocess.run([sys.executable, "-m", "kit", "check", stage, "--project", str(ROOT / "solutions"),
                               "--json", "-"], capture_output=True, text=True, cwd=ROOT, env=env)
        if done.returncode != 0:
            raise SystemExit(f"solutions/ did not pass {stage}: {done.stdout[-400:]!r}")
    return action


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    reason = browser.why_unavailable()
    if reason:
        raise SystemExit(reason)
    measures = {
        "Chromium launch + first page": (chromium_ready, 3.0),
        "private Redis start + stop": (redis_ready, 1.0),
        "kit check frontend": (grade("frontend"), 20.0),
        "kit check redis": (grade("redis"), 20.0),
    }
    table = Table(title=f"Live stages, median of {runs} runs")
    for column in ("what", "median s", "min s", "max s", "target s", "within"):
        table.add_column(column)
    for name, (action, target) in measures.items():
        samples = [timed(action) for _ in track(range(runs), description=name, transient=True)]
        median = statistics.median(samples)
        table.add_row(name, f"{median:.2f}", f"{min(samples):.2f}", f"{max(samples):.2f}", f"{target:.1f}",
                      "yes" if median <= target else "NO")
    Console().print(table)


if __name__ == "__main__":
    main()
