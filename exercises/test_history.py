"""Checkpoint `history`: messages that stay.

Every relayed message is saved as a myapp.models.Message (room, author, text,
created), and a socket that joins is first sent its room's last 50 messages,
oldest first, one frame each, {"message", "author", "history": true}, to that
socket alone and before any live message. Live frames stay {"message", "author"}, with no
"history" key or "history": false.

The host migrates the graded tree's own database (as any deployment does);
the checks chat through the learner's asgi.py as logged-in users (see
test_users.py) with real WebSocket clients, read what a joining socket is sent
up to a live message of its own (what came before it is the history), and
read the saved rows themselves from a copy of the tree's SQLite database.
Sixty messages for the limit are written straight through the learner's model,
an hour old and a second apart (a socket would meet the rate limit). For the
event loop, the host makes each query of the Message table sleep, in whatever
thread runs it, and meanwhile another socket's WebSocket pings time the
server's loop (its pongs come from that loop): a query run on the loop stops
every other socket of the server for that long; one run in a worker thread
does not.

That slowdown is an intervention of the host, and the host is the learner's
own interpreter: settings.py can replace its op_slow_queries with a no-op, and
then a query on the loop is quick and freezes nothing the pings could see (such
a tree, every Message query on the event loop, scored history 10/10: issue 16).
So the checks observe, on their own clock, that the slowdown happened: a query
that sleeps SLOW before it runs cannot send its rows sooner than SLOW after the
joining socket began to connect. History that comes sooner was not slowed, the
loop was never put to the test, and the check fails in a sentence instead of
passing (slowdown_shown). What this cannot tell apart: a tree that skips the
slowdown and waits SLOW of its own with `await asyncio.sleep` before a query on
the loop; it has to be written against this check to do so.
"""
import asyncio
import json
import re
import secrets
import time

from kit.course.i18n import T
from support import WAIT, Socket, close_all, fail, host, login, project_app, read_database, run

HISTORY_LENGTH = 50
RUN = secrets.token_hex(3)       # rooms of this run only: a room with a history starts clean
SLOW = 1.5                       # seconds each slowed query sleeps
FROZEN = 0.8 * SLOW              # a heartbeat gap this long means a slowed query ran on the loop
CLOCK_SLACK = 0.05               # seconds: a slowed query's rows come at least SLOW after the ask, less only by this
FIELDS = ("room", "author", "text", "created")
_ready: list = []


def room(name: str) -> str:
    return f"history_{name}_{RUN}"


def ready() -> None:
    """The Message model, a migration for all of it, and its table after `migrate`: else one plain failure."""
    if not _ready:
        _ready.append(host().call("migrations", doing=T("Reading your models and migrations"), limit=WAIT * 12))
    answer = _ready[0]
    if not answer["model"]:
        fail(T("myapp/models.py has no Message model: write it (room, author, text, created), then run "
               "`python manage.py makemigrations myapp` to write its migration."))
    missing = [name for name in FIELDS if name not in answer["fields"]]
    if missing:
        fail(T("The Message model has no field {fields}: it needs room, author, text and created. Add them, then "
               "run `python manage.py makemigrations myapp`.", fields=", ".join(missing)))
    if not answer["files"]:
        fail(T("myapp/migrations/ holds no migration for the Message model: run `python manage.py makemigrations "
               "myapp` and keep the file it writes (myapp/migrations/0001_initial.py) with your code."))
    if answer["unmigrated"]:
        fail(T("myapp/models.py has changes that no migration in myapp/migrations/ records: run `python manage.py "
               "makemigrations myapp` again."))
    if answer.get("migrate"):
        fail(T("`python manage.py migrate` failed on your project: {error}", error=answer["migrate"]))
    if not answer.get("table") or not columns():
        fail(T("After `python manage.py migrate` the database has no table for Message: run `python manage.py "
               "makemigrations myapp`, then migrate."))


def table() -> str:
    """The Message table's name (asked of the host, a plain identifier or Django's default)."""
    name = _ready[0].get("db_table") if _ready else None
    return name if isinstance(name, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", name) else "myapp_message"


def columns() -> set[str]:
    """The Message table's columns, read from the database by the checks themselves."""
    return {row[1] for row in read_database(f'PRAGMA table_info("{table()}")')}


def saved_texts(where: str) -> list:
    """The texts the database holds for room `where`, oldest first, read by the checks themselves."""
    if not {"room", "text"} <= columns():
        return []
    return [row[0] for row in read_database(f'SELECT text FROM "{table()}" WHERE room = ? ORDER BY rowid', (where,))]


def people(*names: str) -> None:
    for name in names:
        login(name)


def joiner(app, where: str, user: str | None) -> Socket:
    return Socket(app, where, user=user, history=True)  # sees every frame, replayed ones included


async def until_live(sock: Socket, text: str, seen: list | None = None) -> tuple[list[dict], dict]:
    """(the frames before the live message `text`, that live frame). `text` is unique to this run.
    seen, when given, gets the checker's clock at each frame's arrival."""
    before = []
    for _ in range(3 * HISTORY_LENGTH):
        frame = await sock.receive(T("the live message {text}", text=repr(text)))
        if seen is not None:
            seen.append(time.monotonic())
        if frame.get("message") == text:
            return before, frame
        before.append(frame)
    fail(T("A socket in room '{room}' was sent over {count} frames before the live message {text}.",
           room=sock.room, count=3 * HISTORY_LENGTH, text=repr(text)))


async def say(sock: Socket, text: str, seen: list | None = None) -> list[dict]:
    """sock posts text; what it was sent before its own message came back."""
    await sock.send(text)
    before, _ = await until_live(sock, text, seen)
    return before


def texts(frames: list[dict]) -> list:
    return [frame.get("message") for frame in frames]


def shown(values: list, limit: int = 6) -> str:
    return repr(values) if len(values) <= limit else repr(values[:3])[:-1] + ", ..., " + repr(values[-2:])[1:]


def add_messages(where: str, author: str, lines: list[str]) -> None:
    """Rows written by the host through the learner's model, then read back here: the host's word that it
    wrote them is a claim (settings.py can replace the op and keep the texts in memory for a history that
    never touches the database), the rows in the database are not."""
    host().call("add_messages", room=where, author=author, texts=lines, limit=WAIT * 12,
                doing=T("Saving messages with your Message model"))
    wanted = set(lines)
    kept = [text for text in saved_texts(where) if text in wanted]
    if kept != lines:
        fail(T("The kit saved {count} messages in room '{room}' with your Message model, and the database holds "
               "{kept} of them, so the history checks cannot judge what a joiner is sent. Keep Message a plain "
               "model whose rows are saved in the project's database.", count=len(lines), room=where,
               kept=shown(kept)))


def history_problem(got: list, wanted: list, where: str) -> str | None:
    """What is wrong with the texts a joiner was sent, in the learner's terms, or None."""
    if got == wanted:
        return None
    if not got:
        return T("A socket that joined room '{room}' was sent no history: the room holds {wanted}. Save each "
                 "message you relay (Message.objects.create(...) through database_sync_to_async), and in "
                 "connect(), after accept(), send the room's last messages to the socket.",
                 room=where, wanted=shown(wanted))
    if got == list(reversed(wanted)):
        return T("A socket that joined room '{room}' was sent its history newest first ({got}): send it oldest "
                 "first. Take the newest with order_by('-created')[:50], then reverse that list.",
                 room=where, got=shown(got))
    return T("A socket that joined room '{room}' was sent the history {got}; the room holds {wanted}.",
             room=where, got=shown(got), wanted=shown(wanted))


def slowdown_shown(begun: float, seen: list, where: str) -> None:
    """Fail unless a joiner's first frame (its history, already checked) came SLOW or more after `begun`, the
    checker's clock before the socket connected: the host's slowdown is a claim until its delay is seen here."""
    waited = seen[0] - begun if seen else 0.0
    if waited < SLOW - CLOCK_SLACK:
        fail(T("A socket that joined room '{room}' was sent its history {waited:.2f} s after it began to connect, "
               "though the kit made each query of the Message table take {slow:.1f} s: the slowdown never reached "
               "the query that loads it, so this check cannot see whether that query stops the event loop, and it "
               "does not pass. Load the history in connect() with a query of the Message model "
               "(Message.objects.filter(room=...)) on the project's database, not from a copy kept in memory.",
               room=where, waited=waited, slow=SLOW))


# -- the model ----------------------------------------------------------------------------------
def test_the_message_model_has_its_migration():
    ready()


# -- what a socket that joins is sent -------------------------------------------------------------
def test_a_message_sent_is_history_for_a_later_joiner():
    ready()
    people("alice_hist", "bob_hist")
    app = project_app()
    where = room("saved")
    first, second = f"hello {RUN}", f"remember me {RUN}"

    async def scenario():
        alice = joiner(app, where, "alice_hist")
        await alice.connect()
        await say(alice, first)
        await say(alice, second)
        await alice.close()
        kept = saved_texts(where)
        if first not in kept or second not in kept:
            fail(T("Room '{room}' was sent {said}, and the database holds {kept} for it: save each message you "
                   "relay, Message.objects.create(room=..., author=..., text=...), through database_sync_to_async.",
                   room=where, said=shown([first, second]), kept=shown(kept)))
        bob = joiner(app, where, "bob_hist")
        await bob.connect()
        got = await say(bob, f"bob is here {RUN}")
        problem = history_problem(texts(got), [first, second], where)
        if problem:
            fail(problem)
        for frame in got:
            if frame.get("author") != "alice_hist":
                fail(T("A replayed message of alice_hist came with author {got}: each history frame carries its "
                       "saved author's name, message.author.get_username().", got=repr(frame.get("author"))))
        reader = joiner(app, where, None)
        accepted, _ = await reader.try_connect()
        if accepted:  # an anonymous reader may read the room, its history included
            last = f"for the reader {RUN}"
            await bob.send(last)
            got, _ = await until_live(reader, last)
            wanted = [first, second, f"bob is here {RUN}"]
            if texts(got) != wanted:
                fail(T("An anonymous socket (it may read the room) that joined room '{room}' was sent the history "
                       "{got}, not {wanted}: send the history to every socket you accept.",
                       room=where, got=shown(texts(got)), wanted=shown(wanted)))
        await close_all(reader, bob)

    run(scenario)


def test_history_comes_oldest_first():
    ready()
    people("alice_hist", "carol_hist")
    app = project_app()
    where = room("order")
    said = [f"one {RUN}", f"two {RUN}", f"three {RUN}"]

    async def scenario():
        alice = joiner(app, where, "alice_hist")
        await alice.connect()
        for text in said:
            await say(alice, text)
        carol = joiner(app, where, "carol_hist")
        await carol.connect()
        problem = history_problem(texts(await say(carol, f"carol is here {RUN}")), said, where)
        if problem:
            fail(problem)
        await close_all(alice, carol)

    run(scenario)


def test_history_stays_in_its_room():
    ready()
    people("alice_hist", "dave_hist")
    app = project_app()
    here, there = room("here"), room("there")

    async def scenario():
        alice = joiner(app, here, "alice_hist")
        await alice.connect()
        await say(alice, f"only for {here}")
        dave = joiner(app, there, "dave_hist")
        await dave.connect()
        got = texts(await say(dave, f"dave is here {RUN}"))
        if got:
            fail(T("A socket that joined the empty room '{room}' was sent {got} from another room: load only the "
                   "joined room's messages, Message.objects.filter(room=...).", room=there, got=shown(got)))
        await close_all(alice, dave)

    run(scenario)


def test_a_joiner_gets_exactly_the_last_50():
    ready()
    people("erin_hist", "frank_hist")
    app = project_app()
    where = room("long")
    notes = [f"note {number}" for number in range(1, 61)]
    add_messages(where, "erin_hist", notes)

    async def scenario():
        frank = joiner(app, where, "frank_hist")
        await frank.connect()
        got = texts(await say(frank, f"frank is here {RUN}"))
        if got == notes[-HISTORY_LENGTH:]:
            pass
        elif len(got) > HISTORY_LENGTH:
            fail(T("Room '{room}' holds 60 messages and a socket that joined was sent {count} of them: send only "
                   "the last {limit}, a slice [:{limit}] of the newest first (SQL LIMIT).",
                   room=where, count=len(got), limit=HISTORY_LENGTH))
        elif got == notes[:HISTORY_LENGTH]:
            fail(T("Room '{room}' holds note 1 to note 60 and a socket that joined was sent note 1 to note 50, the "
                   "oldest fifty: take the newest, order_by('-created')[:{limit}], then reverse them.",
                   room=where, limit=HISTORY_LENGTH))
        else:
            problem = history_problem(got, notes[-HISTORY_LENGTH:], where)
            if problem:
                fail(problem)
        await frank.close()

    run(scenario)


def test_each_history_message_keeps_its_author():
    ready()
    people("alice_hist", "bob_hist", "grace_hist")
    app = project_app()
    where = room("authors")
    said = [("alice_hist", f"from alice {RUN}"), ("bob_hist", f"from bob {RUN}")]

    async def scenario():
        for name, text in said:
            sock = joiner(app, where, name)
            await sock.connect()
            await say(sock, text)
            await sock.close()
        grace = joiner(app, where, "grace_hist")
        await grace.connect()
        got = await say(grace, f"grace is here {RUN}")
        problem = history_problem(texts(got), [text for _, text in said], where)
        if problem:
            fail(problem)
        for (name, text), frame in zip(said, got):
            author = frame.get("author")
            if author == name:
                continue
            if author == "grace_hist":
                fail(T("The history sent to grace_hist named grace_hist as the author of {text}, said by {name}: the "
                       "author of a saved message is message.author, not the socket that joins.",
                       text=repr(text), name=name))
            fail(T("A replayed message said by {name} came with author {got}: send "
                   "message.author.get_username() (select_related('author') loads it in the same query).",
                   name=name, got=repr(author)))
        await grace.close()

    run(scenario)


def test_history_comes_before_live_messages_and_is_marked():
    ready()
    people("alice_hist", "bob_hist")
    app = project_app()
    where = room("live")
    earlier = [f"earlier {number}" for number in range(1, 4)]
    add_messages(where, "alice_hist", earlier)
    live = f"live now {RUN}"

    async def scenario():
        alice = joiner(app, where, "alice_hist")
        await alice.connect()
        await say(alice, f"alice is here {RUN}")
        # The history query of the next socket takes a while: a live message sent meanwhile must still
        # reach it only after its history.
        host().call("slow_queries", seconds=SLOW, kinds=["SELECT"], doing=T("Slowing the Message queries"))
        seen: list[float] = []
        try:
            bob = joiner(app, where, "bob_hist")
            begun = time.monotonic()
            await bob.connect()
            await alice.send(live)
            got, frame = await until_live(bob, live, seen)
        finally:
            host().call("slow_queries", seconds=0, doing=T("Ending the slow queries"))
        wanted = earlier + [f"alice is here {RUN}"]
        if texts(got) != wanted:
            fail(T("A socket joined room '{room}' while a live message was on its way; before that live message it "
                   "was sent {got}, not the history {wanted}. Send the history inside connect(), after accept(): "
                   "the room's live messages wait until connect() returns.",
                   room=where, got=shown(texts(got)), wanted=shown(wanted)))
        slowdown_shown(begun, seen, where)  # else the live message never raced a slow history
        unmarked = [f for f in got if f.get("history") is not True]
        if unmarked:
            fail(T("A replayed message reached a joining socket as {frame}: mark each history frame with "
                   "\"history\": true, so a page can tell it from a live one.",
                   frame=repr({k: unmarked[0][k] for k in list(unmarked[0])[:3]})))
        if frame.get("history"):  # no key, false or null: a page tells a live frame by any of them
            fail(T("A live message arrived marked \"history\": {mark}: only replayed messages carry a mark; a live "
                   "frame has no \"history\" key, or \"history\": false.", mark=json.dumps(frame["history"])[:40]))
        before, _ = await until_live(alice, live)
        if before:
            fail(T("When another socket joined room '{room}', a socket already there was sent {got}: send the "
                   "history to the socket that joins alone, with self.send(...), never to the room's group.",
                   room=where, got=shown(texts(before))))
        await close_all(alice, bob)

    run(scenario)


async def stalled(watcher: Socket, doing) -> tuple[float, object]:
    """Await doing while watcher pings the server: (the longest a ping waited for its pong, in seconds, and
    what doing returned)."""
    task = asyncio.ensure_future(doing)
    longest = 0.0
    while not task.done():
        longest = max(longest, await watcher.ping())
        await asyncio.sleep(0.05)
    return longest, task.result()


def test_a_slow_query_does_not_freeze_other_sockets():
    ready()
    people("alice_hist", "bob_hist")
    app = project_app()
    where = room("slow")
    history = [f"slow {number}" for number in range(1, 4)]
    add_messages(where, "alice_hist", history)

    async def scenario():
        watcher = joiner(app, room("watch"), "alice_hist")   # another socket of the same server
        await watcher.connect()
        host().call("slow_queries", seconds=SLOW, kinds=["SELECT", "INSERT"], doing=T("Slowing the Message queries"))
        seen: list[float] = []
        try:
            bob = joiner(app, where, "bob_hist")
            begun = time.monotonic()
            stall, _ = await stalled(watcher, bob.connect())    # loads the history: one slowed SELECT
            more, got = await stalled(watcher, say(bob, f"bob is here {RUN}", seen))  # saves: one slowed INSERT
            stall = max(stall, more)
        finally:
            host().call("slow_queries", seconds=0, doing=T("Ending the slow queries"))
        if stall >= FROZEN:
            fail(T("While a socket joined room '{room}' and posted, with each query of the Message table taking "
                   "{slow:.1f} s, the event loop stood still for {stall:.1f} s: every other socket of the server "
                   "froze with it. Run each query in a worker thread: decorate the method that queries with "
                   "@database_sync_to_async and await it.", room=where, slow=SLOW, stall=stall))
        # The loop stood still for less than FROZEN: that says something only if the query really was slow.
        problem = history_problem(texts(got), history, where)
        if problem:
            fail(problem)
        slowdown_shown(begun, seen, where)
        await close_all(bob, watcher)

    run(scenario, limit=8 * WAIT)
