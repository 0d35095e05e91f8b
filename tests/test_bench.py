"""`kit bench` end to end on a tiny load: real daphne, real Redis, real sockets.

Checks that the figures add up (every expected delivery is either delivered or
lost), that loss is really counted, and that nothing is left running; never speed.
"""
from __future__ import annotations

import json

import pytest

from conftest import run_kit
from leaks import leftovers

MARK = "KIT_BENCH_TEST_TREE"


def bench(tree, *args: str) -> tuple[int, dict, str]:
    # MARK finds daphne and the bare server left running; TMPDIR finds a Redis (see leaks.py).
    scratch = tree.parent / "scratch"
    scratch.mkdir(exist_ok=True)
    done = run_kit("bench", "--project", str(tree), "--json", "-", *args,
                   env={MARK: str(tree.resolve()), "REDIS_URL": "", "TMPDIR": str(scratch)}, timeout=300)
    report = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, report, done.stderr


def test_tiny_bench_adds_up(solved_tree):
    code, report, stderr = bench(solved_tree, "--clients", "4", "--senders", "2", "--messages", "15",
                                 "--layers", "memory,redis,pubsub,redis:1000")
    assert code == 0, stderr
    rows = {row["label"]: row for row in report["results"]}
    assert list(rows) == ["in-memory (cap 100)", "Redis (cap 100)", "Redis pub/sub", "Redis (cap 1000)",
                          "bare websockets"]
    for label, row in rows.items():
        assert row["error"] is None, (label, row["error"])
        assert row["expected"] == 4 * 2 * 15
        assert row["delivered"] + row["lost"] == row["expected"], row
        assert 0 <= row["lost"] <= row["expected"]
        assert row["duplicated"] == 0 and row["refused"] == 0, row
        assert row["delivered"] > 0 and row["deliveries_per_s"] > 0 and row["seconds"] > 0
        assert 0 <= row["p50_ms"] <= row["p99_ms"]
        assert row["lost_percent"] == pytest.approx(100 * row["lost"] / row["expected"], abs=0.01)
        assert (row["bare_ratio"] is None) == (label == "bare websockets")
    # 30 messages can never overrun a capacity of 1000; pub/sub has no queue to overrun.
    assert rows["Redis (cap 1000)"]["lost"] == 0 and rows["Redis pub/sub"]["lost"] == 0
    assert rows["bare websockets"]["lost"] == 0
    assert leftovers(solved_tree, MARK, tmpdir=solved_tree.parent / "scratch") == []


def test_overrun_capacity_is_counted_as_lost(solved_tree):
    """A capacity of 1 under a burst drops messages silently; the bench must see it and say so."""
    code, report, _ = bench(solved_tree, "--clients", "3", "--senders", "2", "--messages", "100",
                            "--layers", "memory:1", "--no-bare", "--quiet", "1")
    row = report["results"][0]
    assert code == 0 and row["error"] is None
    assert row["lost"] > 0 and row["delivered"] + row["lost"] == row["expected"] == 600
    assert leftovers(solved_tree, MARK, tmpdir=solved_tree.parent / "scratch") == []


def test_table_names_the_loss(solved_tree):
    done = run_kit("bench", "--project", str(solved_tree), "--clients", "3", "--senders", "2", "--messages", "100",
                   "--layers", "memory:1", "--no-bare", "--quiet", "1", env={"COLUMNS": "120"}, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Lost without an error" in done.stdout and "capacity" in done.stdout


def test_unfinished_tree_is_a_plain_failure(starter_tree):
    code, report, _ = bench(starter_tree, "--clients", "2", "--senders", "1", "--messages", "2",
                            "--layers", "memory", "--no-bare")
    assert code == 1
    assert "could not chat" in report["results"][0]["error"]
    assert leftovers(starter_tree, MARK, tmpdir=starter_tree.parent / "scratch") == []


@pytest.mark.parametrize("args, words", [
    (("--layers", "mongo"), "unknown layer 'mongo'"),
    (("--layers", "redis:lots"), "not a whole number"),
    (("--senders", "9", "--clients", "3"), "cannot exceed --clients"),
    (("--messages", "0",), "--messages must be at least 1"),
])
def test_bad_options_are_explained(solved_tree, args, words):
    done = run_kit("bench", "--project", str(solved_tree), *args, timeout=60)
    assert done.returncode == 2
    assert words in done.stderr
