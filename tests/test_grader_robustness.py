"""The grader survives whatever a learner writes: each broken tree is graded within its limits,
with a plain message naming the file and line where one exists, the other stages still graded,
and no process (pytest child, daphne) left behind. Ctrl-C mid-stage leaves nothing behind either.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from conftest import KIT_ROOT, grade_json, mutate, stage
from kit.isolation import procs

# Short limits keep the suite fast; every one is still far above what a correct tree needs.
LIMITS = {"KIT_TEST_TIME_LIMIT": "12", "KIT_STAGE_TIME_LIMIT": "90", "KIT_WAIT": "3", "KIT_BUSY_RETRY": "0",
          "KIT_DAPHNE_READY_TIMEOUT": "6", "REDIS_URL": ""}


def leftovers(tree: Path) -> list[str]:
    """Live processes that belong to a grading of tree: they name it, run in it or import from it."""
    marker = str(tree)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        try:
            if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
            env_text = " ".join(proc.environ().values()) if marker not in cmdline else ""
            if marker in cmdline or (proc.info["cwd"] or "").startswith(marker) or marker in env_text:
                found.append(f"{proc.pid}: {cmdline[:160]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def grade_broken(tree: Path, *stages: str) -> tuple[dict, float]:
    begun = time.monotonic()
    report = grade_json(tree, *stages, env=LIMITS)
    elapsed = time.monotonic() - begun
    assert not leftovers(tree), f"processes outlived kit check: {leftovers(tree)}"
    assert [s["id"] for s in report["stages"]] == list(stages), "every requested stage must be graded"
    return report, elapsed


def plain(message: str) -> None:
    assert message and "Traceback (most recent call last)" not in message and len(message) < 1500, message


# name: (edits, stages graded, the stage that must fail, words its message must hold, a stage that must pass)
CONSUMER = "myapp/consumers.py"
BROKEN = {
    "syntax-error": ([(CONSUMER, "    async def disconnect(self, close_code):", "    async def disconnect(self close_code):")],
                     ("settings", "consumer"), "consumer", ["myapp/consumers.py, line", "syntax error"], "settings"),
    "exception-at-import": ([(CONSUMER, "\n\nclass RateLimit:", '\n\nraise RuntimeError("kaboom at import")\n\n\nclass RateLimit:')],
                            ("settings", "consumer"), "consumer", ["myapp/consumers.py, line", "kaboom"], "settings"),
    "never-accepts": ([(CONSUMER, "        await self.accept()", "        pass  # forgot accept()")],
                      ("settings", "consumer"), "consumer", ["accept()"], "settings"),
    "blocks-the-loop": ([(CONSUMER, "    async def receive(self, text_data=None, bytes_data=None):\n",
                          "    async def receive(self, text_data=None, bytes_data=None):\n        import time\n"
                          "        time.sleep(600)\n")],
                        ("settings", "consumer"), "consumer", ["event loop was blocked", "myapp/consumers.py, line"],
                        "settings"),
    "endless-loop-in-receive": ([(CONSUMER, "    async def receive(self, text_data=None, bytes_data=None):\n",
                                  "    async def receive(self, text_data=None, bytes_data=None):\n"
                                  "        while True:\n            pass\n")],
                                ("settings", "consumer"), "consumer",
                                ["event loop was blocked", "myapp/consumers.py, line"], "settings"),
    "settings-sys-exit": ([("myproject/settings.py", "\nROOT_URLCONF", "\nimport sys\nsys.exit(3)\nROOT_URLCONF")],
                          ("settings", "consumer"), "settings", ["myproject/settings.py, line"], None),
    "settings-os-exit": ([("myproject/settings.py", "\nROOT_URLCONF", "\nos._exit(3)\nROOT_URLCONF")],
                         ("settings", "consumer"), "settings", ["myproject/settings.py, line", "os._exit"], None),
    "asgi-hangs-at-import": ([("myproject/asgi.py", "import os\n", "import os\nimport time\ntime.sleep(600)\n")],
                             ("settings", "asgi", "daphne"), "daphne", ["did not listen", "within 6 s"], "settings"),
}


@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_tree_is_graded_plainly(solved_tree, name):
    edits, stages, failing, words, passing = BROKEN[name]
    for relpath, old, new in edits:
        mutate(solved_tree, relpath, old, new)
    report, elapsed = grade_broken(solved_tree, *stages)
    broken = stage(report, failing)
    assert not broken["passed"] and broken["points"] == 0
    message = broken["failures"][0]["message"]
    plain(message)
    for word in words:
        assert word in message, f"{word!r} not in: {message}"
    assert broken["failures"][0]["hint"], "a failure always carries a hint"
    for other in report["stages"]:
        plain(" ".join(f["message"] for f in other["failures"]) or "passed")
    if passing:
        assert stage(report, passing)["passed"], stage(report, passing)["failures"]
    # Each stage is bounded by KIT_STAGE_TIME_LIMIT; in practice a broken stage ends at its first test limit.
    assert elapsed < 90 * len(stages), f"kit check took {elapsed:.0f} s"


def test_a_stage_that_outlives_its_limit_names_the_running_check(solved_tree):
    """A consumer that hangs past the stage limit (the test limit set higher) is stopped and named."""
    mutate(solved_tree, CONSUMER, "        await self.accept()", "        import time\n        time.sleep(600)")
    env = dict(LIMITS, KIT_TEST_TIME_LIMIT="300", KIT_STAGE_TIME_LIMIT="8", KIT_WAIT="120")
    begun = time.monotonic()
    report = grade_json(solved_tree, "consumer", env=env)
    elapsed = time.monotonic() - begun
    assert not leftovers(solved_tree), leftovers(solved_tree)
    failure = stage(report, "consumer")["failures"][0]
    assert "did not finish within 8 s" in failure["message"], failure
    assert failure["test"] == "test_accepts_connection" and "test_accepts_connection" in failure["message"]
    assert elapsed < 60, f"a stage limited to 8 s took {elapsed:.0f} s to grade"


def test_a_process_killed_mid_check_is_a_failure_not_a_pass(solved_tree):
    """os._exit inside a consumer kills the checking process after earlier checks passed."""
    mutate(solved_tree, CONSUMER, "    async def receive(self, text_data=None, bytes_data=None):\n",
           "    async def receive(self, text_data=None, bytes_data=None):\n        import os\n        os._exit(0)\n")
    report, _ = grade_broken(solved_tree, "consumer")
    result = stage(report, "consumer")
    assert not result["passed"], "a checking process that died must never count as a pass"
    failure = result["failures"][0]
    assert failure["test"] == "test_sender_gets_own_message", failure
    assert "myapp/consumers.py, line" in failure["message"] and "os._exit" in failure["message"], failure


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_interrupting_mid_stage_leaves_nothing_behind(solved_tree, how):
    """Ctrl-C (SIGINT to the terminal's process group) or SIGTERM to kit alone (a CI time limit) while
    daphne serves a consumer stuck in time.sleep: kit exits 130 and every child is gone."""
    mutate(solved_tree, CONSUMER, "    async def receive(self, text_data=None, bytes_data=None):\n",
           "    async def receive(self, text_data=None, bytes_data=None):\n        import time\n"
           "        time.sleep(600)\n")
    env = {k: v for k, v in os.environ.items() if k != "KIT_PROJECT"}
    env.update(LIMITS, KIT_TEST_TIME_LIMIT="300", KIT_STAGE_TIME_LIMIT="300", KIT_WAIT="120")
    kit = subprocess.Popen([sys.executable, "-m", "kit", "check", "daphne", "consumer", "--project",
                            str(solved_tree)], cwd=KIT_ROOT, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        def daphne_serving():
            return any("-m daphne" in line for line in leftovers(solved_tree))

        deadline = time.monotonic() + 120
        while not daphne_serving():
            assert kit.poll() is None, f"kit check ended early: {kit.communicate()}"
            assert time.monotonic() < deadline, "daphne never started under kit check"
            time.sleep(0.2)
        assert len(leftovers(solved_tree)) >= 4, leftovers(solved_tree)  # kit, two pytest children, daphne
        # Wait until daphne's loop is really stuck in time.sleep (its pages stop answering): the
        # hard case, a process that cannot act on a polite SIGTERM.
        daphne = next(line for line in leftovers(solved_tree) if "-m daphne" in line)
        while not daphne_answers(daphne) and time.monotonic() < deadline:  # listening first ...
            time.sleep(0.2)
        while daphne_answers(daphne):  # ... then stuck
            assert time.monotonic() < deadline, "the consumer never blocked daphne"
            time.sleep(0.2)
        if how == "ctrl-c":
            os.killpg(kit.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the foreground group gets it
        else:
            kit.send_signal(signal.SIGTERM)
        _, err = kit.communicate(timeout=60)
        assert not leftovers(solved_tree), f"processes outlived the interrupted kit: {leftovers(solved_tree)}"
        assert kit.returncode == 130, err
        assert "Interrupted" in err
    finally:
        if kit.poll() is None:
            kit.kill()
            kit.communicate()
        for line in leftovers(solved_tree):  # a failed run must not leak into the next test
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


def daphne_answers(leftover: str) -> bool:
    """Whether the daphne of this leftovers line answers a page within a second.

    A graded daphne listens on a Unix socket inside its sandbox, reached here through its own root."""
    import http.client
    import socket

    pid = leftover.split()[0].rstrip(":")
    args = leftover.split()
    path = args[args.index("-u") + 1] if "-u" in args else None
    try:
        if path is None:
            port = int(args[args.index("-p") + 1])
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        else:
            connection = http.client.HTTPConnection("127.0.0.1", timeout=1)
            connection.sock = socket.socket(socket.AF_UNIX)
            connection.sock.settimeout(1)
            connection.sock.connect(f"/proc/{pid}/root{path}")
        connection.request("GET", "/chat/")
        connection.getresponse().read()
        connection.close()
        return True
    except (OSError, ValueError, http.client.HTTPException):
        return False
