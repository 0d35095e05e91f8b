"""How fast a class is graded, one learner at a time and several at once (figures, not a test; issue 23).

A generated class (finished trees, half-done ones, the starter, and trees broken at import, in turn) is graded
with `kit grade-all --jobs 1` and `--jobs 2`, each from scratch. Printed: seconds per learner and learners a
minute for each, the largest memory the grading took at once (all processes), and what the faster figure
implies for 500 learners over N shards (each a 2-core machine, a GitHub Free runner) beside the 15-minute
goal, counting the minutes a runner takes to set the kit up (--setup-minutes, an assumption: measure yours).

    python -m benchmarks.class_jobs [--learners 6] [--stages settings asgi ...] [--setup-minutes 4]
"""
from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from kit import catalogue, files
from kit.catalogue import KIT_ROOT

GOAL_MINUTES = 15
CLASS_SIZE = 500
SHARD_COUNTS = (10, 20, 40, 60)
KINDS = ("finished", "half", "starter", "broken")


def make_tree(dest: Path, through: str | None, broken: bool = False) -> None:
    shutil.copytree(KIT_ROOT / "project", dest, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3"))
    if through:
        for relpath in catalogue.PROJECT_FILES:
            text = files.solution_text(relpath, catalogue.get(through))
            if text is not None:
                (dest / relpath).parent.mkdir(parents=True, exist_ok=True)
                (dest / relpath).write_text(text, encoding="utf-8")
    if broken:
        settings = dest / "myproject" / "settings.py"
        settings.write_text(settings.read_text(encoding="utf-8").replace("INSTALLED_APPS = [", "INSTALLED_APPS = [[", 1),
                            encoding="utf-8")


def make_class(root: Path, learners: int) -> list[str]:
    available = [s.id for s in catalogue.STAGES if s.available]
    made = []
    for number in range(learners):
        kind = KINDS[number % len(KINDS)]
        through = {"finished": available[-1], "half": available[len(available) // 2 - 1], "starter": None,
                   "broken": available[-1]}[kind]
        make_tree(root / f"learner{number:03d}-{kind}" / "project", through, broken=kind == "broken")
        made.append(kind)
    return made


class PeakMemory:
    """The largest resident memory of a process and all its descendants, sampled twice a second."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                root = psutil.Process(self.pid)
                family = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for proc in family:
                try:
                    total += proc.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=2)
        return self.peak


def grade(root: Path, out: Path, stages: list[str], jobs: int) -> tuple[float, int]:
    env = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"}
    begun = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "kit", "grade-all", str(root), *stages, "--out", str(out),
                             "--jobs", str(jobs)], cwd=KIT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    meter = PeakMemory(proc.pid)
    said = proc.communicate()[0]
    peak = meter.stop()
    if proc.returncode != 0:
        raise SystemExit(f"grade-all --jobs {jobs} failed:\n{said[-3000:]}")
    return time.perf_counter() - begun, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=6)
    parser.add_argument("--stages", nargs="*", default=[], help="stage ids (default: every stage)")
    parser.add_argument("--jobs", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--setup-minutes", type=float, default=4.0,
                        help="a runner's time to check out and set the kit up (browser, sandbox), assumed")
    parser.add_argument("--concurrency", type=int, default=20, help="jobs the plan runs at once (GitHub Free: 20)")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    print(f"{args.learners} learners ({', '.join(KINDS)} in turn), stages: {' '.join(args.stages) or 'all'}; "
          f"{os.cpu_count()} cores, load average {load:.1f} at the start")
    figures = {}
    with tempfile.TemporaryDirectory(prefix="kit-class-bench-") as folder:
        root = Path(folder) / "class"
        make_class(root, args.learners)
        for jobs in args.jobs:
            seconds, peak = grade(root, Path(folder) / f"out-{jobs}", args.stages, jobs)
            figures[jobs] = seconds / args.learners
            print(f"--jobs {jobs}: {seconds:.0f} s for the class, {figures[jobs]:.1f} s a learner, "
                  f"{60 / figures[jobs]:.1f} learners a minute; memory at its peak {peak / 2**30:.2f} GiB "
                  f"({peak / 2**30 / jobs:.2f} GiB a learner graded at once)")
    best_jobs = min(figures, key=figures.get)
    per_learner = figures[best_jobs]
    print(f"\n{CLASS_SIZE} learners over N shards, each a 2-core runner grading with --jobs {best_jobs} "
          f"({per_learner:.1f} s a learner), plus {args.setup_minutes:g} min to set a runner up; goal "
          f"{GOAL_MINUTES} min:")
    for shards in SHARD_COUNTS:
        waves = math.ceil(shards / args.concurrency)   # more shards than the plan runs at once: in waves
        minutes = waves * (args.setup_minutes + math.ceil(CLASS_SIZE / shards) * per_learner / 60)
        verdict = "within" if minutes <= GOAL_MINUTES else "over"
        print(f"  {shards:3d} shards ({waves} wave(s) of {args.concurrency}): {math.ceil(CLASS_SIZE / shards):3d} "
              f"learners each, {minutes:5.1f} min ({verdict} the goal)")
    needed = math.ceil(CLASS_SIZE * per_learner / 60 / max(0.1, GOAL_MINUTES - args.setup_minutes))
    print(f"  runners needed at once for {GOAL_MINUTES} min: {needed} (the plan runs {args.concurrency})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
