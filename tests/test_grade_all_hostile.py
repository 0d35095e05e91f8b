"""`kit grade-all` against hostile submissions: one learner's submission, name or archive never stops, hangs or
falsifies the grading of another; a submission that cannot be graded gets its own row with one plain sentence.

One class holds every hostile learner of the adversarial review, graded once on the cheap `settings` stage (then
resumed once), and each test looks at its own learner's row and files.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import tarfile
import zipfile
from pathlib import Path

import pytest

from conftest import STARTER, copy_tree, executed_bengali_notebook, run_kit, solved_through
from kit.course import catalogue
from kit.grading import scratch

STAGES = ["settings"]
SETTINGS = catalogue.get("settings").points
LONG = "l" * 245
BENGALI = re.compile(r"[\u0980-\u09FF]")


def tree_files(tree: Path, prefix: str) -> dict[str, bytes]:
    return {f"{prefix}/{p.relative_to(tree).as_posix()}": p.read_bytes() for p in tree.rglob("*") if p.is_file()}


def make_zip(path: Path, files: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as packed:
        for name, data in files.items():
            packed.writestr(name, data)


def make_tar(path: Path, files: dict[str, bytes], encoding: str = "utf-8") -> None:
    with tarfile.open(path, "w:gz" if path.name.endswith(".gz") else "w", format=tarfile.GNU_FORMAT,
                      encoding=encoding) as packed:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            packed.addfile(info, io.BytesIO(data))


def nested(top: Path, depth: int) -> None:
    """depth folders within each other under top, made (and later removed) without recursion."""
    here = top
    for _ in range(depth):
        here = here / "d"
        here.mkdir(parents=True)


def remove_nested(top: Path) -> None:
    """shutil.rmtree recurses once a level: take a deep chain apart from its bottom up."""
    chain = [top]
    while (chain[-1] / "d").is_dir():
        chain.append(chain[-1] / "d")
    for folder in reversed(chain[1:]):
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


def damaged_zip(path: Path) -> None:
    """A deflated member whose bytes are overwritten with 0xff: zlib.error when read."""
    make_zip(path, {"t/manage.py": b"print('x')\n" * 2000}, zipfile.ZIP_DEFLATED)
    with zipfile.ZipFile(path) as packed:
        info = packed.infolist()[0]
    data = bytearray(path.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start:start + info.compress_size] = b"\xff" * info.compress_size
    path.write_bytes(bytes(data))


def build_hostile_class(root: Path, sources: Path) -> Path:
    root.mkdir(parents=True)
    boom = copy_tree(STARTER, root / "boom")                               # 1: a lone surrogate in a message
    settings = boom / "myproject" / "settings.py"
    settings.write_text('raise SystemExit("boom \\udce9 end")\n' + settings.read_text())
    os.mkdir(os.fsencode(root) + b"/caf\xe9")                              # 1: a name not valid UTF-8
    make_tar(root / "latin.tar", {"../café": b"x"}, encoding="latin-1")    # 1: a refusal naming it
    damaged_zip(root / "broken.zip")                                       # 2: zlib.error
    starter_zip = tree_files(STARTER, "repo/project")                      # 3: two archives of one stem
    make_zip(root / "eve.zip", starter_zip)
    make_tar(root / "eve.tar.gz", tree_files(solved_through(catalogue.get("settings"), sources / "eve"),
                                             "repo/project"))
    make_zip(root / "bob.zip", {"readme.txt": b"bob one"})
    make_zip(root / "bob.ZIP", {"readme.txt": b"bob two"})
    make_tar(root / "x.tar", {"readme.txt": b"x one"})
    make_tar(root / "x.tar.gz", {"readme.txt": b"x two"})
    deep = copy_tree(STARTER, root / "deep")                               # 4: 1200 nested folders
    nested(deep, 1200)
    make_zip(root / "deeper.zip", {"/".join(["d"] * 1200) + "/f.txt": b"deep"})
    (root / LONG).mkdir()                                                  # 5: a 245-character name
    (root / LONG / "notes.txt").write_text("no tree\n")
    piper = solved_through(catalogue.get("settings"), root / "piper" / "repo" / "project")   # 6: a named pipe
    (piper.parent / "notebooks" / "bn").mkdir(parents=True)
    os.mkfifo(piper.parent / "notebooks" / "bn" / "01.ipynb")
    solved_through(catalogue.get("settings"), root / "ann_lee")            # 7: ann_lee and ann|lee
    (root / "ann|lee").mkdir()
    executed = root / "notebooks"                                          # 8: a learner folder named notebooks
    executed_bengali_notebook(executed)
    copy_tree(STARTER, root / "victim" / "repo" / "project")               # 9: a link to another's notebooks
    executed_bengali_notebook(root / "victim" / "repo")
    copy_tree(STARTER, root / "mallory" / "repo" / "project")
    os.symlink("../../victim/repo/notebooks", root / "mallory" / "repo" / "notebooks")
    copy_tree(STARTER, root / "hider")                                     # 10: grades.json cannot hide
    (root / "hider" / "grades.json").write_text("{}")
    solved_through(catalogue.get("settings"), root / "ann")               # 11: a folder beside its archive
    make_zip(root / "ann.zip", starter_zip)
    (root / " =1+2").mkdir()                                               # 12: formulas after whitespace
    (root / "\t=1+3").mkdir()
    lengthy = copy_tree(STARTER, root / "lengthy")                         # 13: a path past MAX_PATH (review 11:
    far = lengthy.joinpath(*["d" * 200] * 6)                               # a copy under the grader's own folder
    far.mkdir(parents=True)                                                # failed with ENAMETOOLONG, and the
    (far / "f.txt").write_text("far")                                      # row read "not graded, re-run")
    return root


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root = build_hostile_class(base / "class", base / "sources")
    out = base / "grades"
    temporary = base / "tmp"
    temporary.mkdir()
    done = run_kit("grade-all", str(root), *STAGES, "--out", str(out), env={"COLUMNS": "200",
                                                                           "TMPDIR": str(temporary)}, timeout=900)
    yield root, out, done, temporary
    remove_nested(root / "deep")


def rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        return {row["learner"]: row for row in csv.DictReader(handle) if row["learner"]
                and not row["learner"].startswith("(")}


def learners(out: Path) -> dict[str, dict]:
    return {entry["learner"]: entry for entry in json.loads((out / "grades.json").read_text())["learners"]}


def test_the_hostile_class_is_graded_to_the_end(hostile):
    root, out, done, _ = hostile
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    data = json.loads((out / "grades.json").read_text(encoding="utf-8"))
    assert data["status"] == "complete"
    assert all(entry["done"] for entry in data["learners"])
    for entry in data["learners"]:      # every row that is not graded says why, in one sentence
        if entry["report"] is None:
            assert entry["error"] and "\n" not in entry["error"], entry


def test_lone_surrogates_in_messages_and_names_are_written(hostile):
    _, out, _, _ = hostile
    table = learners(out)
    assert table["boom"]["done"] and table["boom"]["total"] == 0
    assert "boom" in (out / "grades.json").read_text(encoding="utf-8")
    assert "caf\\xe9" in table, sorted(table)   # undecodable bytes shown escaped, never U+FFFD
    assert table["latin"]["status"] == "refused" and "outside itself" in table["latin"]["error"]
    (out / "grades.csv").read_text(encoding="utf-8-sig")
    (out / "report.html").read_text(encoding="utf-8")


def test_a_damaged_archive_gets_a_row_saying_it_could_not_be_unpacked(hostile):
    _, out, _, _ = hostile
    row = learners(out)["broken"]
    assert row["status"] == "refused" and "could not be unpacked" in row["error"], row


def test_archives_of_one_stem_each_get_a_row_of_their_own(hostile):
    _, out, _, _ = hostile
    table = learners(out)
    for first, second in (("eve", "eve.zip"), ("bob", "bob.ZIP"), ("x", "x.tar.gz")):   # the first by name keeps
        assert first in table and second in table, sorted(table)                        # the stem
    by_source = {Path(entry["source"]).name: entry for entry in table.values()}
    assert by_source["eve.zip"]["learner"] == "eve.zip" and by_source["eve.zip"]["total"] == 0   # each its own work
    assert by_source["eve.tar.gz"]["learner"] == "eve" and by_source["eve.tar.gz"]["total"] == SETTINGS


def test_a_deep_tree_is_refused_and_its_unpacked_copy_is_cleaned_up(hostile, tmp_path):
    _, out, _, temporary = hostile
    table = learners(out)
    assert table["deep"]["status"] == "refused" and str(scratch.MAX_DEPTH) in table["deep"]["error"]
    assert table["deeper"]["status"] == "refused" and "deep" in table["deeper"]["error"]
    assert not list(temporary.glob("kit-unpacked-*")), list(temporary.iterdir())
    assert f"{scratch.MAX_DEPTH} levels" in scratch.LIMITS
    assert table["lengthy"]["status"] == "refused" and "path too long" in table["lengthy"]["error"]
    assert f"{scratch.MAX_PATH} characters" in scratch.LIMITS
    nested(tmp_path / "t", 1200)
    try:
        with pytest.raises(scratch.TreeTooBig):
            scratch.measure(tmp_path / "t")
    finally:
        remove_nested(tmp_path / "t")


def test_feedback_file_names_are_bounded_and_unique(hostile):
    _, out, _, _ = hostile
    files = sorted((out / "feedback").iterdir())
    assert all(len(p.name.encode()) <= 120 for p in files), [p.name for p in files]
    long = [p for p in files if p.name.startswith("l" * 50)]
    assert len(long) == 1 and LONG in long[0].read_text()
    ann_lee = (out / "feedback" / "ann_lee.md").read_text()
    assert "ann_lee" in ann_lee and "ann|lee" not in ann_lee and f"{SETTINGS} of {SETTINGS}" in ann_lee
    other = [p for p in files if p.name.startswith("ann_lee-")]
    assert len(other) == 1 and "ann|lee" in other[0].read_text()
    assert len({p.name.lower() for p in files}) == len(files)


def test_a_named_pipe_and_a_planted_link_do_not_choose_the_feedback_language(hostile):
    _, out, _, _ = hostile
    assert learners(out)["piper"]["total"] == SETTINGS
    for name in ("piper", "mallory", "ann_lee", "hider"):   # a folder named notebooks/ speaks for no one else
        assert not BENGALI.search((out / "feedback" / f"{name}.md").read_text()), name
    assert BENGALI.search((out / "feedback" / "victim.md").read_text())


def test_grades_json_in_a_learner_folder_does_not_hide_them(hostile):
    _, out, _, _ = hostile
    assert learners(out)["hider"]["done"] and learners(out)["hider"]["report"] is not None


def test_a_folder_beside_its_archive_both_get_rows(hostile):
    _, out, _, _ = hostile
    table = learners(out)
    assert table["ann"]["total"] == SETTINGS and table["ann"]["source"].endswith("/ann")
    assert "ann.zip" in table and table["ann.zip"]["error"] and "ann/" in table["ann.zip"]["error"]


def test_formulas_after_whitespace_are_text_in_the_csv(hostile):
    _, out, _, _ = hostile
    names = [name for name in rows(out) if "=1+" in name]
    assert len(names) == 2 and all(name.startswith("'") for name in names), names


def test_resume_finishes_the_hostile_gradebook(hostile):
    root, out, done, temporary = hostile
    assert done.returncode == 0
    again = run_kit("grade-all", str(root), *STAGES, "--out", str(out), "--resume",
                    env={"TMPDIR": str(temporary)}, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert json.loads((out / "grades.json").read_text())["status"] == "complete"
