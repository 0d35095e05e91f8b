"""The `asgi` stage's log-in is the kit's own, observed, never asked of the learner's code.

The attack: the `asgi` stage checks that a WebSocket goes through
AuthMiddlewareStack by logging a user made for the run in and reading, on the
checker's Redis, the group the kit's probe route joins: it is named for the
user the probe saw in scope["user"]. When the host (the learner's own
interpreter) made that log-in, learner code was told the user's name. This
tree's asgi.py has no AuthMiddlewareStack, so the probe sees no user; its
settings.py, run in the host, wraps the host's log-in to write each name it is
asked for into the scratch tree, and, run in daphne, wraps the probe's group
naming to use that name instead of the user it never had. Nothing reads a
cookie. Before the defence this scored 10/10 at `asgi` (with and without the
sandbox). Its fallback, for a kit that no longer tells it a name, is the newest
user in the tree's database, read straight from db.sqlite3.

The defence (exercises/support/users.py log_in_users, kit/grading/sessions.py): the checker
chooses the users and their session keys, a process of the kit's own (no code
of the tree) writes the rows, the checker reads them back, and no learner
process is told a name. Four users, made in a random order, each connect with
their own cookie in another random order, and each probe's group must name its
own cookie's user: only an app that finds the user from the cookie, through the
session, names them all.
"""
from __future__ import annotations

import json
import textwrap

import pytest

from conftest import SOLUTIONS, copy_tree, grade_json, stage
from kit.isolation import sandbox
from leaks import leftovers
from test_forgery import LIMITS, kit_fingerprint

TOLD_NAME = textwrap.dedent('''

    import os as _os
    import sys as _sys

    _NAMES = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))), "kit-names.txt")


    def _told():
        """The user the checks log in: as the host was told it, else the newest one in the database."""
        try:
            with open(_NAMES) as told:
                names = [name for name in told.read().split() if name != "kit-learner"]
            if names:
                return names[-1]
        except OSError:
            pass
        import sqlite3
        try:
            row = sqlite3.connect(_os.path.join(_os.path.dirname(_NAMES), "db.sqlite3")).execute(
                "SELECT username FROM auth_user WHERE username LIKE 'kit-%' AND username != 'kit-learner' "
                "ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.Error:
            return None
        return row[0] if row else None


    _Host = getattr(_sys.modules.get("__main__"), "Host", None)
    if _Host is not None and hasattr(_Host, "op_login") and not getattr(_Host, "kit_told", False):
        _login = _Host.op_login

        async def _op_login(self, username, password=""):
            with open(_NAMES, "a") as told:
                told.write(username + "\\n")
            return await _login(self, username, password)

        _Host.op_login, _Host.kit_told = _op_login, True

    _probe = _sys.modules.get("kit.services.daphne_app")
    if _probe is not None and not getattr(_probe, "kit_told", False):
        _group = _probe.probe_group

        def _named(token, user):
            return _group(token, (_told() or user) if user in ("anonymous", "no-user") else user)

        _probe.probe_group, _probe.kit_told = _named, True
''')


def told_name_tree(tmp_path):
    """solutions/ without AuthMiddlewareStack, and the settings that fake the user it would have found."""
    tree = copy_tree(SOLUTIONS, tmp_path / "told-name")
    asgi = tree / "myproject" / "asgi.py"
    text = asgi.read_text()
    assert "AuthMiddlewareStack(URLRouter(websocket_urlpatterns))" in text
    asgi.write_text(text.replace("AuthMiddlewareStack(URLRouter(websocket_urlpatterns))",
                                 "URLRouter(websocket_urlpatterns)"))
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text() + TOLD_NAME)
    return tree


@pytest.mark.parametrize("mode", ["sandbox", "off"], ids=["sandbox", "no-sandbox"])
def test_a_tree_that_fakes_the_log_in_scores_zero_at_asgi(tmp_path, mode):
    if mode == "sandbox" and not sandbox.detect().sandboxed:
        pytest.fail(f"No sandbox on this machine ({sandbox.detect().detail}): install bubblewrap.")
    tree = told_name_tree(tmp_path)
    before = kit_fingerprint()
    env = dict(LIMITS, TMPDIR=str(tmp_path), KIT_BUSY_RETRY="0", **({"KIT_SANDBOX": "off"} if mode == "off" else {}))
    report = grade_json(tree, "asgi", env=env)
    text = json.dumps(report)
    assert report["score"] == 0, f"the faked log-in forged {report['score']} points: {text[:3000]}"
    # Everything else of the stage holds (the router, its URLRouter, pages): only the user is missing.
    asgi = stage(report, "asgi")
    assert asgi["failures"][0]["test"] == "test_websocket_goes_through_auth", text[:3000]
    assert leftovers(tree) == [], "the faked log-in left processes running"
    assert kit_fingerprint() == before, "the faked log-in changed the kit's files"


def test_the_same_tree_with_its_middleware_passes(tmp_path):
    """The control: the fake changes nothing an honest app does, so the stage fails for the missing
    AuthMiddlewareStack alone."""
    tree = told_name_tree(tmp_path)
    asgi = tree / "myproject" / "asgi.py"
    asgi.write_text(asgi.read_text().replace("URLRouter(websocket_urlpatterns)",
                                             "AuthMiddlewareStack(URLRouter(websocket_urlpatterns))"))
    report = grade_json(tree, "asgi", env=dict(LIMITS, TMPDIR=str(tmp_path), KIT_BUSY_RETRY="0"))
    assert report["score"] == report["max_score"] > 0, json.dumps(report)[:3000]
