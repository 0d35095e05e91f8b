"""`kit grade-all`: a class built from the starter and `kit solve`, one learner per state an instructor meets.

Graded on two fast stages (settings, asgi) so the whole class takes seconds a learner: the layouts a
release and `gh classroom clone` produce, an archive, a folder with two trees, a link, a committed
virtual environment, a 2 GB file, a syntax error, no tree at all; then the batch itself: a real
SIGHUP to a real grade-all, --resume, a second run into the same --out, a machine without a browser
or a sandbox.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import KIT_ROOT, STARTER, copy_tree, executed_bengali_notebook, mutate, run_kit, solved_through
from kit.course import catalogue
from kit.class_grading import archives, classfolder
from kit.grading import scratch

STAGES = ["settings", "asgi"]
FULL = sum(catalogue.get(s).points for s in STAGES)
SETTINGS = catalogue.get("settings").points
ODD_NAME = "erin <b>"     # folder names are untrusted text in the HTML report
BENGALI = re.compile(r"[\u0980-\u09FF]")


def solved(stage_id: str, dest: Path) -> Path:
    return solved_through(catalogue.get(stage_id), dest)


def slow_to_grade(tree: Path) -> Path:
    """A tree whose settings take 2 s to import: a signal sent after the first learners is sure to find the
    batch still running, however fast the machine grades the rest."""
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text() + "\nimport time\ntime.sleep(2)\n")
    return tree


def make_zip(path: Path, files: dict[str, bytes], links: dict[str, str] = {}) -> None:
    with zipfile.ZipFile(path, "w") as packed:
        for name, data in files.items():
            packed.writestr(name, data)
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            packed.writestr(info, target)


def zip_tree(tree: Path, archive: Path, prefix: str) -> None:
    make_zip(archive, {f"{prefix}/{p.relative_to(tree)}": p.read_bytes() for p in tree.rglob("*") if p.is_file()})


def build_class(root: Path) -> Path:
    """One learner per state (the comment says what each should get)."""
    solved("asgi", root / "ana" / "chat-ana" / "project")                 # release clone: repo/project/: full
    solved("settings", root / "ben" / "project")                          # learner/project: settings only
    solved("asgi", root / "josé-ñ")                                       # learner/manage.py: full
    dipa = root / "দীপা" / "chat-dipa"
    copy_tree(STARTER, dipa / "project")                                  # the starter: 0, feedback in Bengali
    executed_bengali_notebook(dipa)
    carl = solved("asgi", root / "carl" / "repo")                         # learner/<repo>/: a syntax error
    mutate(carl, "myproject/settings.py", "INSTALLED_APPS = [", "INSTALLED_APPS = [[")
    venvy = solved("asgi", root / "venvy")                                # a committed venv (any name): full
    env = venvy / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "activate").write_text("# activate\n")
    site = env / "lib" / "python3.11" / "site-packages" / "pkg"
    site.mkdir(parents=True)
    for number in range(6000):
        (site / f"m{number}.py").write_text("x = 1\n")
    for cache in ("__pycache__", ".pytest_cache", ".mypy_cache", "build", "dist", "chat.egg-info"):
        (venvy / cache).mkdir(exist_ok=True)
        (venvy / cache / "junk.bin").write_bytes(b"\0" * 1024)
    big = solved("asgi", root / "big")                                    # a 2 GB file: refused, says why
    with open(big / "dump.sql", "wb") as handle:
        handle.truncate(2 * 2**30)                                        # sparse: no disk is used
    copy_tree(STARTER, root / "two" / "a")                                # two trees: refused
    copy_tree(STARTER, root / "two" / "b")
    (root / ODD_NAME).mkdir()                                             # no tree: a row, out of the mean
    (root / ODD_NAME / "notes.txt").write_text("I could not finish\n")
    os.symlink(root / "ana", root / "linky")                              # a link: refused, never followed
    (root / "__MACOSX").mkdir()                                           # what unzipping on a Mac leaves
    leo = solved("settings", root.parent / "leo-src")                     # an archive: unpacked and graded
    zip_tree(leo, root / "leo.zip", "leo-main/project")
    make_zip(root / "mal.zip", {"../../escape.txt": b"out"})              # a way out: refused, says why
    return root


@pytest.fixture(scope="module")
def hidden_orphan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hidden")
    (folder / "test_nostage.py").write_text("def test_x():\n    assert True\n")
    return folder


@pytest.fixture(scope="module")
def batch(tmp_path_factory, hidden_orphan):
    root = build_class(tmp_path_factory.mktemp("class") / "submissions")
    out = root.parent / "grades"
    begun = time.monotonic()
    done = run_kit("grade-all", str(root), *STAGES, "--out", str(out),
                   env={"COLUMNS": "200", "KIT_HIDDEN_CHECKS": str(hidden_orphan)}, timeout=900)
    print(f"class of {len(rows(out)) if out.exists() else '?'} graded in {time.monotonic() - begun:.0f} s")
    return root, out, done


def rows(out: Path) -> dict[str, dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        return {row["learner"]: row for row in csv.DictReader(handle) if row["learner"] and
                not row["learner"].startswith("(")}


def test_every_folder_and_archive_gets_a_row_with_its_reason(batch):
    root, out, done = batch
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = rows(out)
    assert sorted(table) == sorted(["ana", "ben", "josé-ñ", "দীপা", "carl", "venvy", "big", "two", ODD_NAME,
                                    "linky", "leo", "mal"])
    expect = {"ana": FULL, "ben": SETTINGS, "josé-ñ": FULL, "দীপা": 0, "carl": 0, "venvy": FULL, "big": 0,
              "two": 0, ODD_NAME: 0, "linky": 0, "leo": SETTINGS, "mal": 0}
    assert {name: int(row["total"]) for name, row in table.items()} == expect
    for name, row in table.items():     # every row short of full marks says why, in the note
        if int(row["total"]) < int(row["max_score"]):
            assert row["note"].strip(), name
    assert "syntax error in myproject/settings.py" in table["carl"]["note"]
    assert "too big to grade" in table["big"]["note"] and "dump.sql" in table["big"]["note"]
    assert "2 project trees" in table["two"]["note"]
    assert "symbolic link" in table["linky"]["note"]
    assert "No project tree" in table[ODD_NAME]["note"]
    assert "outside itself" in table["mal"]["note"] and not (root.parent.parent / "escape.txt").exists()
    assert table["ben"]["note"].startswith("asgi: ")
    printed = " ".join(done.stdout.split())
    for reason in ("too big to grade", "2 project trees", "symbolic link", "syntax error"):
        assert reason in printed        # the console says it too
    assert "test_nostage.py names no stage" in printed


def test_the_csv_opens_right_in_a_spreadsheet(batch):
    _, out, _ = batch
    raw = (out / "grades.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0] == ["learner", *STAGES, "total", "max_score", "note"]
    assert lines[1][:4] == ["(maximum)", str(SETTINGS), str(catalogue.get("asgi").points), str(FULL)]
    facts = {line[0]: line[1] for line in lines if len(line) == 2}
    assert re.fullmatch(r"[0-9a-f]{7,}(-dirty)?|unknown", facts["(kit commit)"])
    assert facts["(isolation)"].startswith("bubblewrap") and facts["(status)"] == "complete"
    assert re.search(r"\d{4}-\d\d-\d\d", facts["(graded)"])
    assert facts["(hidden check not run)"].startswith("test_nostage.py names no stage")


def test_json_and_console_agree_and_folders_without_a_tree_are_out_of_the_mean(batch):
    _, out, done = batch
    data = json.loads((out / "grades.json").read_text())
    table = rows(out)
    assert data["status"] == "complete" and data["stage_points"] == {s: catalogue.get(s).points for s in STAGES}
    assert data["hidden_orphans"] == ["test_nostage.py"]
    for entry in data["learners"]:
        if entry["status"] != "duplicate":
            assert int(table[entry["learner"]]["total"]) == entry["total"]
    counted = [e["total"] for e in data["learners"] if e["status"] in ("graded", "refused")]
    assert len(counted) == 11            # all but the folder with no tree
    printed = " ".join(done.stdout.split())
    assert f"mean {sum(counted) / len(counted):.1f}" in printed
    assert "1 folder(s) with no project tree left out" in printed
    assert re.search(r"settings\s*│\s*10\s*│\s*5/11\s*│\s*45%", done.stdout), done.stdout[-3000:]


def test_the_html_report_shows_reasons_sorts_filters_and_fits_800_px(batch):
    _, out, _ = batch
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "max-width: 800px" in page and 'id="filter"' in page and "addEventListener('click'" in page
    assert "erin &lt;b&gt;" in page and "erin <b>" not in page
    assert "http" not in page.split("<script>")[1]          # no CDN, nothing fetched
    assert "too big to grade" in page and "2 project trees" in page and "syntax error" in page
    assert "myproject.asgi.application is an ASGIHandler" in page          # the most common asgi failure
    assert "test_nostage.py names no stage" in page and "bubblewrap" in page
    assert 'class="uncounted"' in page


def test_one_feedback_file_per_learner_in_their_language(batch):
    _, out, _ = batch
    feedback = out / "feedback"
    names = {p.stem for p in feedback.glob("*.md")}
    assert {"ana", "ben", "দীপা", "carl", "big"} <= names
    assert [name for name in names if name.startswith("erin _b_-")]   # made safe: a hash of the real name added
    ben = (feedback / "ben.md").read_text(encoding="utf-8")
    assert "What passed" in ben and "settings" in ben and "What to fix next" in ben and "asgi" in ben
    dipa = (feedback / "দীপা.md").read_text(encoding="utf-8")
    assert BENGALI.search(dipa.replace("দীপা", "")) and "settings" in dipa
    big = (feedback / "big.md").read_text(encoding="utf-8")
    assert "too big to grade" in big


def test_grade_all_lang_writes_every_feedback_file_in_that_language(tmp_path):
    """`grade-all --lang bn` (Meta.language): Bengali feedback for a learner who handed in only project/ (nothing
    to guess the language from); without --lang that learner's feedback stays English. No grading needed."""
    from kit.class_grading.grades import Meta
    from kit.class_grading.feedback import write_feedback
    from kit.grading.report import Failure, Report, StageResult

    tree = tmp_path / "দীপা" / "project"
    tree.mkdir(parents=True)
    settings, asgi = catalogue.get("settings"), catalogue.get("asgi")
    report = Report(project=str(tree), stages=[
        StageResult(id="settings", title=settings.title, passed=True, points=settings.points,
                    max_points=settings.points),
        StageResult(id="asgi", title=asgi.title, passed=False, points=0, max_points=asgi.points,
                    failures=[Failure("test_asgi", "not passed", "read the lesson")])])
    sub = classfolder.Submission("দীপা", tmp_path / "দীপা", tree, report=report, done=True)
    bengali = write_feedback(tmp_path / "bn", sub, Meta(str(tmp_path), ["settings", "asgi"], "none",
                                                         language="bn")).read_text(encoding="utf-8")
    english = write_feedback(tmp_path / "en", sub, Meta(str(tmp_path), ["settings", "asgi"], "none")
                             ).read_text(encoding="utf-8")
    heading = bengali.splitlines()[0]
    assert heading == "# Channels Kit: ফিডব্যাক (শিক্ষার্থী: দীপা)"          # the name stands alone, no case ending
    total = settings.points + asgi.points
    digits = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
    assert f"স্কোর: {str(settings.points).translate(digits)}/{str(total).translate(digits)}।" in bengali
    assert f"notebooks/bn/{asgi.notebook}" in bengali
    assert english.startswith("# Channels Kit: feedback for দীপা") and f"Score: {settings.points} of {total}." in english


def test_a_second_run_into_the_same_out_refuses(batch):
    root, out, _ = batch
    again = run_kit("grade-all", str(root), *STAGES, "--out", str(out))
    assert again.returncode == 2 and "already holds a gradebook" in " ".join(again.stderr.split())
    both = run_kit("grade-all", str(root), *STAGES, "--out", str(out), "--resume", "--force")
    assert both.returncode == 2


# -- the batch survives a dropped connection -----------------------------------------------------------
def grades(out: Path) -> dict:
    try:
        return json.loads((out / "grades.json").read_text())
    except (OSError, ValueError):
        return {}


def test_sighup_leaves_a_partial_gradebook_and_resume_finishes_it(tmp_path):
    root = tmp_path / "class"
    for number in range(6):
        tree = solved("settings", root / f"learner{number}" / "project")
        if number >= 2:
            slow_to_grade(tree)
    out = tmp_path / "grades"
    proc = start_grade_all(root, out)
    wait_for_learners(proc, out, 2)
    proc.send_signal(signal.SIGHUP)
    said, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGHUP, said[-2000:]
    data = grades(out)
    finished = [e["learner"] for e in data["learners"] if e["done"]]
    assert data["status"] == "partial" and data["interrupted"] == "SIGHUP"
    assert 2 <= len(finished) < 6, finished
    table = rows(out)
    assert len(table) == 6 and "Not graded yet" in table["learner5"]["note"]
    assert "partial: interrupted by SIGHUP" in (out / "grades.csv").read_text(encoding="utf-8-sig")
    assert "Partial gradebook" in (out / "report.html").read_text(encoding="utf-8")
    assert "--resume" in said
    seconds = {e["learner"]: e["seconds"] for e in data["learners"] if e["done"]}

    resumed = run_kit("grade-all", str(root), *STAGES, "--out", str(out), "--resume", timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    data = grades(out)
    assert data["status"] == "complete" and all(e["done"] for e in data["learners"])
    assert {e["learner"]: e["seconds"] for e in data["learners"] if e["learner"] in seconds} == seconds  # kept
    assert all(int(row["total"]) == SETTINGS for row in rows(out).values())
    assert f"Grading {6 - len(seconds)} submission(s)" in " ".join(resumed.stdout.split())


# -- what the machine lacks --------------------------------------------------------------------------------
@pytest.fixture
def no_browser(tmp_path):
    """PATH with the sandbox but no Chromium, and no Playwright browsers."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bwrap", "git"):
        found = subprocess.run(["which", tool], capture_output=True, text=True).stdout.strip()
        if found:
            os.symlink(found, bin_dir / tool)
    return {"PATH": f"{bin_dir}{os.pathsep}{Path(sys.executable).parent}", "PLAYWRIGHT_BROWSERS_PATH": "/nonexistent",
            "KIT_BROWSER": ""}


def test_no_browser_refuses_to_start_unless_allowed_then_the_stage_is_not_graded(tmp_path, no_browser):
    root = tmp_path / "class"
    solved("settings", root / "ana")
    refused = run_kit("grade-all", str(root), "settings", "frontend", "--out", str(tmp_path / "g1"), env=no_browser)
    assert refused.returncode == 2 and "--allow-missing browser" in " ".join(refused.stderr.split())
    assert not (tmp_path / "g1").exists()
    done = run_kit("grade-all", str(root), "settings", "frontend", "--out", str(tmp_path / "g2"),
                   "--allow-missing", "browser", env=no_browser)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    row = rows(tmp_path / "g2")["ana"]
    assert row["frontend"] == "not graded" and row["total"] == str(SETTINGS) and row["max_score"] == str(SETTINGS)
    assert "frontend: not graded: no browser" in row["note"]
    assert "will not be graded on this machine" in " ".join(done.stdout.split())
    data = json.loads((tmp_path / "g2" / "grades.json").read_text())
    assert data["learners"][0]["not_graded"] == ["frontend"]
    assert data["learners"][0]["report"]["stages"][1]["verdict"] == "not graded"
    page = (tmp_path / "g2" / "report.html").read_text(encoding="utf-8")
    assert 'class="ng n"' in page and "was not graded on this machine" in page


def test_no_sandbox_refuses_to_start_unless_allowed(tmp_path):
    root = tmp_path / "class"
    solved("settings", root / "ana")
    refused = run_kit("grade-all", str(root), "settings", "--out", str(tmp_path / "g"), env={"KIT_SANDBOX": "off"})
    assert refused.returncode == 2 and "--allow-missing sandbox" in " ".join(refused.stderr.split())
    done = run_kit("grade-all", str(root), "settings", "--out", str(tmp_path / "g"), "--allow-missing", "sandbox",
                   env={"KIT_SANDBOX": "off"})
    assert done.returncode == 0 and "advisory" in done.stdout
    assert '(isolation),"process:' in (tmp_path / "g" / "grades.csv").read_text(encoding="utf-8-sig")


# -- usage errors ----------------------------------------------------------------------------------------
def test_a_kit_checkout_or_a_folder_without_trees_is_a_usage_error(tmp_path):
    checkout = run_kit("grade-all", str(KIT_ROOT), "--out", str(tmp_path / "out"))
    assert checkout.returncode == 2 and "is not a class folder" in " ".join(checkout.stderr.split())
    for name in ("docs", "notes"):
        (tmp_path / "nothing" / name).mkdir(parents=True)
    none = run_kit("grade-all", str(tmp_path / "nothing"), "--out", str(tmp_path / "out"))
    assert none.returncode == 2 and "none of its folders holds a project tree" in " ".join(none.stderr.split())
    assert not (tmp_path / "out").exists()


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


def test_help_states_the_limits_and_the_layouts():
    done = run_kit("grade-all", "--help")
    said = " ".join(done.stdout.split())
    assert scratch.LIMITS in said and "DIR/<learner>/<repo>/project/" in said and "--resume" in said
    assert "--allow-missing" in said


# -- the pieces, in process ------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["", "project", "repo", "repo/project"])
def test_a_tree_is_found_in_every_layout(tmp_path, layout):
    copy_tree(STARTER, tmp_path / "learner" / layout if layout else tmp_path / "learner")
    sub = classfolder.submission("learner", tmp_path / "learner")
    assert sub.tree == (tmp_path / "learner" / layout if layout else tmp_path / "learner") and not sub.error


def test_virtual_environments_caches_and_build_output_are_not_graded(tmp_path):
    tree = copy_tree(STARTER, tmp_path / "tree")
    before = scratch.measure(tree)
    for venv in ("venv", "whatever"):
        (tree / venv).mkdir()
        (tree / venv / "pyvenv.cfg").write_text("home = /usr\n")
        (tree / venv / "big.bin").write_bytes(b"\0" * (scratch.MAX_BYTES + 1))
    for cache in ("__pycache__", ".ruff_cache", "dist", "x.egg-info"):
        (tree / "myapp" / cache if cache == "__pycache__" else tree / cache).mkdir()
    (tree / "dist" / "w.whl").write_bytes(b"\0" * 100)
    assert scratch.measure(tree) == before
    copied = scratch.scratch_copy(tree, tmp_path / "copy")
    assert not (copied / "venv").exists() and not (copied / "dist").exists() and (copied / "manage.py").is_file()
    (tree / "myapp" / "dist").mkdir()                       # below the top, dist/ is the learner's own
    (tree / "myapp" / "dist" / "app.js").write_text("1")
    assert scratch.measure(tree)[1] == before[1] + 1


def test_archives_are_unpacked_without_links_or_ways_out_and_bounded(tmp_path, monkeypatch):
    good = tmp_path / "good.zip"
    make_zip(good, {"r/a.txt": b"a", "__MACOSX/r/._a.txt": b"x"}, links={"r/link": "/etc/passwd"})
    place = archives.unpack(good, tmp_path / "u1")
    assert (place / "r" / "a.txt").read_bytes() == b"a" and not (place / "r" / "link").exists()
    assert not (place / "__MACOSX").exists()
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as packed:
        info = tarfile.TarInfo("/abs.txt")
        info.size = 1
        packed.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(archives.UnsafeArchive, match="outside itself"):
        archives.unpack(bad, tmp_path / "u2")
    monkeypatch.setattr(archives, "ARCHIVE_MAX_BYTES", 10)
    make_zip(tmp_path / "huge.zip", {"r/a.txt": b"x" * 100})
    with pytest.raises(archives.UnsafeArchive, match="more than"):
        archives.unpack(tmp_path / "huge.zip", tmp_path / "u3")


def start_grade_all(root: Path, out: Path, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"}
    return subprocess.Popen([sys.executable, "-m", "kit", "grade-all", str(root), *STAGES, "--out", str(out)],
                            cwd=KIT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **popen)


def wait_for_learners(proc: subprocess.Popen, out: Path, count: int) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if sum(1 for e in grades(out).get("learners", []) if e["done"]) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"grade-all ended or stalled before {count} learner(s): {proc.communicate()[0][-2000:]}")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sigterm_and_sigint_leave_a_partial_gradebook_too(tmp_path, signum):
    root = tmp_path / "class"
    for number in range(4):
        tree = solved("settings", root / f"learner{number}")
        if number >= 1:
            slow_to_grade(tree)
    out = tmp_path / "grades"
    proc = start_grade_all(root, out)
    wait_for_learners(proc, out, 1)
    proc.send_signal(signum)
    said, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, said[-2000:]
    data = grades(out)
    assert data["status"] == "partial" and data["interrupted"] == signal.Signals(signum).name
    assert "Traceback" not in said


def test_under_nohup_a_hangup_does_not_stop_the_batch(tmp_path):
    root = tmp_path / "class"
    for number in range(3):
        solved("settings", root / f"learner{number}")
    out = tmp_path / "grades"
    proc = start_grade_all(root, out, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    wait_for_learners(proc, out, 1)
    proc.send_signal(signal.SIGHUP)
    said, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, said[-2000:]
    assert grades(out)["status"] == "complete"


def test_a_learner_name_never_runs_as_a_spreadsheet_formula(tmp_path):
    from kit.class_grading import gradebook

    subs = [classfolder.Submission(name, tmp_path, None, status=classfolder.NO_TREE, done=True, error=error)
            for name, error in (("=HYPERLINK(\"http://x\")", "-2+3"), ("@sum", ""), ("plain", ""))]
    gradebook.write_csv(tmp_path / "grades.csv", subs, STAGES)
    with open(tmp_path / "grades.csv", newline="", encoding="utf-8-sig") as handle:
        table = [row for row in csv.reader(handle)][2:]
    assert [row[0] for row in table] == ["'=HYPERLINK(\"http://x\")", "'@sum", "plain"]
    assert table[0][-1] == "'-2+3"


def test_a_learner_name_cannot_drive_the_terminal(tmp_path):
    from kit.class_grading import gradeall

    sub = classfolder.Submission("eve\x1b[2J[bold]x", tmp_path, None, status=classfolder.NO_TREE, done=True,
                                 error="No project tree\x07 found")
    line = gradeall.learner_line(sub, STAGES)
    assert "\x1b" not in line and "\x07" not in line and "\\[bold]" in line
