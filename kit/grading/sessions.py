"""Users logged in to a tree's own database: the session cookies their browsers would carry.

For grading (`write` and `log_in_rows`) no code of the tree runs: the checker
chooses the users' names and session keys, and a process of the kit's own
(`python -P -m kit.grading.sessions --write ORDER`, started in the tree's sandbox so any link
planted in the tree reaches nothing outside it) writes the rows with sqlite3
from the facts the checker gives it: the settings' SECRET_KEY, backend and
hashers (asked; a wrong one only makes the log-in fail). The checker then reads
the rows back itself (exercises/support/users.py read_database). No learner process
is told whom the checks log in, or with which cookie: an app learns the user
only from the cookie, through the session row, as AuthMiddlewareStack does.

`log_in` sets up and runs the learner's Django, so it runs only where learner
code runs: as a sandboxed process of its own for the load clients (kit/benchmark/load.py):

    python -P -m kit.grading.sessions TREE USERNAME     (prints NAME=VALUE, the cookie)
"""
from __future__ import annotations

import base64
import datetime
import json
import os
import sqlite3
import sys
import zlib

SESSION_ENGINES = ("django.contrib.sessions.backends.db", "django.contrib.sessions.backends.cached_db")
SESSION_SALT = "django.contrib.sessions.SessionStore"   # SessionBase.key_salt of both engines above
AUTH_HASH_SALT = "django.contrib.auth.models.AbstractBaseUser.get_session_auth_hash"
LIBRARY_HASHERS = "django.contrib.auth.hashers."
DATABASE = "db.sqlite3"    # the kit's settings put it at BASE_DIR / "db.sqlite3" (exercises/support/users.py DATABASE)
FACTS = ("SECRET_KEY", "SESSION_ENGINE", "SESSION_COOKIE_NAME", "SESSION_COOKIE_AGE", "AUTHENTICATION_BACKENDS",
         "AUTH_USER_MODEL", "PASSWORD_HASHERS")   # the settings the writer needs, asked of the host
# The writer's words when it refuses (it imports nothing of the kit's messages; the checker says it in full).
SCHEMA_REFUSED = "the database holds SQL of its own ({found})"
FACTS_LIMIT = 64 * 1024   # characters of them, as JSON (a command line holds far more, but a key needs far less)


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


def write(order: dict) -> dict:
    """Runs in the kit's writer process: the users of order["users"] ({name, password, key, staff}) and a session
    with each key, in the database at order["database"]. No Django app is set up: the library's signing and
    hashers only, with the facts given. {"ok": True}, or {"error": what went wrong} (sqlite's words)."""
    from django.conf import settings

    hashers = [h for h in order.get("hashers") or [] if isinstance(h, str) and h.startswith(LIBRARY_HASHERS)]
    settings.configure(SECRET_KEY=order["secret"], SECRET_KEY_FALLBACKS=[],
                       **({"PASSWORD_HASHERS": hashers} if hashers else {}))
    from django.core import signing
    from django.utils.crypto import salted_hmac

    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    expires = (now + datetime.timedelta(seconds=int(order.get("age") or 1209600))).isoformat(" ")
    connection = connect(order["database"], timeout=20)
    try:
        if found := untrusted_schema(connection):
            return {"error": SCHEMA_REFUSED.format(found=", ".join(found))}
        with connection:
            for user in order["users"]:
                found = connection.execute("SELECT id, password FROM auth_user WHERE username = ?",
                                           (user["username"],)).fetchone()
                password = hashed(user["password"])
                if found is None:
                    number = connection.execute(
                        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, "
                        "is_staff, is_active, date_joined) VALUES (?, 0, ?, '', '', '', 0, 1, ?)",
                        (password, user["username"], now.isoformat(" "))).lastrowid
                elif user["password"]:
                    number = found[0]
                    connection.execute("UPDATE auth_user SET password = ? WHERE id = ?", (password, number))
                else:
                    number, password = found
                # made or found, the kit's user is staff exactly when the order says so
                connection.execute("UPDATE auth_user SET is_staff = ? WHERE id = ?", (int(bool(user.get("staff"))),
                                                                                       number))
                data = {"_auth_user_id": str(number), "_auth_user_backend": order["backend"],
                        "_auth_user_hash": salted_hmac(AUTH_HASH_SALT, password, algorithm="sha256").hexdigest()}
                encoded = signing.dumps(data, salt=SESSION_SALT, serializer=signing.JSONSerializer, compress=True)
                connection.execute("INSERT INTO django_session (session_key, session_data, expire_date) "
                                   "VALUES (?, ?, ?)", (user["key"], encoded, expires))
    except sqlite3.Error as exc:
        return {"error": str(exc)[:300]}
    finally:
        connection.close()
    return {"ok": True}


def hashed(password: str) -> str:
    """password as the settings' first library hasher stores it; none: an unusable one (Django's "!" and
    40 random characters), without loading the hashers (a tenth of a second, on every log-in)."""
    if not password:
        import secrets
        import string

        return "!" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))
    from django.contrib.auth.hashers import make_password

    return make_password(password)


def problem(facts: dict):
    """Why the checker cannot log anyone in on a tree with these settings (a T sentence), or None."""
    from kit.course.i18n import T

    if not isinstance(facts.get("SECRET_KEY"), str) or not facts["SECRET_KEY"]:
        return T("The kit could not log a user in on your project: the settings have no SECRET_KEY.")
    if len(json.dumps(facts)) > FACTS_LIMIT:   # they travel on the writer's command line
        return T("The kit could not log a user in on your project: its SECRET_KEY and session settings are "
                 "longer than {limit} characters together.", limit=FACTS_LIMIT)
    if facts.get("SESSION_ENGINE", SESSION_ENGINES[0]) not in SESSION_ENGINES:
        return T("The kit could not log a user in on your project: SESSION_ENGINE keeps sessions outside the "
                 "database; leave it out of the settings, as Django's project template does.")
    if facts.get("AUTH_USER_MODEL", "auth.User") != "auth.User":
        return T("The kit could not log a user in on your project: the checks log users in as "
                 "django.contrib.auth's User, and AUTH_USER_MODEL names another model.")
    if not isinstance(facts.get("AUTHENTICATION_BACKENDS"), list) or not facts["AUTHENTICATION_BACKENDS"]:
        return T("The kit could not log a user in on your project: AUTHENTICATION_BACKENDS is empty.")
    return None


def order_for(facts: dict, users: dict[str, tuple[str, str]], staff=()) -> dict:
    """The writer's order: users is {name: (password, session key)}, in the order they are to be made; the
    names in staff are made staff users (is_staff), every other one not."""
    return {"database": DATABASE, "secret": facts["SECRET_KEY"], "backend": facts["AUTHENTICATION_BACKENDS"][0],
            "hashers": facts.get("PASSWORD_HASHERS") or [], "age": facts.get("SESSION_COOKIE_AGE") or 1209600,
            "users": [{"username": name, "password": password, "key": key, "staff": name in staff}
                      for name, (password, key) in users.items()]}


def new_key() -> str:
    """A session key as Django makes them (32 of a-z0-9), chosen by the checker."""
    import secrets
    import string

    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(32))


def _payload(data: str) -> dict:
    """A stored session's signed payload, read without the key ({} when it is not one)."""
    payload = data.split(":", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(payload.lstrip(".") + "=" * (-len(payload.lstrip(".")) % 4))
        value = json.loads(zlib.decompress(raw) if payload.startswith(".") else raw)
    except (ValueError, zlib.error):
        return {}
    return value if isinstance(value, dict) else {}


def session_user(data: str) -> str | None:
    """The user id a stored session names, or None."""
    return _payload(data).get("_auth_user_id")


def honoured_user(data: str, password: str, secret: str) -> str | None:
    """The user id a stored session names when Django would still honour it, else None: its auth hash must be
    the one made from the user's password row as it is now (a changed password logs every session out, as
    Django's get_user does), so rows that merely stay in place prove no log-in."""
    import hmac

    from django.utils.crypto import salted_hmac

    value = _payload(data)
    wanted = salted_hmac(AUTH_HASH_SALT, password or "", secret=secret, algorithm="sha256").hexdigest()
    if not isinstance(value.get("_auth_user_hash"), str) or not hmac.compare_digest(value["_auth_user_hash"], wanted):
        return None
    return value.get("_auth_user_id")


def connect(path: str, timeout: float = 5.0) -> sqlite3.Connection:
    """A connection to a tree's database that runs no SQL function of its schema's own (trusted_schema off)."""
    connection = sqlite3.connect(path, timeout=timeout)
    connection.execute("PRAGMA trusted_schema = OFF")
    return connection


def untrusted_schema(connection: sqlite3.Connection) -> list[str]:
    """The triggers and views of a database: SQL of the tree's that runs inside the kit's own reads and writes
    (a trigger on the kit's UPDATE, a view that answers the checker's copy differently). None is trusted."""
    return [f"{kind} {name}" for kind, name in
            connection.execute("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view') "
                               "ORDER BY name LIMIT 5")]


def main(argv: list[str]) -> int:
    if argv[:1] == ["--write"]:   # the kit's writer: an order as JSON, its outcome on stdout (no tree on sys.path)
        print(json.dumps(write(json.loads(argv[1]))))
        return 0
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
