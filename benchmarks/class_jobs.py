"""How fast a class is graded: one learner at a time, two at once, and in shards merged (figures, not a test; issue 23).

A generated class (benchmarks/class_trees.py: finished, half-done, starter, broken-at-import and hostile trees
in turn) is graded three ways, each from scratch and timed: `kit grade-all --jobs 1`, `--jobs 2`, and as S
shards run as concurrent local processes (`--shard-count S --shard-index i`, each `--jobs 1`) then
`kit grade-merge`. Printed for each way: seconds of wall time, seconds a learner, learners a minute, the
largest memory the grading took at once (all its processes), whether its rows (learners, statuses, points)
equal the `--jobs 1` gradebook's, and whether any process of the class (the hostile spinners among them)
outlived it. Then one learner's cost by stage (mean seconds from the `--jobs 1` grades.json), and what the
best figure implies for 500 learners over 2-core runners (GitHub Free runs 20 at once) beside the 15-minute
goal, counting the minutes a runner takes to set the kit up (--setup-minutes, an assumption: measure yours).

    python -m benchmarks.class_jobs [--learners 24] [--shards 2] [--stages settings asgi ...] [--setup-minutes 4]
                                    [--ways jobs1 jobs2 shards]   (all twelve stages: --stages with no id)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.course import catalogue
from kit.course.catalogue import KIT_ROOT
from kit.grading.limits import PARALLEL
from kit.class_grading.grades import MACHINE

from .class_trees import KINDS, make_class
from .class_watch import Watch, leftovers

GOAL_MINUTES = 15
CLASS_SIZE = 500
SHARD_COUNTS = (10, 20, 40, 60)
WAYS = ("jobs1", "jobs2", "shards")
IN_PROCESS = ["settings", "asgi", "consumer", "routing"]   # no daphne, no browser: a run fits in about 20 min


def kit(*args: str, out_file: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"}
    with open(out_file, "w", encoding="utf-8") as said:
        return subprocess.Popen([sys.executable, "-m", "kit", *args], cwd=KIT_ROOT, env=env, stdout=said,
                                stderr=subprocess.STDOUT, text=True)


def finish(procs: list[subprocess.Popen], logs: list[Path], what: str) -> None:
    for proc, log in zip(procs, logs):
        if proc.wait() != 0:
            raise SystemExit(f"{what} failed ({proc.args[3:]}):\n{log.read_text(encoding='utf-8')[-3000:]}")


def grade(way: str, root: Path, work: Path, stages: list[str], jobs: int, shards: int, mark: str) -> dict:
    """One way of grading the class, from scratch: its figures and the folder of its class gradebook."""
    folder = work / way.replace(" ", "-")
    folder.mkdir()
    begun = time.perf_counter()
    if shards:
        logs = [folder / f"shard_{i}.log" for i in range(shards)]
        procs = [kit("grade-all", str(root), *stages, "--shard-count", str(shards), "--shard-index", str(i),
                     "--jobs", "1", "--out", str(folder / f"shard_{i}"), out_file=logs[i]) for i in range(shards)]
        watch = Watch([p.pid for p in procs])
        finish(procs, logs, "a shard")
        merged = kit("grade-merge", *(str(folder / f"shard_{i}") for i in range(shards)),
                     "--out", str(folder / "merged"), out_file=folder / "merge.log")
        finish([merged], [folder / "merge.log"], "grade-merge")
        out = folder / "merged"
    else:
        out = folder / "out"
        proc = kit("grade-all", str(root), *stages, "--out", str(out), "--jobs", str(jobs),
                   out_file=folder / "grade.log")
        watch = Watch([proc.pid])
        finish([proc], [folder / "grade.log"], f"grade-all --jobs {jobs}")
    seconds = time.perf_counter() - begun
    watch.stop()
    time.sleep(2)   # a process the grading killed last may take a moment to be gone
    return {"way": way, "seconds": seconds, "peak": watch.peak, "load": watch.load, "out": out,
            "left": leftovers(watch, mark, str(work))}


def rows(out: Path) -> dict[str, tuple]:
    """grades.json's learners: status, total and each stage's verdict and points (no seconds, no second_try)."""
    data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    return {e["key"]: (e["learner"], e["status"], e["total"], e["max_score"], tuple(e["not_graded"]),
                       tuple((s["id"], s["verdict"], s["points"]) for s in (e["report"] or {}).get("stages", [])))
            for e in data["learners"]}


def machine_failed(row: tuple | None) -> bool:
    """A row of rows() that is 'not graded, re-run' in whole or in part: the machine's verdict, not the tree's."""
    return row is not None and (row[1] == MACHINE or bool(row[4]))


def stage_costs(out: Path, stages: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """From one gradebook: mean seconds of each stage over the learners that ran it, and mean seconds a learner
    of each kind (the kind is the end of the learner's folder name)."""
    data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    by_stage: dict[str, list[float]] = {s: [] for s in stages}
    by_kind: dict[str, list[float]] = {}
    for entry in data["learners"]:
        by_kind.setdefault(entry["learner"].split("-", 1)[-1], []).append(entry["seconds"])
        for stage in (entry["report"] or {}).get("stages", []):
            if stage["id"] in by_stage:
                by_stage[stage["id"]].append(stage["seconds"])
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0   # noqa: E731
    return {s: mean(x) for s, x in by_stage.items()}, {k: mean(x) for k, x in sorted(by_kind.items())}


def not_graded(out: Path) -> int:
    return sum(1 for row in rows(out).values() if machine_failed(row))


def projection(per_learner: float, source: str, setup: float, concurrency: int) -> None:
    print(f"\n{CLASS_SIZE} learners over N shards, each a 2-core runner at {per_learner:.1f} s a learner (the best "
          f"figure above: {source}), plus {setup:g} min to set a runner up; goal {GOAL_MINUTES} min:")
    for shards in sorted({*SHARD_COUNTS, concurrency}):
        waves = math.ceil(shards / concurrency)   # more shards than the plan runs at once: in waves
        minutes = waves * (setup + math.ceil(CLASS_SIZE / shards) * per_learner / 60)
        verdict = "within" if minutes <= GOAL_MINUTES else "over"
        print(f"  {shards:3d} shards ({waves} wave(s) of {concurrency}): {math.ceil(CLASS_SIZE / shards):3d} "
              f"learners each, {minutes:5.1f} min ({verdict} the goal)")
    needed = math.ceil(CLASS_SIZE * per_learner / 60 / max(0.1, GOAL_MINUTES - setup))
    print(f"  runners needed at once for {GOAL_MINUTES} min: {needed} (the plan runs {concurrency})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=24)
    parser.add_argument("--stages", nargs="*", default=IN_PROCESS, help="stage ids (none given: every stage)")
    parser.add_argument("--shards", type=int, default=2, help="shards run at once as local processes, then merged")
    parser.add_argument("--setup-minutes", type=float, default=4.0,
                        help="a runner's time to check out and set the kit up (browser, sandbox), assumed")
    parser.add_argument("--concurrency", type=int, default=20, help="jobs the plan runs at once (GitHub Free: 20)")
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS),
                        help="which ways to grade the class (fewer: a shorter run; rows are compared with the first)")
    args = parser.parse_args(argv)
    stages = args.stages or [s.id for s in catalogue.STAGES if s.available]
    mark = "kspin" + secrets.token_hex(4)   # the hostile spinners' name: 13 characters, under comm's 15
    print(f"{args.learners} learners ({', '.join(KINDS)} in turn; hostile: sleep 30 s at import, connect() "
          f"that never returns, CPU spinners), stages: {' '.join(stages)}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the start", flush=True)
    ways = [way for name, way in zip(WAYS, [("--jobs 1", 1, 0), ("--jobs 2", 2, 0), (f"{args.shards} shards", 1,
                                                                                   args.shards)]) if name in args.ways]
    results = []
    with tempfile.TemporaryDirectory(prefix="kit-class-bench-") as folder:
        work = Path(folder)
        root = work / "class"
        kinds = make_class(root, args.learners, mark, stages)
        for way, jobs, shards in ways:
            found = grade(way, root, work, stages if args.stages else [], jobs, shards, mark)
            found["same"] = rows(found["out"]) == rows(results[0]["out"]) if results else None
            found["not_graded"] = not_graded(found["out"])
            results.append(found)
            per = found["seconds"] / args.learners
            same = "" if found["same"] is None else \
                f"; same rows: {'yes' if found['same'] else 'no'} (as {results[0]['way']})"
            print(f"{way}{' + grade-merge' if shards else ''}: {found['seconds']:.0f} s for the class, {per:.1f} s a "
                  f"learner, {60 / per:.2f} learners a minute; memory at its peak {found['peak'] / 2**30:.2f} GiB; "
                  f"load average up to {found['load']:.1f}; {found['not_graded']} learner(s) not graded{same}",
                  flush=True)
            print(f"  processes of the class left after it: {len(found['left']) or 'none'}", flush=True)
            for line in found["left"]:
                print(f"    {line}")
            if found["same"] is False:
                first, these = rows(results[0]["out"]), rows(found["out"])
                differ = [key for key in first.keys() | these.keys() if first.get(key) != these.get(key)]
                machine = [key for key in differ if machine_failed(first.get(key)) or machine_failed(these.get(key))]
                print(f"  rows that differ from {results[0]['way']}'s: {len(differ)}, {len(machine)} of them a learner the "
                      f"machine failed in one of the two (not graded, re-run): {', '.join(sorted((first.get(k) or these[k])[0] for k in machine)) or '-'}")
                for key in sorted(set(differ) - set(machine)):
                    print(f"    {first.get(key)} / {these.get(key)}")
        per_stage, per_kind = stage_costs(results[0]["out"], stages)
        print(f"\nOne learner's cost by stage (mean seconds, {results[0]['way']}; {len(kinds)} learners): "
              + ", ".join(f"{s} {x:.1f}" for s, x in per_stage.items()) + f"; sum {sum(per_stage.values()):.1f} (a "
              f"learner's stages run at once, {PARALLEL} at most, so its wall time is less)")
        print("  by kind (mean wall seconds a learner): " + ", ".join(f"{k} {x:.1f}" for k, x in per_kind.items()))
    best = min(results, key=lambda r: r["seconds"])
    projection(best["seconds"] / args.learners, best["way"], args.setup_minutes, args.concurrency)
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
