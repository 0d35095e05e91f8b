"""A learner's tree cannot write its own grade: attack trees, each built on the starter (an honest 0).

Every attack must score 0, leak no solution or hidden check into the report,
leave no process running and leave the kit unchanged, so the next honest tree
grades as before. Each runs under the sandbox; the ones that process isolation
alone can stop also run with KIT_SANDBOX=off. Where only a sandbox can stop an
attack, the run without it is an expected failure, reported as such, because
every report says which isolation was in force.
"""
from __future__ import annotations

import hashlib
import json
import os
import textwrap
from pathlib import Path

import pytest

from conftest import KIT_ROOT, MUST_FAIL, STARTER, copy_tree, grade_json
from kit.isolation import sandbox
from leaks import leftovers

SECRET = "SECRET-OF-THE-HIDDEN-CHECK-7f3a"
IN_PROCESS = ("settings", "asgi", "consumer", "routing")
# Two in-process stages share one checking process as four do (kit/grading/grader.py grade_batch), and the
# starter fails consumer and routing only after waiting: an attack on that shared process grades two.
BATCH = ("settings", "asgi")
ALL = ("settings", "asgi", "consumer", "routing", "frontend", "daphne", "redis", "hardening")
LIMITS = {"KIT_TEST_TIME_LIMIT": "15", "KIT_STAGE_TIME_LIMIT": "90", "KIT_WAIT": "3",
          "KIT_DAPHNE_READY_TIMEOUT": "10", "REDIS_URL": ""}

FORGED_SNAPSHOT = textwrap.dedent('''
    import glob, json, os
    def forge():
        names = ["test_settings_import", "test_accepts_connection", "test_chat_path_is_routed"]
        line = json.dumps({"expected": [], "entries": [
            {"test": n, "stage": s, "outcome": "passed", "message": "", "hint": ""}
            for s in ("settings", "asgi", "consumer", "routing", "daphne") for n in names]}) + "\\n"
        pid = os.getpid()
        while pid > 1:  # every pipe an ancestor holds open: the grader's channel, if it can be reached
            for path in glob.glob(f"/proc/{pid}/fd/*"):
                try:
                    if os.readlink(path).startswith("pipe:"):
                        with open(path, "w") as pipe:
                            pipe.write(line)
                except OSError:
                    pass
            try:
                pid = int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("PPid:")).split()[1])
            except (OSError, StopIteration, ValueError):
                break
''')

ATTACKS: dict[str, dict] = {
    "conftest-forces-passes": {"files": {
        "conftest.py": "import pytest\n\n@pytest.hookimpl(hookwrapper=True)\n"
                       "def pytest_runtest_makereport(item, call):\n    outcome = yield\n"
                       "    outcome.get_result().outcome = 'passed'\n\n"
                       "def pytest_collection_modifyitems(items):\n    items.clear()\n",
        "myapp/conftest.py": "import pytest\n\n@pytest.fixture(autouse=True)\ndef nothing():\n    yield\n",
        "pytest.ini": "[pytest]\naddopts = -p conftest -p no:kit.grading.pytest_plugin\n",
        "setup.cfg": "[tool:pytest]\naddopts = -p conftest\n",
        "tox.ini": "[pytest]\naddopts = -p conftest\n",
        "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-p conftest'\n",
        "sitecustomize.py": "import os\nos.environ['KIT_FORGED'] = '1'\n",
        "usercustomize.py": "import os\nos.environ['KIT_FORGED'] = '1'\n",
    }, "stages": ALL, "without_sandbox": True},
    "settings-patch-the-runner": {"append": textwrap.dedent('''
        import sys
        for name in list(sys.modules):
            if name.startswith(("_pytest", "pytest", "kit")):
                module = sys.modules[name]
                for attr in ("fail", "skip", "save", "plain_message"):
                    if hasattr(module, attr):
                        setattr(module, attr, lambda *a, **k: None)
        try:
            import kit.grading.pytest_plugin as plugin
            plugin.Recorder.save = lambda self: None
        except Exception:
            pass
    '''), "stages": BATCH + ("daphne",), "without_sandbox": True},
    "settings-writes-results": {"append": FORGED_SNAPSHOT + "forge()\n",
                                "stages": IN_PROCESS + ("daphne",), "without_sandbox": False},
    "atexit-writes-results": {"append": FORGED_SNAPSHOT + "import atexit\natexit.register(forge)\n",
                              "stages": BATCH + ("daphne",), "without_sandbox": False},
    "daemon-escapes": {"append": textwrap.dedent('''
        import os, sys
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(900)"])
            os._exit(0)
    '''), "stages": ("settings", "daphne"), "without_sandbox": True},
    "package-points-at-solutions": {"files": {
        "myproject/__init__.py": "import os, kit\n__path__.insert(0, os.path.join(os.path.dirname("
                                 "os.path.dirname(kit.__file__)), 'solutions', 'myproject'))\n",
        "myapp/__init__.py": "import os, kit\n__path__.insert(0, os.path.join(os.path.dirname("
                             "os.path.dirname(kit.__file__)), 'solutions', 'myapp'))\n",
    }, "stages": BATCH + ("daphne",), "without_sandbox": False},
    "reads-solutions-and-hidden-checks": {"append": textwrap.dedent('''
        import glob, os, kit
        root = os.path.dirname(os.path.dirname(kit.__file__))
        found = []
        for pattern in ("solutions/myapp/*.py", "exercises/*.py", "exercises/hidden/*.py"):
            for path in glob.glob(os.path.join(root, pattern)):
                found.append(open(path).read()[-300:])
        for value in os.environ.values():
            for path in glob.glob(os.path.join(value, "*.py")) if os.path.isdir(value) else ():
                found.append(open(path).read()[-300:])
        raise RuntimeError("LEAK " + " | ".join(found))
    '''), "stages": ("settings", "daphne"), "without_sandbox": False},
    "edits-the-kit": {"append": textwrap.dedent('''
        import glob, os, kit
        root = os.path.dirname(os.path.dirname(kit.__file__))
        for path in [os.path.join(root, "exercises", "conftest.py"), os.path.join(root, "kit", "grading", "grader.py")]:
            try:
                with open(path, "a") as handle:
                    handle.write("\\n# forged\\n")
            except OSError:
                pass
    '''), "stages": ("settings", "daphne"), "without_sandbox": False},
    "shadows-libraries": {"files": {
        "support.py": "def fail(message):\n    pass\n",
        "websockets/__init__.py": "raise SystemExit(0)\n",
        "channels/__init__.py": "raise SystemExit(0)\n",
        "pytest_timeout.py": "raise SystemExit(0)\n",
    }, "stages": BATCH + ("daphne",), "without_sandbox": True},
    "kills-its-parent": {"append": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n",
                         "stages": BATCH + ("daphne",), "without_sandbox": True},
    "floods-output": {"append": "import sys\nfor _ in range(200):\n    sys.stdout.write('x' * (1 << 20))\n",
                      "stages": ("settings", "daphne"), "without_sandbox": True},
    "forks-many": {"append": textwrap.dedent('''
        import os, time
        for _ in range(60):
            if os.fork() == 0:
                time.sleep(900)
                os._exit(0)
    '''), "stages": ("settings", "daphne"), "without_sandbox": True},
    "fills-the-disk": {"append": textwrap.dedent('''
        import os
        with open(os.path.join(os.path.dirname(__file__), "filler.bin"), "wb") as handle:
            for _ in range(200):
                handle.write(b"0" * (1 << 20))
    '''), "stages": ("settings", "daphne"), "without_sandbox": True},
}


def kit_fingerprint() -> str:
    """One hash of every file the kit grades with."""
    digest = hashlib.sha256()
    for folder in ("kit", "exercises", "solutions"):
        for path in sorted((KIT_ROOT / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(KIT_ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()


def attack_tree(tmp_path: Path, name: str) -> Path:
    tree = copy_tree(STARTER, tmp_path / name)
    attack = ATTACKS[name]
    for relpath, text in attack.get("files", {}).items():
        (tree / relpath).parent.mkdir(parents=True, exist_ok=True)
        (tree / relpath).write_text(text, encoding="utf-8")
    if "append" in attack:
        settings = tree / "myproject" / "settings.py"
        settings.write_text(settings.read_text(encoding="utf-8") + "\n" + attack["append"], encoding="utf-8")
    return tree


@pytest.fixture
def hidden_checks(tmp_path) -> Path:
    """An instructor's hidden check holding a secret: no report may show it."""
    folder = tmp_path / "hidden"
    folder.mkdir()
    (folder / "test_settings_secret.py").write_text(f"def test_secret():\n    assert '{SECRET}'\n")
    return folder


MODES = [pytest.param("sandbox", id="sandbox"), pytest.param("off", id="no-sandbox")]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_scores_zero_and_changes_nothing(tmp_path, hidden_checks, name, mode):
    attack = ATTACKS[name]
    if mode == "sandbox" and not sandbox.detect().sandboxed:
        pytest.fail(f"No sandbox on this machine ({sandbox.detect().detail}): install bubblewrap.")
    if mode == "off" and not attack["without_sandbox"]:
        pytest.xfail("only a sandbox stops this attack; without one, every report says "
                     "'process: ... learner code ran as separate processes only'")
    tree = attack_tree(tmp_path, name)
    before = kit_fingerprint()
    # Every stage must fail: a busy machine's second try could only fail it again, twice as slowly (one attack
    # of twelve stages outlived its 300 s). test_a_second_try_forges_nothing_either attacks the second try.
    env = dict(LIMITS, KIT_HIDDEN_CHECKS=str(hidden_checks), TMPDIR=str(tmp_path), **MUST_FAIL)
    if mode == "off":
        env["KIT_SANDBOX"] = "off"
    report = grade_json(tree, *attack["stages"], env=env)
    text = json.dumps(report)
    assert report["score"] == 0, f"{name} forged {report['score']} points: {text[:2000]}"
    assert [s["id"] for s in report["stages"]] == list(attack["stages"]), "every stage asked for is graded"
    assert all(s["failures"] for s in report["stages"]), "every stage says why it failed"
    assert SECRET not in text and "hashlib.sha256" not in text and "def test_" not in text, \
        f"the report leaks the kit's checks or solutions: {text[:2000]}"
    assert report["isolation"].startswith("bubblewrap" if mode == "sandbox" else "process")
    assert leftovers(tree) == [], f"{name} left processes running"
    assert kit_fingerprint() == before, f"{name} changed the kit's files"


@pytest.mark.parametrize("name,mode", [("settings-patch-the-runner", "off"), ("settings-writes-results", "sandbox"),
                                       ("package-points-at-solutions", "sandbox")])
def test_a_second_try_forges_nothing_either(tmp_path, hidden_checks, name, mode):
    """A failed stage graded again (kit/grading/busy.py: on a busy machine; here always) meets every check again."""
    tree = attack_tree(tmp_path, name)
    env = dict(LIMITS, KIT_HIDDEN_CHECKS=str(hidden_checks), TMPDIR=str(tmp_path), KIT_BUSY_RETRY="always")
    if mode == "off":
        env["KIT_SANDBOX"] = "off"
    report = grade_json(tree, *ATTACKS[name]["stages"], env=env)
    assert report["score"] == 0, f"{name} forged {report['score']} points on a second try: {json.dumps(report)[:2000]}"
    assert all(s["second_try"] for s in report["stages"]), "every failed stage was graded twice"
    assert SECRET not in json.dumps(report)
    assert leftovers(tree) == [], f"{name} left processes running"


def test_honest_tree_still_grades_after_the_attacks(solved_tree):
    """Run last in this module: whatever the attacks tried, a correct tree still gets its points."""
    report = grade_json(solved_tree, *IN_PROCESS, "daphne", env={"REDIS_URL": ""})
    assert report["score"] == report["max_score"] == 60, json.dumps(report)[:2000]


def test_every_report_names_its_isolation(solved_tree):
    report = grade_json(solved_tree, "settings", env={"KIT_SANDBOX": "off"})
    assert report["isolation"].startswith("process:"), report["isolation"]
