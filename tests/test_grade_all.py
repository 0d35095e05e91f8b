"""`kit grade-all`: a class of real trees, a broken one among them, graded in one batch."""
from __future__ import annotations

import base64
import csv
import json
import re
import shutil

import pytest

from conftest import SOLUTIONS, STARTER, copy_tree, mutate, run_kit
from kit import catalogue

AVAILABLE = [s for s in catalogue.STAGES if s.available]
FULL = sum(s.points for s in AVAILABLE)
ODD_NAME = "erin <script>"   # folder names are untrusted text in the HTML report


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """alice finished, bob's starter one level down, carol with settings done, dave with a syntax error,
    erin with no tree at all; plus what unzipping leaves behind."""
    root = tmp_path_factory.mktemp("class") / "submissions"
    copy_tree(SOLUTIONS, root / "alice")
    copy_tree(STARTER, root / "bob" / "chat-repo")
    (root / "bob" / "README.md").write_text("bob's repository\n")
    carol = copy_tree(STARTER, root / "carol")
    shutil.copy(SOLUTIONS / "myproject" / "settings.py", carol / "myproject" / "settings.py")
    dave = copy_tree(SOLUTIONS, root / "dave")
    mutate(dave, "myapp/consumers.py", "async def connect(self):", "async def connect(self)")
    (root / ODD_NAME).mkdir()
    (root / ODD_NAME / "notes.txt").write_text("I could not finish\n")
    (root / "__MACOSX").mkdir()
    (root / "submissions.zip").write_bytes(b"PK")
    out = root.parent / "grades"
    done = run_kit("grade-all", str(root), "--out", str(out), env={"COLUMNS": "160"}, timeout=1800)
    return root, out, done


def rows(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["learner"]: row for row in csv.DictReader(handle)}


def test_every_learner_gets_a_row_and_a_broken_submission_never_stops_the_batch(batch):
    _, out, done = batch
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = rows(out)
    assert sorted(table) == sorted(["alice", "bob", "carol", "dave", ODD_NAME])
    assert int(table["alice"]["total"]) == FULL
    assert int(table["bob"]["total"]) == 0
    assert int(table["carol"]["total"]) == catalogue.get("settings").points
    assert int(table["dave"]["consumer"]) == 0 and int(table["dave"]["settings"]) == catalogue.get("settings").points
    assert int(table[ODD_NAME]["total"]) == 0 and "No project tree" in table[ODD_NAME]["note"]


def test_csv_json_and_summary_show_the_same_numbers(batch):
    _, out, done = batch
    table = rows(out)
    data = json.loads((out / "grades.json").read_text())
    for entry in data["learners"]:
        row = table[entry["learner"]]
        assert int(row["total"]) == entry["total"] == sum(int(row[s.id]) for s in AVAILABLE)
        assert int(row["max_score"]) == FULL
        if entry["report"]:
            assert entry["report"]["score"] == entry["total"]
    printed = " ".join(done.stdout.split())
    assert "Pass rate per stage" in printed
    # settings passes for alice, carol and dave: 3 of 5
    assert re.search(r"settings\s*│\s*10\s*│\s*3/5\s*│\s*60%", done.stdout), done.stdout[-3000:]
    mean = sum(int(r["total"]) for r in table.values()) / len(table)
    assert f"mean {mean:.1f}" in printed


def test_html_report_is_self_contained_with_a_chart_and_escapes_names(batch):
    _, out, _ = batch
    page = (out / "report.html").read_text(encoding="utf-8")
    chart = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert chart and base64.b64decode(chart.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    assert "<script>" not in page and "erin &lt;script&gt;" in page
    for learner in ("alice", "bob", "carol", "dave"):
        assert f"<td>{learner}</td>" in page


def test_an_empty_folder_is_a_clear_usage_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    done = run_kit("grade-all", str(empty), "--out", str(tmp_path / "out"))
    assert done.returncode == 2 and "holds no learner folders" in " ".join(done.stderr.split())
    assert not (tmp_path / "out").exists()


def test_a_missing_folder_or_a_single_tree_is_a_clear_usage_error(tmp_path, solved_tree):
    missing = run_kit("grade-all", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "does not exist" in " ".join(missing.stderr.split())
    single = run_kit("grade-all", str(solved_tree), "--out", str(tmp_path / "out"))
    assert single.returncode == 2 and "is itself one project tree" in " ".join(single.stderr.split())
