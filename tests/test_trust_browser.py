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

from conftest import checkpoint_outcomes, solved_through

ROOM_HTML = "myapp/templates/myapp/room.html"


# -- A: the template is read without following a link and without blocking ----------------------
def errors_for(tree: Path):
    from kit.browser import PageErrors

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
    from kit.browser import PageErrors

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

    def feed() -> None:
        try:
            fd = os.open(tree / ROOM_HTML, os.O_WRONLY)
        except OSError:
            return
        try:
            while fed["bytes"] < 300 * 2**20:
                fed["bytes"] += os.write(fd, b"x" * 65536)
        except OSError:   # the reader went away
            pass
        finally:
            os.close(fd)

    keep = os.open(tree / ROOM_HTML, os.O_RDONLY | os.O_NONBLOCK)   # lets the writer open at once
    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        assert errors.template_line(url, 2) is None
    finally:
        os.close(keep)
        writer.join(5)
    assert not writer.is_alive()
