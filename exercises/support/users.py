"""Who is chatting (users logged in by the kit's own writer) and the tree's database, read by the checks."""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import tempfile

from kit.isolation import sandbox
from kit.course.i18n import T
from kit.grading.sessions import connect as connect_database, untrusted_schema

from .base import fail, LearnerCodeError, PROJECT, run_in_tree, UntrustedDatabase, WAIT
from .host import host
from .app import setting_values

# From the `users` stage on, the chat relays only what a logged-in person says, so
# every check chats as someone logged in unless it asks to be anonymous (user=None).
LEARNER = "kit-learner"


def login(username: str = LEARNER, *, password: str = "", required: bool = True) -> dict | None:
    """A session logged in as username in the graded tree's own database: the cookie's {"name", "value"}.

    Not required: a tree that cannot log anyone in yet (its settings or database
    are earlier stages' work) chats anonymously, and None says so."""
    sessions = host().__dict__.setdefault("sessions", {})
    if username not in sessions or password:
        try:
            sessions.update(log_in_users({username: password}))
        except LearnerCodeError as exc:
            if required or isinstance(exc, UntrustedDatabase):
                raise
            sessions[username] = None
    return sessions[username]


def log_in_users(users: dict[str, str], staff=()) -> dict[str, dict]:
    """Each user ({name: password}, made in this order; staff users exactly those named in staff) logged in
    by the kit itself (kit/grading/sessions.py): the host migrates the database (an intervention), the kit's own
    writer in the tree's sandbox writes the user and session rows, and this process reads them back. No
    learner process is told the names or cookies."""
    from kit.grading import sessions

    on = host()
    if "session_facts" not in on.__dict__:
        on.call("migrate", doing=T("Migrating your project's database"), limit=WAIT * 12)
        on.session_facts = setting_values(*sessions.FACTS)
    facts = on.session_facts
    if why := sessions.problem(facts):
        fail(why)
    refuse_untrusted_database()   # in its own words, before the writer meets the same SQL
    keys = {name: (password, sessions.new_key()) for name, password in users.items()}
    order = json.dumps(sessions.order_for(facts, keys, staff))
    code, out, err = run_in_tree(["-P", "-m", "kit.grading.sessions", "--write", order], timeout=WAIT * 12,
                                 env={"PYTHONPATH": str(sandbox.KIT_PACKAGE.parent)})  # the kit's, not the tree
    try:
        outcome = json.loads((out.strip().splitlines() or ["{}"])[-1]) if code == 0 else {}
    except ValueError:
        outcome = {}
    if not isinstance(outcome, dict) or not outcome.get("ok"):
        fail(T("The kit could not log a user in on your project: {error}.",
               error=outcome.get("error") or (err.strip().splitlines() or ["no answer"])[-1]))
    for name, (_, key) in keys.items():
        found = session_of(key, name)
        if found is None:
            fail(T("The kit could not log a user in on your project: its session is not in the database."))
        if found["is_staff"] != (name in staff):   # read here, so a check of staff rests on the row, not a claim
            fail(T("The kit could not log a user in on your project: the database does not hold the staff "
                   "flag the kit wrote for its user."))
    return {name: {"name": facts.get("SESSION_COOKIE_NAME") or "sessionid", "value": key}
            for name, (_, key) in keys.items()}


def session_of(key: str, username: str) -> dict | None:
    """The user a session key logs in, read by the checks from the tree's database: {"is_staff", "is_active"}
    when the session names `username` and Django would honour it (its hash matches the password row now),
    else None. Rows that stay in place prove nothing: a trigger could have changed the password under them."""
    from kit.grading import sessions

    rows = read_database("SELECT s.session_data, CAST(u.id AS TEXT), u.password, u.is_staff, u.is_active "
                         "FROM django_session s, auth_user u WHERE s.session_key = ? AND u.username = ?",
                         (key, username))
    if not rows:
        return None
    data, number, password, is_staff, is_active = rows[0]
    if sessions.honoured_user(data, password, host().session_facts["SECRET_KEY"]) != number:
        return None
    return {"is_staff": bool(is_staff), "is_active": bool(is_active)}


def cookie_header(session: dict | None) -> list[list[str]]:
    return [["cookie", f"{session['name']}={session['value']}"]] if session else []


# -- the tree's database, read by the checks themselves ----------------------------------------
DATABASE = "db.sqlite3"          # where the kit's settings put it: BASE_DIR / "db.sqlite3"
DATABASE_LIMIT = 256 << 20       # bytes of each file of it the checks copy (the sandbox caps files below that)


def _copy_file(name: str, folder: str, required: bool) -> None:
    """PROJECT/name copied into folder, through a descriptor that follows no link planted in its place."""
    try:
        fd = os.open(PROJECT / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        if required:
            fail(T("The project has no database file {name} the checks can read ({error}).", name=name,
                   error=exc.strerror or str(exc)))
        return
    with os.fdopen(fd, "rb") as source:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            fail(T("The project's {name} is not a database file.", name=name))
        with open(os.path.join(folder, name), "wb") as target:
            target.write(source.read(DATABASE_LIMIT))


@contextlib.contextmanager
def _database_copy():
    """A connection to a copy of the tree's SQLite database (and its write-ahead log) in a folder of this
    process: learner code can neither point the read elsewhere nor see it. SQL of the tree's own is refused."""
    with tempfile.TemporaryDirectory(prefix="kit-db-") as folder:
        _copy_file(DATABASE, folder, True)
        _copy_file(DATABASE + "-wal", folder, False)
        connection = connect_database(os.path.join(folder, DATABASE))
        try:
            if found := untrusted_schema(connection):
                raise UntrustedDatabase(T("The project's database holds SQL of its own ({found}): the checks read that database "
                       "themselves and trust no trigger or view in it. Drop them; a chat needs neither.",
                       found=", ".join(found)))
            yield connection
        except sqlite3.Error as exc:
            fail(T("Reading the project's database failed: {error}.", error=str(exc)))
        finally:
            connection.close()


def read_database(sql: str, params: tuple = ()) -> list[tuple]:
    """Rows the checks read themselves, from a private copy of the tree's database."""
    with _database_copy() as connection:
        return connection.execute(sql, params).fetchall()


def refuse_untrusted_database() -> None:
    """Fails, in the refusal's own words, when the tree's database holds triggers or views."""
    with _database_copy():
        pass
