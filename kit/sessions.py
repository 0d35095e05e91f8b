"""A user logged in to a tree's own database: the session cookie their browser would carry.

This sets up and runs the learner's Django, so it runs only where learner code
runs: in the host (kit/host.py, which answers the checks' "login"), or as a
sandboxed process of its own for the load clients (kit/load.py):

    python -P -m kit.sessions TREE USERNAME     (prints NAME=VALUE, the cookie)
"""
from __future__ import annotations

import os
import sys


def migrate() -> None:
    """The tree's database made or brought up to date (a scratch tree starts with none)."""
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def log_in(username: str, password: str = "") -> dict:
    """The user (made when new; password set when given) and a session logged in as them in the tree's
    migrated database: {"name": the session cookie's name, "value": the session key}."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model

    user, _ = get_user_model().objects.get_or_create(username=username)
    if password:
        user.set_password(password)
        user.save()
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = user._meta.pk.value_to_string(user)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return {"name": settings.SESSION_COOKIE_NAME, "value": session.session_key}


def main(argv: list[str]) -> int:
    tree, username = argv
    sys.path.append(tree)  # after the kit's own folder, as the host does: a tree cannot stand in for the kit
    os.environ["DJANGO_SETTINGS_MODULE"] = "myproject.settings"  # as the host sets it
    import django

    django.setup()
    migrate()
    cookie = log_in(username)
    print(f"{cookie['name']}={cookie['value']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
