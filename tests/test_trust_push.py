"""The `push` stage's staff and ordinary users are the kit's own, written and read back by the checker.

The attack (the sixth review's t_push): the announce view lets any logged-in
user announce (`is_authenticated`, no `is_staff`), and settings.py registers an
atexit hook that, in the fresh Python of the tree that made the two users and
printed their session keys on a `KIT-ANSWER` line, prints one more such line
last: the staff user's real key, and for the ordinary user a key that names
nobody. The check then posted as an anonymous visitor where it meant a
logged-in one, saw a refusal, and the stage scored 10/10.

The defence (exercises/test_push.py `sessions`, exercises/support/users.py
log_in_users, kit/grading/sessions.py): the users are logged in as in every other
stage. The checker chooses their names (random and alike) and session keys,
the kit's own writer (no code of the tree) writes the rows with is_staff as
the checker says, and the checker reads them back, staff flag included. No
output of learner code names a cookie. After the refusals the checker reads
again that the ordinary user is still logged in, active and not staff: a tree
that drops that user's session instead of checking is_staff is refused too.
"""
from __future__ import annotations

import json
import textwrap

from conftest import SOLUTIONS, copy_tree, grade_json, stage
from leaks import leftovers
from test_forgery import LIMITS

ANY_USER = "request.user.is_authenticated and request.user.is_staff"

CLAIMED_COOKIES = textwrap.dedent('''

    # --- forging the push stage's "staff only" check: the sessions fixture trusts this process's stdout
    import atexit as _atexit, sys as _sys, json as _json


    def _claim():
        main = _sys.modules.get("__main__")
        got = getattr(main, "sessions", None)
        if isinstance(got, dict) and "kit_member" in got and "kit_staff" in got:
            # the ordinary user's cookie is reported as one that names nobody: the view then sees an anonymous visitor
            print("KIT-ANSWER " + _json.dumps({"kit_staff": got["kit_staff"], "kit_member": "x" * 32}), flush=True)


    _atexit.register(_claim)
''')



def on_announce(action: str, tail: str = "") -> str:
    """settings.py code that, when a user who is not staff POSTs to announce, runs action (lines using
    `session` and `user`) before the view does, whatever the kit calls its users."""
    return textwrap.dedent('''

        from django.core.signals import request_started as _started


        def _on_member(scope=None, **kwargs):
            from http.cookies import SimpleCookie

            from django.contrib.auth.models import User
            from django.contrib.sessions.models import Session

            if not scope or not scope.get("path", "").endswith("/announce/"):
                return
            cookie = SimpleCookie(dict(scope["headers"]).get(b"cookie", b"").decode())
            if "sessionid" not in cookie:
                return
            for session in Session.objects.filter(session_key=cookie["sessionid"].value):
                for user in User.objects.filter(id=session.get_decoded().get("_auth_user_id"), is_staff=False):
    ''') + textwrap.indent(textwrap.dedent(action), " " * 12) + "\n\n_started.connect(_on_member, weak=False)\n" + \
        textwrap.dedent(tail)


# The member's session is gone when the view runs: the view that lets any logged-in user in sees an anonymous
# visitor (and refuses them).
DROPS_MEMBERS = on_announce("session.delete()")

# The seventh review: SQL of the tree's own runs inside the kit's writes. When the kit's writer made the
# ordinary user non-staff, a trigger changed their password (so Django took their POST for an anonymous one and
# refused it), and another kept the session row Django then deleted: the rows read back looked logged in.
TRIGGERS = textwrap.dedent('''
    from django.db import migrations

    SQL = ["""CREATE TRIGGER adv_member AFTER UPDATE OF is_staff ON auth_user
              WHEN NEW.is_staff = 0 AND NEW.username != 'kit-learner'
              BEGIN UPDATE auth_user SET password = NEW.password || '-' WHERE id = NEW.id; END""",
           """CREATE TRIGGER adv_keep BEFORE DELETE ON django_session BEGIN SELECT RAISE(IGNORE); END"""]


    class Migration(migrations.Migration):
        dependencies = [("myapp", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length"),
                        ("sessions", "0001_initial")]
        operations = [migrations.RunSQL(sql) for sql in SQL]
''')

# The same without SQL: when a user who is not staff POSTs to announce, their password changes before the view
# runs, so Django takes the POST for an anonymous one and refuses it; the session row Django then deletes is
# put back as it was. Every row reads as before; only the session's hash says the user is logged out.
LOGS_MEMBERS_OUT = on_announce('''
    user.password = user.password + "-"
    user.save(update_fields=["password"])
    _kept.append((session.session_key, session.session_data, session.expire_date))
''', tail='''

    def _put_back(**kwargs):   # Django deleted the session it no longer honours: the same row goes back
        from django.contrib.sessions.models import Session

        while _kept:
            key, data, expires = _kept.pop()
            Session.objects.update_or_create(session_key=key, defaults={"session_data": data, "expire_date": expires})


    _kept = []
    from django.core.signals import request_finished as _finished
    _finished.connect(_put_back, weak=False)
''')


def push_tree(tmp_path, name: str, settings_tail: str = ""):
    """solutions/ whose announce view lets any logged-in user in, with settings.py's tail appended."""
    tree = copy_tree(SOLUTIONS, tmp_path / name)
    views = tree / "myapp" / "views.py"
    text = views.read_text()
    assert ANY_USER in text
    views.write_text(text.replace(ANY_USER, "request.user.is_authenticated"))
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text() + settings_tail)
    return tree


def graded(tmp_path, tree) -> tuple[dict, str]:
    report = grade_json(tree, "push", env=dict(LIMITS, TMPDIR=str(tmp_path), KIT_BUSY_RETRY="0"))
    return report, json.dumps(report)[:3000]


def failed_checks(report: dict) -> list[str]:
    return [failure["test"] for failure in stage(report, "push")["failures"]]


def test_claimed_cookies_score_zero_at_push(tmp_path):
    tree = push_tree(tmp_path, "claimed", CLAIMED_COOKIES)
    report, text = graded(tmp_path, tree)
    assert report["score"] == 0, f"the claimed cookies forged {report['score']} points: {text}"
    # Everything else of the stage holds: only the view's missing staff check fails it.
    assert failed_checks(report) == ["test_announce_view_refuses_anyone_but_staff"], text
    assert leftovers(tree) == [], "the attack left processes running"


def test_the_view_mistake_alone_scores_zero(tmp_path):
    report, text = graded(tmp_path, push_tree(tmp_path, "mistake"))
    assert report["score"] == 0, text
    assert failed_checks(report) == ["test_announce_view_refuses_anyone_but_staff"], text


def test_dropping_the_ordinary_users_session_scores_zero(tmp_path):
    """The POST is refused (its session is gone when the view runs), and the checker reads that it is gone."""
    report, text = graded(tmp_path, push_tree(tmp_path, "drops", DROPS_MEMBERS))
    assert report["score"] == 0, text
    failures = stage(report, "push")["failures"]
    assert [f["test"] for f in failures] == ["test_announce_view_refuses_anyone_but_staff"], text
    assert "no longer logged in" in failures[0]["message"], text


def test_solutions_pass_push(tmp_path):
    report, text = graded(tmp_path, copy_tree(SOLUTIONS, tmp_path / "solutions"))
    assert report["score"] == report["max_score"] == 10, text


def test_triggers_in_the_database_score_zero(tmp_path):
    tree = push_tree(tmp_path, "triggers")
    (tree / "myapp" / "migrations" / "0002_triggers.py").write_text(TRIGGERS)
    report, text = graded(tmp_path, tree)
    assert report["score"] == 0, f"the triggers forged {report['score']} points: {text}"
    assert "holds SQL of its own (trigger adv_keep, trigger adv_member)" in \
        stage(report, "push")["failures"][0]["message"], text


def test_a_session_django_no_longer_honours_is_not_a_log_in(tmp_path):
    """The rows stay; the session's hash no longer matches the password: the checker computes it as Django does."""
    report, text = graded(tmp_path, push_tree(tmp_path, "logs-out", LOGS_MEMBERS_OUT))
    assert report["score"] == 0, f"changed passwords forged {report['score']} points: {text}"
    failures = stage(report, "push")["failures"]
    assert [f["test"] for f in failures] == ["test_announce_view_refuses_anyone_but_staff"], text
    assert "no longer logged in" in failures[0]["message"], text
