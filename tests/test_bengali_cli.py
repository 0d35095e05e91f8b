"""The `kit` command in Bengali: every --help, `kit stages`, and solve/reset/hint on a copy of the starter
say no English prose (the rule: tests/test_bengali_prose.py); code, ids and paths stay English.
(`kit serve` says its one line through the same catalogue; `kit status` is in tests/test_kit_messages_bn.py.)"""
from __future__ import annotations

import pytest
from conftest import STARTER, copy_tree, run_kit
from test_bengali_prose import english_prose

from kit.commands.cli import LEARNER_COMMANDS

BENGALI = {"KIT_LANG": "bn"}
COMMANDS = (*LEARNER_COMMANDS, "release", "grade-all", "grade-merge", "bench")


def said(done) -> str:
    return done.stdout + done.stderr


def test_english_help_stays_english():
    done = run_kit("--help", env={"KIT_LANG": "en"})
    assert "usage: kit" in done.stdout and "commands for learners" in done.stdout


@pytest.mark.parametrize("args", [("--help",), *((name, "--help") for name in COMMANDS)],
                         ids=["kit", *COMMANDS])
def test_help_speaks_bengali(args):
    done = run_kit(*args, env=BENGALI)
    assert done.returncode == 0, said(done)
    assert "ব্যবহার: kit" in done.stdout and "অপশন" in done.stdout
    if args[0] != "grade-all":   # its epilog is the instructor's layout rules, kept English (kit/class_grading/classfolder.py)
        assert english_prose(done.stdout) == [], done.stdout


def test_lang_option_chooses_the_help_language():
    assert "ব্যবহার: kit check" in run_kit("check", "--lang", "bn", "--help", env={"KIT_LANG": "en"}).stdout


def test_a_usage_error_speaks_bengali():
    done = run_kit("chek", env=BENGALI)
    assert done.returncode == 2 and "এরর" in done.stderr and english_prose(done.stderr) == [], done.stderr


def test_stages_table_speaks_bengali():
    done = run_kit("stages", env=dict(BENGALI, COLUMNS="250"))
    assert done.returncode == 0, said(done)
    assert "আপনি বানাবেন" in done.stdout and "bn/03_consumer.ipynb" in done.stdout
    assert english_prose(done.stdout) == [], done.stdout


def test_stages_table_keeps_its_borders_in_line_in_bengali():
    """rich measures 'পয়েন্ট' 4 cells and a terminal (wcwidth) draws 5: without render.terminal_measure the
    Bengali rows end 1 to 10 cells past the table's top border."""
    from kit.output.render import terminal_width

    done = run_kit("stages", env=dict(BENGALI, COLUMNS="100"))
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert lines[0].startswith("┏") and "পয়েন্ট" in lines[1], done.stdout
    assert {terminal_width(line) for line in lines} == {terminal_width(lines[0])}, done.stdout


def test_solve_reset_hint_and_check_speak_bengali(tmp_path):
    tree = copy_tree(STARTER, tmp_path / "project")
    for args in (("solve", "consumer"), ("reset", "consumer"), ("solve", "daphne"), ("hint", "settings"),
                 ("check", "settings")):
        done = run_kit(*args, "--project", str(tree), env=dict(BENGALI, COLUMNS="250"))
        assert done.returncode in (0, 1), said(done)
        assert english_prose(said(done)) == [], f"kit {' '.join(args)}:\n{said(done)}"
