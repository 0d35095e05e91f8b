"""Nothing outside the sandbox is reachable from a graded tree (issue 16, "Nothing reachable outside the sandbox").

The grading Redis refuses every command that reaches past Redis (MODULE, CONFIG,
SAVE, SHUTDOWN, ...), runs in a sandbox of its own as an unprivileged user, and
is gone when grading ends; learner processes have a network of their own, so a
listener on the machine's loopback hears nothing from them. Attack trees are the
starter plus a few lines, as in tests/test_forgery.py; each attack is also made
to show what it reached, so a check here fails if the defence it tests is gone.
"""
from __future__ import annotations

import json
import os
import socket
import textwrap
import threading
from pathlib import Path

import psutil
import pytest

from conftest import KIT_ROOT, STARTER, copy_tree, grade_json, stage
from kit.isolation import sandbox
from leaks import leftovers
from test_forgery import kit_fingerprint

LIMITS = {"KIT_TEST_TIME_LIMIT": "30", "KIT_STAGE_TIME_LIMIT": "240", "KIT_WAIT": "4",
          "KIT_DAPHNE_READY_TIMEOUT": "20", "REDIS_URL": ""}

pytestmark = pytest.mark.skipif(not sandbox.detect().sandboxed, reason="needs bubblewrap")

# In settings.py, so every learner process runs it: the host, daphne, and the redis stage's scripts.
REDIS_ATTACK = textwrap.dedent('''
    import os as _os, socket as _socket
    from urllib.parse import urlparse as _urlparse

    def _ask(url, *words):
        parsed = _urlparse(url)
        with _socket.socket(_socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(parsed.path)
            sock.sendall(("*%d\\r\\n" % len(words)).encode()
                         + b"".join(b"$%d\\r\\n%s\\r\\n" % (len(w.encode()), w.encode()) for w in words))
            return sock.recv(200).decode(errors="replace").split("\\r")[0][:22]  # enough to tell a refusal

    if _os.environ.get("REDIS_URL", "").startswith("unix://"):
        _kit_folder = KIT_FOLDER  # the test writes the kit's real path here
        _replies = []
        for _words in (("MODULE", "LOAD", _os.path.join(_os.getcwd(), "evil.so")),
                       ("CONFIG", "SET", "dir", _kit_folder), ("CONFIG", "SET", "dbfilename", "forged.py"),
                       ("SET", "payload", "import os"), ("SAVE",), ("BGSAVE",), ("DEBUG", "SLEEP", "0"),
                       ("ACL", "SETUSER", "evil", "on"), ("REPLICAOF", "127.0.0.1", "1"), ("MONITOR",),
                       ("SHUTDOWN", "NOSAVE")):
            try:
                _replies.append(_words[0] + " -> " + _ask(_os.environ["REDIS_URL"], *_words))
            except OSError as exc:
                _replies.append(_words[0] + " -> " + type(exc).__name__)
        raise RuntimeError("REDIS-REPLIES " + " | ".join(_replies))
''')

NETWORK_ATTACK = textwrap.dedent('''
    import socket as _socket
    for _ in range(3):
        try:
            with _socket.create_connection(("127.0.0.1", {port}), timeout=2) as _sock:
                _sock.sendall(b"reached from learner code\\n")
        except OSError:
            pass
''')


def attack_tree(tmp_path: Path, name: str, code: str, files: dict[str, bytes] | None = None) -> Path:
    tree = copy_tree(STARTER, tmp_path / name)
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text(encoding="utf-8") + "\n" + code, encoding="utf-8")
    for relpath, data in (files or {}).items():
        (tree / relpath).write_bytes(data)
    return tree


def processes_mentioning(folder: Path) -> list[str]:
    """Live processes whose command line or working folder lies in folder: Redis's sandbox, a daphne."""
    mark = str(folder.resolve())
    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            if mark in " ".join(proc.info["cmdline"] or []) or proc.cwd().startswith(mark):
                found.append(f"{proc.pid} {proc.info['name']}")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_learner_code_cannot_command_the_grading_redis(tmp_path):
    # An ELF header is enough to tell "no such command" from "could not load that module".
    code = REDIS_ATTACK.replace("KIT_FOLDER", repr(str(KIT_ROOT / "kit")))
    tree = attack_tree(tmp_path, "redis-attack", code, {"evil.so": b"\x7fELF" + b"\0" * 60})
    before = kit_fingerprint()
    report = grade_json(tree, "redis", env=dict(LIMITS, TMPDIR=str(tmp_path)))
    text = json.dumps(report)
    assert report["score"] == 0, text[:2000]
    assert "REDIS-REPLIES" in text, f"the attack never reached the stage's Redis: {text[:2000]}"
    replies = text.split("REDIS-REPLIES", 1)[1]
    for name in ("MODULE", "CONFIG", "SAVE", "BGSAVE", "DEBUG", "ACL", "REPLICAOF", "MONITOR", "SHUTDOWN"):
        assert f"{name} -> -ERR unknown command" in replies, f"{name} was not refused: {replies[:1500]}"
    assert "SET -> +OK" in replies, f"the Redis did not answer an ordinary command: {replies[:1500]}"
    assert kit_fingerprint() == before, "the attack changed the kit's files"
    assert not list((KIT_ROOT / "kit").glob("forged*")), "Redis wrote into the kit"
    assert leftovers(tree, tmpdir=tmp_path) == [] and processes_mentioning(tmp_path) == [], "left running"


class Listener:
    """A TCP listener on the machine's loopback that records every connection made to it."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.heard: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    self.heard.append(conn.recv(100) or b"(connected)")
                except OSError:
                    self.heard.append(b"(connected)")

    def close(self):
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.fixture
def listener():
    heard = Listener()
    yield heard
    heard.close()


@pytest.mark.parametrize("mode", ["sandbox", "no-sandbox"])
def test_learner_code_cannot_reach_the_machines_loopback(tmp_path, listener, mode):
    """settings.py connects to a listener on 127.0.0.1 from the host, daphne and the redis stage's processes.

    Without a sandbox it gets through (so this test sees an open network when there is one); in the sandbox
    the listener hears nothing."""
    tree = attack_tree(tmp_path, "network-attack", NETWORK_ATTACK.format(port=listener.port))
    env = dict(LIMITS, TMPDIR=str(tmp_path))
    if mode == "no-sandbox":
        env["KIT_SANDBOX"] = "off"
    report = grade_json(tree, "settings", "daphne", "redis", env=env)
    assert report["score"] == 0  # the starter: nothing to earn
    assert report["isolation"].startswith("bubblewrap" if mode == "sandbox" else "process"), report["isolation"]
    if mode == "sandbox":
        assert listener.heard == [], f"learner code reached 127.0.0.1:{listener.port}: {listener.heard}"
    else:
        assert b"reached from learner code\n" in listener.heard, "the attack could not connect even unsandboxed"
    assert leftovers(tree, tmpdir=tmp_path) == [] and processes_mentioning(tmp_path) == []


LINK_ATTACK = textwrap.dedent('''
    import os as _os, threading as _threading, time as _time

    def _swap():
        place = "/run/kit/daphne/daphne.sock"
        for _ in range(3000):
            if _os.path.exists(place) and not _os.path.islink(place):
                _os.symlink(TARGET, place + ".new")
                _os.rename(place + ".new", place)  # daphne keeps listening on the socket it made
                return
            _time.sleep(0.01)

    if _os.path.isdir("/run/kit/daphne"):
        _threading.Thread(target=_swap, daemon=True).start()
''')


def test_a_link_in_place_of_daphnes_socket_leads_nowhere(tmp_path):
    """daphne's socket folder is the learner's: a link planted there must not send the checker (root) to
    another socket of the machine, here a Unix listener of the test's own."""
    target = tmp_path / "elsewhere.sock"
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(target))
    listening.listen(16)
    listening.settimeout(0.2)
    tree = attack_tree(tmp_path, "link-attack", LINK_ATTACK.replace("TARGET", repr(str(target))))
    report = grade_json(tree, "daphne", env=dict(LIMITS, TMPDIR=str(tmp_path)))
    heard = []
    while True:
        try:
            heard.append(listening.accept()[0].recv(200))
        except OSError:
            break
    listening.close()
    assert report["score"] == 0, json.dumps(report)[:2000]
    assert heard == [], f"the checker followed the planted link: {heard}"
    assert leftovers(tree, tmpdir=tmp_path) == [] and processes_mentioning(tmp_path) == []


def test_solutions_pass_the_live_stages_on_a_private_network(solved_tree, tmp_path, listener):
    """daphne on a Unix socket, Redis on a Unix socket, the checks and Chromium through the forwarder."""
    report = grade_json(solved_tree, "daphne", "redis", "push", env={"REDIS_URL": f"redis://127.0.0.1:{listener.port}/0",
                                                                     "TMPDIR": str(tmp_path)})
    for stage_id in ("daphne", "redis", "push"):
        result = stage(report, stage_id)
        assert result["passed"], (stage_id, result["failures"])
    assert listener.heard == [], "grading used REDIS_URL's Redis instead of its own"
    assert report["isolation"].startswith("bubblewrap")
    assert processes_mentioning(tmp_path) == []


def test_grading_redis_runs_alone_as_nobody(monkeypatch):
    """The hardened Redis by itself: commands refused, its own sandbox without the kit, an unprivileged user."""
    from kit.services.redis import DISABLED, RedisServer, ask

    monkeypatch.setenv("KIT_GRADING_ISOLATION", "bubblewrap")
    monkeypatch.delenv("REDIS_URL", raising=False)
    with RedisServer(grading=True) as redis:
        assert redis.sandboxed and redis.url.startswith("unix://")
        for name in DISABLED:
            assert b"unknown command" in ask(redis.url, f"{name} HELP"), name
        assert ask(redis.url, "PING").startswith(b"+PONG")
        server = next(p for p in psutil.Process(redis.process.pid).children(recursive=True)
                      if p.name() == "redis-server")
        if os.geteuid() == 0:
            assert server.uids().real != 0 and server.uids().effective != 0, server.uids()
            root = Path(f"/proc/{server.pid}/root")
            assert (root / "usr").is_dir(), "the test cannot look into Redis's sandbox"
            assert not (root / KIT_ROOT.relative_to("/")).exists(), "Redis's sandbox shows the kit"
            assert not (root / "etc").exists() and not (root / "root").exists()
        folder = redis.folder
    assert not folder.exists()
    assert not psutil.pid_exists(server.pid) or psutil.Process(server.pid).status() == psutil.STATUS_ZOMBIE
