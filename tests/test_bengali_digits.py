"""A stage's number is written in the language's digits wherever a learner reads it: `kit check`'s table
(both of its layouts), the checkpoint cell's table and the progress strip, as `kit stages` and `kit status`
already do (kit.course.i18n.numeral; locale/bn/glossary.md). Points stay Latin: they are values the learner
compares with what code prints. Built from a report in memory: no grading, well under a second."""
from __future__ import annotations

import os
import re

import pytest

from kit.course import catalogue
from kit.grading.report import Failure, Report, StageResult

LATE = [s for s in catalogue.STAGES if s.number >= 10]   # two-digit numbers: no Latin digit can hide


def _report() -> Report:
    stages = [StageResult(id=s.id, title=s.title, passed=False, points=0, max_points=s.points,
                          failures=[Failure("test_x", "It failed.", "Look again.")]) for s in LATE]
    return Report(project="tree", stages=stages, isolation="bubblewrap")


def _table_text(report: Report, lang: str, monkeypatch, rich_measures_all: bool = False) -> str:
    from rich.console import Console

    from kit.output import render

    monkeypatch.setenv("KIT_LANG", lang)
    if rich_measures_all:   # the bordered layout a Bengali table gets when rich measures every word right
        monkeypatch.setattr(render, "measured_right", lambda text: True)
    console = Console(width=120, record=True, color_system=None, file=open(os.devnull, "w"))
    console.print(render.table(report))
    return console.export_text()


def _number_cells(text: str) -> list[str]:
    """The first cell of each stage's row: the number before the stage's id."""
    return [m.group(1) for s in LATE for m in re.finditer(rf"(\S+)\s*[│ ]\s*{s.id}\b", text)]


@pytest.mark.parametrize("bordered", [False, True], ids=["aligned", "bordered"])
def test_kit_checks_table_numbers_stages_in_bengali(monkeypatch, bordered):
    text = _table_text(_report(), "bn", monkeypatch, rich_measures_all=bordered)
    cells = _number_cells(text)
    assert cells and not any(re.search("[0-9]", c) for c in cells), text
    for stage in LATE:
        assert f"১{'০১২'[stage.number - 10]}" in text, (stage.id, text)
    assert f"0/{LATE[0].points}" in text, "points stay Latin"


def test_english_table_keeps_latin_numbers(monkeypatch):
    text = _table_text(_report(), "en", monkeypatch)
    assert not re.search(r"[\u09E6-\u09EF]", text) and "10" in text and "12" in text


def test_checkpoint_cell_and_progress_strip_number_stages_in_bengali(monkeypatch):
    from kit.lessons.checkpoint import _progress_html, _report_html

    monkeypatch.setenv("KIT_LANG", "bn")
    report = _report()
    cells = re.findall(r'text-align:right">([^<]*)</td>', _report_html(report))
    assert cells == ["১০", "১১", "১২"], cells
    strip = _progress_html(report.to_dict())
    assert re.findall(r"[✘➜✔·] (\S+) ", strip) == ["১০", "১১", "১২"], strip
    monkeypatch.setenv("KIT_LANG", "en")
    assert re.findall(r'text-align:right">([^<]*)</td>', _report_html(report)) == ["10", "11", "12"]
