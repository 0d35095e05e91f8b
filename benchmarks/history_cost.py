"""What the `history` stage costs the chat: relayed throughput before and after it (figures, not a test).

The floor is measured in the same run: the tree a learner holds right after
stage `users` (the starter with every stage up to `users` solved, as
tests/conftest.py's solved_through builds it), which relays messages without
touching the database. Against it, the finished tree (solutions/), whose
consumer also saves every relayed message with database_sync_to_async and
replays the last 50 to each socket that joins. Both get the same load from the
kit's one driver (kit/benchmark/load.py's burst: senders flood one room, listeners only
read, every client logged in), on daphne with the in-memory layer and the rate
limit lifted; the two trees take turns, `--runs` times each, and the table
shows the medians.

    python -m benchmarks.history_cost [--runs 3] [--senders 5] [--listeners 5] [--messages 200]

msgs/s: messages relayed per second (each one reaches every client of the
room); deliveries/s: those times the room's size, as `kit bench` counts them.
Loopback only; every server is stopped on exit.
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from kit.course import catalogue, files
from kit.course.catalogue import KIT_ROOT
from kit.benchmark.load import UNLIMITED, Tally, burst
from kit.course.project import ignore_leftovers
from kit.services.server import DaphneServer

def tree_after(stage_id: str, dest: Path) -> Path:
    """A copy of the starter with every stage up to `stage_id` solved (tests/conftest.py's solved_through)."""
    shutil.copytree(KIT_ROOT / "project", dest, ignore=ignore_leftovers)
    return files.write_state_after(catalogue.get(stage_id), dest)


def finished_tree(dest: Path) -> Path:
    """A private copy of solutions/ with a database of its own, as fresh as the floor's."""
    return Path(shutil.copytree(KIT_ROOT / "solutions", dest, ignore=ignore_leftovers))


def p95_ms(tally: Tally) -> float | None:
    if not tally.latencies_ns:
        return None
    ordered = sorted(tally.latencies_ns)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] / 1e6


def one_run(base: Path, dest: Path, shape: dict) -> dict:
    """Serve a fresh copy of the tree, run the burst, return its figures (and what went wrong, if anything).

    Fresh, database included: the finished tree replays a room's last 50 messages to each socket that
    joins, and a replay of the last run's numbered messages and done markers would be counted as this run's.
    """
    tree = Path(shutil.copytree(base, dest, ignore=ignore_leftovers))
    with DaphneServer(tree, env={"REDIS_URL": "", **UNLIMITED}, extra_args=("-v", "0")) as server:
        tally = asyncio.run(burst(server, **shape))
        errors = server.log_text().count("Traceback")
    room = shape["senders"] + shape["listeners"]
    return {"msgs": tally.delivered_per_second / room, "deliveries": tally.delivered_per_second,
            "p50": tally.p50_ms, "p95": p95_ms(tally), "lost": tally.lost, "expected": tally.expected,
            "refused": tally.corrupted, "errors": errors, "notes": tally.notes}


def median(runs: list[dict], key: str) -> float | None:
    values = [run[key] for run in runs if run[key] is not None]
    return statistics.median(values) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per tree; the table shows medians")
    parser.add_argument("--senders", type=int, default=5)
    parser.add_argument("--listeners", type=int, default=5)
    parser.add_argument("--messages", type=int, default=200, help="messages per sender")
    args = parser.parse_args()
    shape = {"senders": args.senders, "listeners": args.listeners, "messages": args.messages}
    console = Console(width=None if sys.stdout.isatty() else 110)  # a log keeps the table on one line a row
    with tempfile.TemporaryDirectory(prefix="kit-history-cost-") as scratch:
        trees = {"after users (floor)": tree_after("users", Path(scratch) / "users"),
                 "finished (history)": finished_tree(Path(scratch) / "finished")}
        runs: dict[str, list[dict]] = {label: [] for label in trees}
        for number in track(range(args.runs), description="alternating the two trees", transient=True,
                            console=console):
            for label, tree in trees.items():  # in turns, so a busy moment of the machine hits both
                runs[label].append(one_run(tree, tree.with_name(f"{tree.name}-{number}"), shape))
    table = Table(title=f"Relayed chat, {args.senders} senders x {args.messages} messages into a room of "
                        f"{args.senders + args.listeners}, median of {args.runs} runs")
    for column in ("tree", "msgs/s", "deliveries/s", "p50 ms", "p95 ms", "lost", "refused", "tracebacks"):
        table.add_column(column, justify="left" if column == "tree" else "right")
    for label, done in runs.items():
        table.add_row(label, f"{median(done, 'msgs'):,.0f}", f"{median(done, 'deliveries'):,.0f}",
                      _ms(median(done, "p50")), _ms(median(done, "p95")),
                      f"{sum(r['lost'] for r in done)}/{sum(r['expected'] for r in done)}",
                      str(sum(r["refused"] for r in done)), str(sum(r["errors"] for r in done)))
    console.print(table)
    floor, finished = (runs[label] for label in trees)
    ratio = median(finished, "msgs") / median(floor, "msgs")
    p50_floor, p50_finished = median(floor, "p50"), median(finished, "p50")
    console.print(f"History keeps {ratio:.2f}x the floor's throughput ({(ratio - 1) * 100:+.0f}%); "
                  f"median latency {p50_finished / p50_floor:.1f}x the floor's." if p50_floor and p50_finished
                  else f"History keeps {ratio:.2f}x the floor's throughput.")
    notes = sorted({note for done in runs.values() for run in done for note in run["notes"]})
    for note in notes:
        console.print(f"[yellow]a run ended early: {note}[/]")
    broken = any(r["lost"] or r["refused"] or r["errors"] for done in runs.values() for r in done)
    if broken:
        console.print("[red]Some messages were lost or refused, or daphne logged a traceback: "
                      "the figures above are not a clean comparison.[/]")
    return 1 if broken else 0


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


if __name__ == "__main__":
    sys.exit(main())
