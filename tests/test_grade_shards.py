"""`kit grade-all --shard-index I --shard-count N` and `kit grade-merge` (issue 23, items 2 and 3).

A class of four (two solved, the starter, a folder without a tree) is graded for the settings stage only:
once whole, and as three shards run as concurrent local processes (shard 0 by --shard-index, shard 1 by
SLURM_ARRAY_TASK_ID, shard 2 by JOB_COMPLETION_INDEX). The merge must equal the whole run row for row;
every refusal is tried on copies of those shards, changed the way a wrong run, a hand edit or a kill
would change them.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest

from conftest import KIT_ROOT, STARTER, copy_tree, run_kit, solved_through
from kit.course import catalogue
from kit.class_grading import shards
from kit.class_grading.classfolder import Submission

STAGE = "settings"
BENGALI = re.compile(r"[\u0980-\u09FF]")


def build_class(root: Path) -> Path:
    solved_through(catalogue.get(STAGE), root / "ana" / "project")      # full marks
    solved_through(catalogue.get(STAGE), root / "josé-ñ")               # full marks
    copy_tree(STARTER, root / "দীপা" / "project")                        # 0
    (root / "Zed").mkdir(parents=True)                                  # no tree: a row, out of the mean
    return root


def kit_process(*args: str, env: dict | None = None) -> subprocess.Popen:
    """`python -m kit ...` in a session of its own, so a kill reaches every process it started."""
    full = {k: v for k, v in os.environ.items() if k not in ("KIT_PROJECT", *shards.ENVIRONMENT)}
    full.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "kit", *args], cwd=KIT_ROOT, env=full, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("shards")
    root = build_class(base / "class")
    begun = time.monotonic()
    whole = kit_process("grade-all", str(root), STAGE, "--out", str(base / "whole"))
    parts = [kit_process("grade-all", str(root), STAGE, "--shard-count", "3", *extra, "--out", str(base / f"s{i}"),
                         env=env)
             for i, (extra, env) in enumerate([(("--shard-index", "0"), {}), ((), {"SLURM_ARRAY_TASK_ID": "1"}),
                                               ((), {"JOB_COMPLETION_INDEX": "2"})])]
    for proc in (whole, *parts):
        said = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, said[-3000:]
    print(f"whole class and three shards graded in {time.monotonic() - begun:.0f} s")
    return base


def merge(*folders: Path, out: Path):
    return run_kit("grade-merge", *map(str, folders), "--out", str(out))


def learner_rows(out: Path) -> list[list[str]]:
    """The CSV's header, maximum and learner rows (the lines below them say when, which differs by run)."""
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    return rows[:rows.index([])]


def learners(out: Path) -> list[dict]:
    data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    # every field but the time it took; of the report, each stage's points and verdict
    return [{k: v for k, v in e.items() if k != "seconds"}
            | {"report": [(s["id"], s["points"], s["passed"]) for s in (e["report"] or {}).get("stages", [])]}
            for e in data["learners"]]


def test_shard_order_is_the_nfc_folder_name_and_learner_k_goes_to_shard_k_mod_n(tmp_path):
    decomposed = unicodedata.normalize("NFD", "émile")
    names = ["bo", decomposed, "ez", "Zed", "ana", "দীপা"]
    subs = [Submission(name, tmp_path / name, None) for name in names]
    whole, picked = shards.pick(subs, 1, 2)
    # é composed sorts after "ez" (decomposed, it would sort before): code points of the NFC name
    assert [shards._name(k) for k in whole["learners"]] == ["Zed", "ana", "bo", "ez", decomposed, "দীপা"]
    assert [s.learner for s in picked] == ["ez", "ana", "দীপা"]
    assert whole["order"] == [s.key for s in subs]       # the gradebook keeps an unsharded run's order


def test_shards_run_as_processes_then_merged_equal_the_unsharded_gradebook(graded):
    for index in range(3):
        manifest = json.loads((graded / f"s{index}" / "shard.json").read_text(encoding="utf-8"))
        assert (manifest["shard_index"], manifest["shard_count"], manifest["stages"]) == (index, 3, [STAGE])
        assert len(manifest["shard_learners"]) == (2 if index == 0 else 1)
    # the order given to the merge does not matter
    done = merge(graded / "s2", graded / "s0", graded / "s1", out=graded / "merged")
    assert done.returncode == 0, done.stderr
    assert learner_rows(graded / "merged") == learner_rows(graded / "whole")
    assert [r[0] for r in learner_rows(graded / "merged")[2:]] == ["ana", "josé-ñ", "Zed", "দীপা"]
    assert learners(graded / "merged") == learners(graded / "whole")
    assert sorted(p.name for p in (graded / "merged" / "feedback").iterdir()) == \
        sorted(p.name for p in (graded / "whole" / "feedback").iterdir())
    assert "Pass rate per stage" in done.stdout and "2/3" in done.stdout
    page = (graded / "merged" / "report.html").read_text(encoding="utf-8")
    assert "josé-ñ" in page and "data:image/png;base64," in page


def test_a_copy_of_a_shard_given_twice_is_fine(graded, tmp_path):
    shutil.copytree(graded / "s1", tmp_path / "again")
    done = merge(graded / "s0", graded / "s1", tmp_path / "again", graded / "s2", out=tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert learner_rows(tmp_path / "out") == learner_rows(graded / "whole")


@pytest.mark.parametrize("env, said", [
    ({"SLURM_ARRAY_TASK_ID": "1", "JOB_COMPLETION_INDEX": "2"}, "are both set and differ"),
    ({}, "--shard-count needs --shard-index, or SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX"),
    ({"SLURM_ARRAY_TASK_ID": "3"}, "shard index 3 is out of range: with --shard-count 3 it is 0 to 2."),
    ({"JOB_COMPLETION_INDEX": "x"}, "JOB_COMPLETION_INDEX is x, not a shard number."),
], ids=["both-differ", "neither", "out-of-range", "not-a-number"])
def test_the_shard_index_from_the_environment_refuses_in_one_sentence(tmp_path, env, said):
    proc = kit_process("grade-all", str(tmp_path), STAGE, "--shard-count", "3", "--out", str(tmp_path / "o"),
                       env=env)
    out = proc.communicate(timeout=120)[0]
    assert proc.returncode == 2 and said in out, out
    assert not (tmp_path / "o").exists()


def test_a_shard_index_without_a_count_is_refused(tmp_path):
    done = run_kit("grade-all", str(tmp_path), STAGE, "--shard-index", "1")
    assert done.returncode == 2 and "--shard-index needs --shard-count" in done.stderr, done.stderr


def test_both_variables_set_alike_are_one_index(tmp_path):
    assert shards.index_from(None, 3, {"SLURM_ARRAY_TASK_ID": "2", "JOB_COMPLETION_INDEX": "2"}) == 2
    assert shards.index_from(1, 3, {"SLURM_ARRAY_TASK_ID": "2"}) == 1     # the flag wins


def rehash(folder: Path) -> None:
    """What a shard that graded differently, or listed its learners wrongly, holds: a manifest that matches."""
    manifest = json.loads((folder / "shard.json").read_text(encoding="utf-8"))
    manifest["files"] = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in manifest["files"]}
    (folder / "shard.json").write_text(json.dumps(manifest), encoding="utf-8")


def changed(source: Path, dest: Path, *, manifest=None, rows=None, keep_hash: bool = False) -> Path:
    shutil.copytree(source, dest)
    if manifest:
        data = json.loads((dest / "shard.json").read_text(encoding="utf-8"))
        manifest(data)
        (dest / "shard.json").write_text(json.dumps(data), encoding="utf-8")
    if rows:
        data = json.loads((dest / "grades.json").read_text(encoding="utf-8"))
        rows(data["learners"])
        (dest / "grades.json").write_text(json.dumps(data), encoding="utf-8")
        if not keep_hash:
            rehash(dest)
    return dest


def set_(key, value):
    return lambda data: data.__setitem__(key, value)


def refused(graded: Path, tmp_path: Path, folders: list[Path], *said: str) -> str:
    done = merge(*folders, out=tmp_path / "out")
    message = " ".join(done.stderr.split())
    assert done.returncode == 2, done.stdout + done.stderr
    for part in said:
        assert part in message, message
    assert not (tmp_path / "out" / "grades.csv").exists() and not (tmp_path / "out" / "grades.json").exists()
    return message


def test_a_missing_shard_is_refused_and_named(graded, tmp_path):
    refused(graded, tmp_path, [graded / "s0", graded / "s2"],
            "Shard(s) 1 of 3 are missing: run them again (--shard-index 1)")


def test_two_results_for_one_shard_that_disagree_are_refused(graded, tmp_path):
    def regraded(rows):
        rows[0]["total"], rows[0]["note"] = 0, "settings: failed this time"
    other = changed(graded / "s1", tmp_path / "other", rows=regraded)
    refused(graded, tmp_path, [graded / "s0", graded / "s1", other, graded / "s2"],
            "Shard 1 was given twice", str(other), "with different results")


@pytest.mark.parametrize("field, value, said", [
    ("class_sha256", "0" * 64, "graded another class than shard 0"),
    ("stages", ["settings", "asgi"], "was graded with other stages than shard 0 (settings, asgi, not settings)"),
    ("kit_version", "9.9.9", "with other kit version than shard 0 (9.9.9, not"),
    ("kit_commit", "abc123", "with other kit commit than shard 0 (abc123, not"),
    ("shard_count", 4, "is one of 4 shards, shard 0 one of 3"),
], ids=["class", "stages", "version", "commit", "count"])
def test_shards_of_another_class_stages_or_kit_are_refused(graded, tmp_path, field, value, said):
    odd = changed(graded / "s2", tmp_path / "odd", manifest=set_(field, value))
    refused(graded, tmp_path, [graded / "s0", graded / "s1", odd], "Shard 2 in " + str(odd), said)


def test_a_shard_graded_with_other_hidden_checks_is_refused(graded, tmp_path):
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "test_settings_extra.py").write_text("def test_extra():\n    assert True\n")
    proc = kit_process("grade-all", str(graded / "class"), STAGE, "--shard-count", "3", "--shard-index", "2",
                       "--out", str(tmp_path / "s2h"), env={"KIT_HIDDEN_CHECKS": str(hidden)})
    assert proc.wait(timeout=600) == 0, proc.stdout.read()[-2000:]
    refused(graded, tmp_path, [graded / "s0", graded / "s1", tmp_path / "s2h"],
            f"Shard 2 in {tmp_path / 's2h'} was graded with other hidden checks than shard 0")


def test_a_learner_missing_twice_or_in_the_wrong_shard_is_refused(graded, tmp_path):
    lacking = changed(graded / "s0", tmp_path / "lacking", rows=lambda rows: rows.pop())
    refused(graded, tmp_path, [lacking, graded / "s1", graded / "s2"],
            f"Shard 0 in {lacking} lacks learner", "of its share of the class")
    twice = changed(graded / "s1", tmp_path / "twice", rows=lambda rows: rows.append(dict(rows[0])))
    refused(graded, tmp_path, [graded / "s0", twice, graded / "s2"], f"Shard 1 in {twice} holds learner", "twice")
    # shard 0's results passed off as shard 1's: its learners are not shard 1's share
    wrong = changed(graded / "s0", tmp_path / "wrong", manifest=set_("shard_index", 1))
    refused(graded, tmp_path, [graded / "s0", wrong, graded / "s2"], f"Shard 1 in {wrong} holds learner",
            "who is not in its share of the class")


def test_an_unfinished_or_edited_shard_is_refused(graded, tmp_path):
    bare = changed(graded / "s1", tmp_path / "bare")
    (bare / "shard.json").unlink()
    refused(graded, tmp_path, [graded / "s0", bare, graded / "s2"], f"{bare} is not a finished shard")
    edited = changed(graded / "s2", tmp_path / "edited", rows=lambda rows: rows[0].update(total=99), keep_hash=True)
    refused(graded, tmp_path, [graded / "s0", graded / "s1", edited],
            f"Shard 2 in {edited} changed after it finished (grades.json")


def running(folder: Path) -> bool:
    try:
        return json.loads((folder / "grades.json").read_text(encoding="utf-8"))["status"] == "running"
    except (OSError, ValueError):
        return False


def test_a_shard_killed_half_way_is_not_taken_for_finished(graded, tmp_path):
    """A re-run of a finished shard, killed with SIGKILL while it grades: its old manifest must be gone."""
    again = shutil.copytree(graded / "s0", tmp_path / "again")
    proc = kit_process("grade-all", str(graded / "class"), STAGE, "--shard-count", "3", "--shard-index", "0",
                       "--force", "--out", str(again))
    deadline = time.monotonic() + 120
    while not running(again) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the shard ended before it could be killed: " + proc.stdout.read()[-2000:]
    os.killpg(proc.pid, signal.SIGKILL)       # as a job engine kills a job: the kit and all it started
    proc.wait(timeout=30)
    assert running(again)                     # killed with its new gradebook begun, not finished
    refused(graded, tmp_path, [again, graded / "s1", graded / "s2"], f"{again} is not a finished shard")


def test_help_says_the_shard_key_and_speaks_bengali():
    done = run_kit("grade-all", "--help", env={"COLUMNS": "200"})
    assert "k mod N" in done.stdout and "NFC" in done.stdout
    done = run_kit("grade-all", "--help", "--lang", "bn", env={"COLUMNS": "200"})
    assert done.returncode == 0 and BENGALI.search(done.stdout.split("--shard-index")[-1]), done.stdout
    done = run_kit("grade-merge", "--help", "--lang", "bn", env={"COLUMNS": "200"})
    assert done.returncode == 0 and BENGALI.search(done.stdout.split("--force")[-1]), done.stdout


def test_a_refusal_is_said_in_bengali(graded, tmp_path):
    done = run_kit("grade-merge", str(graded / "s0"), "--out", str(tmp_path / "out"), "--lang", "bn")
    assert done.returncode == 2 and BENGALI.search(done.stderr), done.stderr
