"""What Bengali lessons 07, 08 and 11 show at run time that a whole-lesson run found in English (issue 18):
`kit bench`'s report (07 runs it), a client's name the lesson gives a table (11: "bob, after a restart") and
the value "none" (08: nothing in daphne's log). Built in memory: no lesson, server or grading runs (< 1 s).
Every whole lesson runs in a Bengali kernel in tests/test_bengali_lessons_run.py."""
from __future__ import annotations

import io
import re

from test_bengali_prose import english_prose

from kit.benchmark import bench
from kit.lessons.speaking import said_in_lesson_language
from kit.notebook import show_received


def _bench_report() -> bench.Report:
    shape = dict(clients=20, senders=5, messages=100)
    return bench.Report([
        bench.Result("in-memory (cap 100)", **shape, expected=10000, delivered=5291, lost=4709, seconds=2.5,
                     deliveries_per_s=2095, p50_ms=1363.2, p99_ms=2467.6, server_errors=1, refused=3),
        bench.Result("Redis pub/sub", **shape, expected=10000, delivered=10000, seconds=3.1,
                     deliveries_per_s=3222, p50_ms=1635.4, p99_ms=3039.8),
        bench.Result("Redis (cap 100)", **shape, error="the clients could not chat: ConnectionRefusedError: x"),
        bench.Result("bare websockets", **shape, expected=10000, delivered=10000, seconds=0.5,
                     deliveries_per_s=22181, p50_ms=349.1, p99_ms=405.7),
    ])


def _bench_text(monkeypatch, lang: str) -> str:
    from rich.console import Console

    monkeypatch.setenv("KIT_LANG", lang)
    console = Console(file=io.StringIO(), width=200, color_system=None)
    bench.print_report(_bench_report(), console)
    return console.file.getvalue()


def test_kit_bench_reports_in_bengali(monkeypatch):
    text = _bench_text(monkeypatch, "bn")
    assert "ডেলিভারি" in text and "হারানো" in text and "কোনো এরর ছাড়াই মেসেজ হারিয়েছে" in text
    labels = ("in-memory (cap 100)", "Redis pub/sub", "Redis (cap 100)", "bare websockets")
    prose = [run for line in text.splitlines() for run in english_prose(line)
             if not any(label in run or run in label for label in labels)]   # a setup's name is a value
    assert not prose, f"kit bench says in English: {prose}\n{text}"


def test_kit_bench_bengali_table_lines_up_in_a_terminal(monkeypatch):
    """rich measures 'হারানো' three cells short of what a terminal (wcwidth) draws, so a bordered table's right
    border slips; the Bengali table is padded by the terminal's width instead, every line equally wide."""
    from kit.output.render import terminal_width

    lines = _bench_text(monkeypatch, "bn").splitlines()
    head = next(n for n, line in enumerate(lines) if "হারানো" in line)
    assert set(lines[head + 1].strip()) == {"─"}, lines[head + 1]
    table = lines[head:head + 2 + len(_bench_report().results)]
    assert not any(mark in line for line in table for mark in "│┃"), "a vertical border: rich placed it"
    assert len({terminal_width(line) for line in [table[0], *table[2:]]}) == 1, table
    assert "ফেল করেছে" in table[4] and "4709 (47%)" in table[2]


def test_kit_bench_still_reports_in_english(monkeypatch):
    text = _bench_text(monkeypatch, "en")
    for said in ("Lost without an error: in-memory (cap 100).", "Pure-Python limit on this machine: 22,181",
                 "daphne logged errors during: in-memory (cap 100)", "Redis (cap 100) failed:",
                 "The bench needs a finished chat", "Some frames were refused"):
        assert said in text, said
    assert "┃ setup " in text and "│ in-memory (cap 100) │" in text   # English keeps rich's bordered table
    assert not re.search(r"[\u0980-\u09FF]", text)


def test_a_lessons_client_name_and_none_are_said_in_bengali(monkeypatch, capsys):
    monkeypatch.setenv("KIT_LANG", "bn")
    show_received({"bob, after a restart": ["alice: hi"], "alice (worker A)": []}, title="The room remembers")
    shown = capsys.readouterr().out
    assert "bob, রিস্টার্টের পরে" in shown and "রুম মনে রাখে" in shown, shown
    assert "alice (worker A)" in shown and "alice: hi" in shown, "names and messages not catalogued stay as they are"
    assert said_in_lesson_language("none") == "কিছুই না"
    monkeypatch.setenv("KIT_LANG", "en")
    assert said_in_lesson_language("none") == "none"
