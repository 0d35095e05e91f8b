"""The grader's Chromium and what it reads for the learner's page are no way out of the tree.

- Saying where a page's script stopped reads room.html while learner code runs (a view can swap it):
  a link (to /etc/shadow: an oracle, "line 1" against "line 5") or a named pipe (blocks, or feeds
  without end) gives no line, at once, and nothing is read through it.
- The page may reach only the stage's own server: a fetch, an <img>, a WebSocket to any other
  127.0.0.1 service of the machine never gets there, while the page's real chat still works.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from conftest import checkpoint_outcomes, solved_through, require_browser

ROOM_HTML = "myapp/templates/myapp/room.html"


# -- A: the template is read without following a link and without blocking ----------------------
def errors_for(tree: Path):
    from kit.services.page import PageErrors

    errors = PageErrors(template=("room.html", tree / ROOM_HTML), root=tree)
    url = "http://127.0.0.1:1/chat/x/"
    errors.remember_source(url, "one\n  two\nthree\n")
    return errors, url


def test_the_template_line_is_said_from_a_regular_file(tmp_path):
    tree = tmp_path / "tree"
    (tree / ROOM_HTML).parent.mkdir(parents=True)
    (tree / ROOM_HTML).write_text("zero\none\ntwo\nthree\n", encoding="utf-8")
    errors, url = errors_for(tree)
    assert errors.template_line(url, 2) == 3   # the line's text, found in the template
    # Without a root it is walked from the file system's root, still one folder at a time.
    from kit.services.page import PageErrors

    plain = PageErrors(template=("room.html", tree / ROOM_HTML))
    plain.remember_source(url, "one\n  two\nthree\n")
    assert plain.template_line(url, 2) == 3


def test_a_linked_template_gives_no_line(tmp_path):
    tree = tmp_path / "tree"
    (tree / ROOM_HTML).parent.mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.write_text("zero\none\ntwo\nthree\n", encoding="utf-8")
    (tree / ROOM_HTML).symlink_to(secret)
    errors, url = errors_for(tree)
    assert errors.template_line(url, 2) is None
    # A linked folder on the way is not followed either.
    (tree / ROOM_HTML).unlink()
    os.rename(tree / "myapp" / "templates" / "myapp", tmp_path / "real")
    (tmp_path / "real" / "room.html").write_text("zero\none\ntwo\nthree\n", encoding="utf-8")
    (tree / "myapp" / "templates" / "myapp").symlink_to(tmp_path / "real")
    assert errors.template_line(url, 2) is None
    entry = {"kind": "uncaught", "name": "ReferenceError", "text": "x is not defined", "url": url, "line": 2}
    assert errors.place(entry) == "line 2 of the page as served"


def test_a_named_pipe_template_neither_blocks_nor_is_read(tmp_path):
    tree = tmp_path / "tree"
    (tree / ROOM_HTML).parent.mkdir(parents=True)
    os.mkfifo(tree / ROOM_HTML)
    errors, url = errors_for(tree)
    begun = time.monotonic()
    result: list = []
    reader = threading.Thread(target=lambda: result.append(errors.template_line(url, 2)), daemon=True)
    reader.start()
    reader.join(5)
    assert not reader.is_alive(), "reading a named pipe with no writer blocked"
    assert result == [None] and time.monotonic() - begun < 5
    # With a writer feeding it without end: still nothing read through it.
    fed = {"bytes": 0}

    keep = os.open(tree / ROOM_HTML, os.O_RDONLY | os.O_NONBLOCK)   # a reader: the writer opens at once
    fd = os.open(tree / ROOM_HTML, os.O_WRONLY)

    def feed() -> None:
        try:
            while fed["bytes"] < 300 * 2**20:
                fed["bytes"] += os.write(fd, b"x" * 65536)
        except OSError:   # the reader went away
            pass
        finally:
            os.close(fd)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        assert errors.template_line(url, 2) is None
    finally:
        os.close(keep)
        writer.join(5)
    assert not writer.is_alive()


# -- through the grader: real daphne, real Chromium ------------------------------------------------
LIMITS = {"KIT_WAIT": "3", "KIT_TEST_TIME_LIMIT": "90", "KIT_STAGE_TIME_LIMIT": "300", "REDIS_URL": ""}


@pytest.fixture
def browser_present():
    require_browser()


class Listener:
    """A 127.0.0.1 service of the machine, outside the grading: it records every connection it gets."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.heard: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with client:
                client.settimeout(2)
                try:
                    self.heard.append(client.recv(4096))
                    client.sendall(b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nContent-Length: 6\r\n\r\nsecret")
                except OSError:
                    self.heard.append(b"")

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


# Every way a page reaches out over HTTP: a CORS fetch read back, an image, by 127.0.0.1, localhost and ::1.
FETCHING_OUT = """
    <script>
        const far = "127.0.0.1:PORT";
        fetch("http://" + far + "/x").then(r => r.text())
            .then(t => fetch("http://" + far + "/back?b=" + t)).catch(() => 0);
        fetch("http://localhost:PORT/y", {mode: "no-cors"}).catch(() => 0);
        fetch("http://[::1]:PORT/z", {mode: "no-cors"}).catch(() => 0);
        const picture = new Image(); picture.src = "http://" + far + "/img";
    </script>
</body>"""
# And over WebSockets (the checks judge where the page's sockets go, so this one is graded on its own).
DIALLING_OUT = """
    <script>
        try { new WebSocket("ws://127.0.0.1:PORT/ws/chat/lobby/"); } catch (e) {}
        try { new WebSocket("ws://localhost:PORT/ws/chat/lobby/"); } catch (e) {}
    </script>
</body>"""


def reaching_out(tmp_path, name: str, script: str, port: int) -> Path:
    from kit.course import catalogue

    tree = solved_through(catalogue.get("frontend"), tmp_path / name)
    page = (tree / ROOM_HTML).read_text(encoding="utf-8")
    assert page.count("</body>") == 1
    (tree / ROOM_HTML).write_text(page.replace("</body>", script.replace("PORT", str(port))), encoding="utf-8")
    return tree


def test_the_page_reaches_its_server_alone_and_still_chats(tmp_path, browser_present):
    """The finished page plus scripts that reach for another 127.0.0.1 service: every frontend check still
    passes (its own socket to its own server works), and the other service hears nothing."""
    listener = Listener()
    try:
        tree = reaching_out(tmp_path, "fetcher", FETCHING_OUT, listener.port)
        outcomes = checkpoint_outcomes(tree, "frontend", env=LIMITS)
        tree = reaching_out(tmp_path, "dialler", DIALLING_OUT, listener.port)
        dialled = checkpoint_outcomes(tree, "frontend", select="test_socket_follows_the_page_address", env=LIMITS)
        time.sleep(1)   # anything still on its way
    finally:
        listener.close()
    assert listener.heard == [], listener.heard
    assert len(outcomes) == 7 and all(o["outcome"] == "passed" for o in outcomes.values()), outcomes
    # The stray socket is still seen (Chromium reports the dial it refused): the check about where the
    # page's sockets go names it.
    (stray,) = dialled.values()
    assert stray["outcome"] == "failed" and f"127.0.0.1:{listener.port}/ws/chat/lobby/" in stray["message"], stray


# A view that renders the page from memory, then swaps room.html on disk for a link or a named pipe,
# while the page's script throws at a known line (the checker then says where, reading room.html).
SWAPPING_VIEW = '''

import os as _os
from pathlib import Path as _Path

from django.http import HttpResponse as _HttpResponse
from django.template import engines as _engines

_ROOM = _Path(__file__).resolve().parent / "templates" / "myapp" / "room.html"
_TEXT = _ROOM.read_text(encoding="utf-8")


def room(request, room_name):
    if _ROOM.is_file() and not _ROOM.is_symlink():
        _ROOM.unlink()
        if KIND == "link":
            _os.symlink(TARGET, _ROOM)
        else:
            _os.mkfifo(_ROOM)
    page = _engines["django"].from_string(_TEXT).render({"room_name": room_name}, request)
    return _HttpResponse(page)
'''


@pytest.mark.parametrize("kind", ["link", "fifo"])
def test_a_view_swapping_the_template_learns_nothing_and_hangs_nothing(tmp_path, browser_present, kind):
    from kit.course import catalogue

    tree = solved_through(catalogue.get("frontend"), tmp_path / "swapper")
    page = (tree / ROOM_HTML).read_text(encoding="utf-8")
    assert page.count("        messageInput.focus();") == 1
    page = page.replace("        messageInput.focus();", "        input.focus();")
    (tree / ROOM_HTML).write_text(page, encoding="utf-8")
    line = 1 + page.splitlines().index("        input.focus();")
    outside = tmp_path / "outside.html"      # what a link would let the checker read: the same page
    outside.write_text(page, encoding="utf-8")
    views = tree / "myapp" / "views.py"
    views.write_text(views.read_text(encoding="utf-8")
                     + SWAPPING_VIEW.replace("KIND", repr(kind)).replace("TARGET", repr(str(outside))),
                     encoding="utf-8")
    begun = time.monotonic()
    outcomes = checkpoint_outcomes(tree, "frontend", select="test_send_button_sends_json", env=LIMITS)
    assert time.monotonic() - begun < 200
    (result,) = outcomes.values()
    assert result["outcome"] == "failed", result
    message = result["message"]
    # Served line for line, the place would be "room.html line N" read through the link; it is the page's.
    assert message.startswith(f"Your page's script stopped at line {line} of the page as served: "
                              "ReferenceError: input is not defined."), message


# -- C: as root, Chromium renders as the learner user, in its own sandbox ---------------------------
def descendants() -> list[tuple[int, int, list[str]]]:
    """(pid, real uid, argv) of every process below this one."""
    parents, found = {}, []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        parents[int(entry.name)] = (int(fields["PPid"]), int(fields["Uid"].split()[0]),
                                    b" ".join(argv).decode(errors="replace").split())   # a title Chromium set
    for pid, (_, uid, argv) in parents.items():
        up = pid
        while up in parents and up != os.getpid():
            up = parents[up][0]
        if up == os.getpid() and pid != os.getpid():
            found.append((pid, uid, argv))
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root grader drops the browser to the learner user")
def test_as_root_the_browser_runs_as_the_learner_user_in_its_own_sandbox(browser_present):
    from kit.services import browser
    from kit.isolation import learner

    who = learner.account()
    with browser.chromium() as chromium:
        page = chromium.new_page()
        page.set_content("<p>hello</p>")
        chrome = [(pid, uid, argv) for pid, uid, argv in descendants()
                  if argv and Path(argv[0]).name in ("chromium", "chrome", "headless_shell")]
        assert any("--type=renderer" in argv for _, _, argv in chrome), chrome
        assert all(uid == who.uid for _, uid, _ in chrome), [(pid, uid, argv[:2]) for pid, uid, argv in chrome]
        assert not any("--no-sandbox" in argv for _, _, argv in chrome), chrome
        renderer = next(pid for pid, _, argv in chrome if "--type=renderer" in argv)
        # Chromium's own sandbox: its renderers run under seccomp, in namespaces of their own.
        status = (Path("/proc") / str(renderer) / "status").read_text()
        assert "Seccomp:\t2" in status, status
        assert os.readlink(f"/proc/{renderer}/ns/net") != os.readlink("/proc/self/ns/net")
