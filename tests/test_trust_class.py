"""`kit grade-all` trusts no learner's folder to be kind to the class: a notebook nested deep enough to exhaust the
JSON parser costs only that learner's language guess (never the batch, never --resume), two folders that would
show as one name never share a row or a score, and no name runs as a formula or poses as the gradebook's own
"(maximum)" row in grades.csv. Graded for real, on the cheap `settings` stage, then resumed once.
"""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest

from conftest import STARTER, copy_tree, run_kit, solved_through
from kit.course import catalogue

STAGES = ["settings"]
SETTINGS = catalogue.get("settings").points
DEEP = "[" * 200000 + "]" * 200000


def build_class(root: Path) -> Path:
    root.mkdir(parents=True)
    copy_tree(STARTER, root / "mallory" / "project")                       # 1: a notebook too deep to parse
    (root / "mallory" / "notebooks" / "bn").mkdir(parents=True)
    (root / "mallory" / "notebooks" / "bn" / "01_settings.ipynb").write_text(DEEP)
    copy_tree(STARTER, root / "zed" / "project")
    solved_through(catalogue.get("settings"), Path(os.fsdecode(os.fsencode(root) + b"/a\xfe")))   # 2: one
    copy_tree(STARTER, Path(os.fsdecode(os.fsencode(root) + b"/a\xff")))                          # U+FFFD apart
    copy_tree(STARTER, Path(os.fsdecode(os.fsencode(root) + b"/b\xfe")))  # 2: shown as one name
    copy_tree(STARTER, root / "b\\xfe")
    copy_tree(STARTER, root / "\ufeff=1+1")                                # 3: a formula behind a BOM
    solved_through(catalogue.get("settings"), root / "(maximum)")          # 3: posing as the maximum row
    return root


def csv_rows(out: Path) -> list[list[str]]:
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))


def learners(out: Path) -> dict[str, dict]:
    return {entry["learner"]: entry for entry in json.loads((out / "grades.json").read_text())["learners"]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    root = build_class(base / "class")
    out = base / "grades"
    done = run_kit("grade-all", str(root), *STAGES, "--out", str(out), env={"COLUMNS": "200"}, timeout=900)
    return root, out, done


def test_a_notebook_too_deep_to_parse_costs_only_the_language_guess(graded):
    _, out, done = graded
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    data = json.loads((out / "grades.json").read_text())
    assert data["status"] == "complete" and all(entry["done"] for entry in data["learners"])
    table = learners(out)
    assert table["mallory"]["report"] is not None and table["mallory"]["total"] == 0
    assert table["zed"]["report"] is not None and table["zed"]["total"] == 0
    mallory = (out / "feedback" / "mallory.md").read_text()
    assert "feedback for mallory" in mallory and f"Score: 0 of {SETTINGS}" in mallory   # English: the default
    assert (out / "feedback" / "zed.md").is_file()


def test_undecodable_names_are_shown_escaped_each_with_its_own_score(graded):
    _, out, _ = graded
    table = learners(out)
    assert table["a\\xfe"]["total"] == SETTINGS and table["a\\xff"]["total"] == 0, sorted(table)
    assert table["a\\xfe"]["key"] != table["a\\xff"]["key"]
    assert not any("\ufffd" in name for name in table), sorted(table)
    shown = [row[0] for row in csv_rows(out) if row]
    assert shown.count("a\\xfe") == 1 and shown.count("a\\xff") == 1


def test_two_folders_shown_as_one_name_are_both_refused(graded):
    _, out, _ = graded
    both = [entry for entry in json.loads((out / "grades.json").read_text())["learners"]
            if entry["learner"] == "b\\xfe"]
    assert len(both) == 2 and {entry["key"] for entry in both} == {b"b\xfe".hex(), b"b\\xfe".hex()}
    for entry in both:
        assert entry["status"] == "refused" and entry["report"] is None and entry["total"] == 0
        assert "show as the same name" in entry["error"] and "\n" not in entry["error"]


def test_a_formula_behind_a_bom_and_a_fake_maximum_row_are_marked(graded):
    _, out, _ = graded
    rows = csv_rows(out)
    assert rows[1][0] == "(maximum)" and [row[0] for row in rows if row].count("(maximum)") == 1
    assert "'(maximum)" in [row[0] for row in rows if row]
    assert "'\ufeff=1+1" in [row[0] for row in rows if row], [row[0] for row in rows if row]
    assert not any(row and row[0].lstrip("\ufeff \t").startswith("=") for row in rows)


def test_resume_keeps_each_learner_their_own_score(graded):
    root, out, done = graded
    assert done.returncode == 0
    data = json.loads((out / "grades.json").read_text())
    data["status"] = "partial"
    for entry in data["learners"]:     # a\xff and zed left ungraded, as an interrupted batch leaves them
        if entry["learner"] in ("a\\xff", "zed"):
            entry.update(done=False, report=None, total=0)
    (out / "grades.json").write_text(json.dumps(data))
    again = run_kit("grade-all", str(root), *STAGES, "--out", str(out), "--resume", timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "Grading 2 submission(s)" in " ".join(again.stdout.split()), again.stdout[-2000:]
    table = learners(out)
    assert json.loads((out / "grades.json").read_text())["status"] == "complete"
    assert table["a\\xfe"]["total"] == SETTINGS and table["a\\xff"]["total"] == 0
    assert table["a\\xff"]["report"] is not None and table["zed"]["report"] is not None
    assert table["mallory"]["report"] is not None and (out / "feedback" / "mallory.md").is_file()
    assert len([e for e in json.loads((out / "grades.json").read_text())["learners"]]) == 8


def test_names_that_look_alike_are_refused_and_no_name_reads_as_another():
    """Twelfth review: '\\u202eecila' (a right-to-left override) showed as 'alice' beside the real alice in
    report.html, and 'José' typed two ways or 'bob' with a zero-width space were two learners under one look.
    Thirteenth: a combining grapheme joiner, a variation selector, a blank braille pattern. Each look-alike set
    is refused whole; a direction override never reaches a name shown; Bengali joiners in a name
    that looks like no other stay."""
    from kit.class_grading.classfolder import GRADED, REFUSED, Submission, one_name_per_learner
    from kit.class_grading.grades import clean

    names = ["alice", "\u202eecila", "Jos\u00e9", "Jose\u0301", "bob", "b\u200bob", "র\u200d্যাপ", "carol",
             "carol\u034f", "dan\ufe0f", "dan", "eve\u2800", "eve ", "eve", "ফারহানা"]
    subs = [Submission(name, Path("/class") / name, Path("/class") / name, key=str(n)) for n, name in
            enumerate(names)]
    for sub in subs:
        sub.status = GRADED
    one_name_per_learner(subs)
    refused = {sub.learner for sub in subs if sub.status == REFUSED}
    assert refused == {"Jos\u00e9", "Jose\u0301", "bob", "b\u200bob", "carol", "carol\u034f", "dan\ufe0f", "dan",
                       "eve\u2800", "eve ", "eve"}, refused   # Bengali vowel signs (Mn, Mc) are letters: kept
    assert clean("\u202eecila") == "ecila" and clean("\u2066x\u2069") == "x"
    assert clean("র\u200d্যাপ") == "র\u200d্যাপ"   # a joiner is part of Bengali spelling
