"""A login page that checks no password scores 0 at `users` (issue 16, the sixth review).

The attack: solutions/ with one file changed, myproject/urls.py, whose
accounts/login/ view does get_or_create(username) and login() and never reads
the password. The stage's checks logged in only with the right password (the
two people side by side), so anyone could be anyone and the review scored
users 10/10 (hardening and push, re-checked, passed too: the chat itself is
right). The defence (exercises/test_users.py
test_a_wrong_password_or_an_unknown_name_logs_no_one_in): in the browser, a
real user with a wrong password and a name nobody has each submit the login
page, and none may get a cookie that the checker, reading the database itself,
finds bound to a user; the browser must be back on the login form; and a socket
opened with the browser's cookies must not post to the room.
"""
from __future__ import annotations

import json
import textwrap

from conftest import MUST_FAIL, SOLUTIONS, copy_tree, grade_json, grade_only, require_browser, stage
from leaks import leftovers

from kit.course.hints import LADDERS

CHECK = "test_a_wrong_password_or_an_unknown_name_logs_no_one_in"

# The review's myproject/urls.py (/tmp/adv6/t_users), as it was handed in.
NO_PASSWORD_URLS = textwrap.dedent('''\
    """URLs: a 'login' page that checks no password at all (anyone may be anyone)."""
    from django import forms
    from django.contrib.auth import get_user_model, login
    from django.shortcuts import redirect, render
    from django.urls import include, path
    from django.views.generic import RedirectView


    class NameForm(forms.Form):
        username = forms.CharField()
        password = forms.CharField(widget=forms.PasswordInput, required=False)   # shown, never checked


    def no_password_login(request):
        if request.method == "POST":
            user, _ = get_user_model().objects.get_or_create(username=request.POST.get("username", ""))
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(request.POST.get("next") or "/chat/")
        return render(request, "registration/login.html", {"form": NameForm(), "next": request.GET.get("next", "")})


    urlpatterns = [
        path("", RedirectView.as_view(url="/chat/", permanent=False)),
        path("chat/", include("myapp.urls")),
        path("accounts/login/", no_password_login, name="login"),
    ]
''')


def test_a_login_page_that_checks_no_password_scores_zero_at_users(tmp_path):
    require_browser()   # the defence runs in the browser: without one it would skip, and prove nothing
    tree = copy_tree(SOLUTIONS, tmp_path / "no-password")
    (tree / "myproject" / "urls.py").write_text(NO_PASSWORD_URLS)
    # As the review graded it (`kit check users`, hardening and push re-checked); a second try on a busy
    # machine could only fail again, later. No TMPDIR of the test's: as root, Chromium runs as the learner
    # user, who cannot reach a folder under pytest's private tmp_path for its profile.
    report = grade_json(tree, "users", env=MUST_FAIL)
    text = json.dumps(report)
    assert report["score"] == 0, f"the no-password login forged {report['score']} points: {text[:3000]}"
    failures = stage(report, "users")["failures"]
    # Everything else of the stage holds (authors, anonymous sockets, the login page, the page's names):
    # only the password check catches it, and says what to fix.
    assert [f["test"] for f in failures] == [CHECK], text[:3000]
    assert "wrong password" in failures[0]["message"] and "LoginView" in failures[0]["message"], failures[0]
    assert failures[0]["hint"] == LADDERS["users"][CHECK][0], failures[0]
    assert leftovers(tree) == [], "the no-password login left processes running"


def test_solutions_pass_users_with_the_password_check(tmp_path):
    require_browser()
    report = grade_only(copy_tree(SOLUTIONS, tmp_path / "tree"), "users")
    users = stage(report, "users")
    assert users["passed"], users["failures"]
