"""What every checkpoint shares: the host that runs the learner's code, plain failures, sockets.

The checks never import the learner's tree. The in-process stages talk to a
host process (kit/host.py) that loads the tree inside the sandbox and serves
it on a listening socket this process made: the checks' own HTTP and
WebSocket clients observe it there, as a browser would. What the host says
over its other socket is a claim: it may explain a failure or answer a fact
without behaviour (docs/architecture.md lists them), never earn a pass alone.
The live stages talk to daphne. A checkpoint fails with one sentence a
learner can act on, naming the file and line of their code where it can;
never with a wall of traceback.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import time
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import quote

from kit import procs, sandbox
from kit.busy import DEFAULT_WAIT
from kit.explain import Places, exit_calls
from kit.i18n import T, join, lower_first, pack, recall, unpack
from kit.sessions import connect as connect_database, untrusted_schema

PROJECT = Path(os.environ["KIT_GRADED_PROJECT"]).resolve()
PLACES = Places(PROJECT)
PAGE_ORIGIN = "http://127.0.0.1"           # the origin a page served on 127.0.0.1 sends
WAIT = float(os.environ.get("KIT_WAIT") or DEFAULT_WAIT)  # seconds to wait for something a correct tree does at once
MARGIN = 3.0                               # the host's own bookkeeping, on top of a wait
LINE_LIMIT = 1 << 20                       # bytes of one answer from the host, or of one frame or page it serves


class LearnerCodeError(AssertionError):
    """A failure caused by the learner's code, already explained in plain words."""


def fail(message: str):
    raise LearnerCodeError(message)


class UntrustedDatabase(LearnerCodeError):
    """The tree's database holds SQL of its own: no check can read it, logged in or not."""


def server_clue(server) -> str:
    """The first error in daphne's log, said in one line with its place in the project, or nothing."""
    return PLACES.server_clue(server.log_text())


def run_in_tree(args: list[str], *, env: dict, timeout: float, binds=()) -> tuple[int, str, str]:
    """Run `python ARGS` on the learner's tree in its own isolated process: (exit code, stdout, stderr)."""
    isolation = sandbox.for_grading() or sandbox.Isolation("process", "")
    proc = sandbox.spawn([sys.executable, *args], PROJECT, env={"PYTHONPATH": str(PROJECT), **env},
                         isolation=isolation, binds=binds, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        procs.stop_tree(proc, grace=1)
        fail(T("Running your project's code did not finish within {limit:.0f} s: something at import time "
               "never returns.", limit=timeout))
    finally:
        procs.stop_tree(proc, grace=1)
    return proc.returncode, out, err


# -- the host: the learner's code in its own sandboxed process ----------------------
class Host:
    """A client for kit/host.py. Its answers are data; what they mean is decided here."""

    def __init__(self, redis=None):
        self.redis = redis  # the checker's Redis the host's channel layer runs on (layer_on_redis), or None
        ours, theirs = socket.socketpair()
        # The socket the host serves on, in a folder of this process that learner code cannot see or
        # replace: what answers there is the process given the listening end, and nothing else.
        self.folder = tempfile.mkdtemp(prefix="kit-host-")
        self.address = os.path.join(self.folder, "app.sock")
        listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listening.bind(self.address)
        listening.listen(128)
        self.log = tempfile.TemporaryFile(prefix="kit-host-")
        env = {"KIT_SOURCE_TREE": os.environ.get("KIT_SOURCE_TREE", str(PROJECT))}
        binds = []
        if redis is not None:
            env["KIT_LAYER_REDIS"], binds = redis_for_learner(redis)
        fds = (theirs.fileno(), listening.fileno())
        self.process = sandbox.spawn([sys.executable, "-P", "-m", "kit.host", *map(str, fds), str(PROJECT)],
                                     PROJECT, env=env, pass_fds=fds, binds=binds, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        theirs.close()
        listening.close()
        self.conn = ours
        self.reader = ours.makefile("rb")
        self.clues: list[str] = []
        self.numbers = iter(range(1, 1 << 30))
        self.dead = ""
        self.started = False  # the host says "ready" once its libraries are in; read at the first question

    @property
    def alive(self) -> bool:
        return not self.dead and self.process.poll() is None

    def answer(self, limit: float, doing: str) -> dict:
        self.conn.settimeout(limit + MARGIN)
        try:
            line = self.reader.readline(LINE_LIMIT + 1)
        except (TimeoutError, socket.timeout):
            line = None
        except OSError:  # the host died mid-answer (os._exit, a kill): as good as a hang-up
            line = ""
        if not line or (len(line) <= LINE_LIMIT and not line.endswith(b"\n")):  # silent, or died mid-answer
            self.dead = self.why_gone(doing, line is None, limit)
            self.stop()
            fail(self.dead)
        if len(line) > LINE_LIMIT:
            self.dead = T("The process running your project sent an answer of over {size} MiB while {doing}; the "
                          "checks read no more than that.", size=LINE_LIMIT >> 20, doing=lower_first(doing))
            self.stop()
            fail(self.dead)
        try:
            reply = unpack(json.loads(line))   # its sentences again as T (kit/i18n.py), when they came with templates
        except Exception:  # noqa: BLE001  (anything the learner's code wrote there)
            self.dead = T("The process running your project answered something that is not the kit's while {doing}.",
                          doing=lower_first(doing))
            self.stop()
            fail(self.dead)
        self.clues += reply.get("clues", [])
        if "blocked" in reply:
            self.dead = self.blocked(doing, reply)
            self.stop()
            fail(self.dead)
        return reply

    def call(self, op: str, *, doing: str, limit: float = WAIT * 2, **args) -> dict:
        """One question; a refusal is a plain failure, anything else comes back as data."""
        if not self.dead and self.process.poll() is not None:
            self.dead = self.why_gone(doing, False, limit)
        if self.dead:
            fail(self.dead)
        if not self.started:
            self.answer(WAIT * 6, T("Starting Python on your project"))
            self.started = True
        request = pack({"id": next(self.numbers), "op": op, "limit": limit, "doing": doing, **args})
        try:
            self.conn.sendall((json.dumps(request) + "\n").encode())
        except OSError:
            self.dead = self.why_gone(doing, False, limit)
            fail(self.dead)
        reply = self.answer(limit, doing)
        if "error" in reply:
            fail(reply["error"])
        return reply

    def blocked(self, doing: str, reply: dict) -> str:
        if reply.get("blocked"):
            return T("No answer within {limit:.0f} s: the code under test never returned; it was still running "
                     "{place}. Look for a loop that never ends, a blocking call (time.sleep, input, requests) "
                     "in an async method, or an await on something that never comes.",
                     limit=reply["limit"], place=reply["blocked"])
        return T("No answer within {limit:.0f} s: the code under test never returned. "
                 "Look for a loop that never ends, a blocking call (time.sleep, input, requests) "
                 "in an async method, or an await on something that never comes.", limit=reply["limit"])

    def why_gone(self, doing: str, silent: bool, limit: float) -> str:
        if silent and self.process.poll() is None:
            return T("No answer within {limit:.0f} s: the code under test never returned. Look for a loop that "
                     "never ends or a blocking call at import time.", limit=limit)
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        exits = exit_calls(PROJECT)
        if exits:
            return T("The process running your project ended itself (exit code {code}): {call}. Your code must "
                     "never call sys.exit() or os._exit(); raise an exception instead.", code=code, call=exits[0])
        if code in (-9, 137) and sandbox.memory_ran_out():
            return T("The process running your project was stopped for using too much memory (the stage's "
                     "processes may use {limit} GiB together) while {doing}: look for data that grows without end.",
                     limit=sandbox.STAGE_MEMORY_LIMIT // 2 ** 30, doing=lower_first(doing))
        return T("The process running your project ended abruptly (exit code {code}) while {doing}.",
                 code=code, doing=lower_first(doing))

    def take_clues(self) -> list[str]:
        clues, self.clues = self.clues, []
        return clues

    def why(self, number: int, doing: str) -> str:
        """The host's account of how socket `number` crashed, or "": a claim, only ever part of a failure."""
        if not self.alive:
            return self.dead or self.why_gone(doing, False, WAIT)
        try:
            return self.call("why", socket=number, doing=doing, limit=WAIT).get("why") or ""
        except LearnerCodeError as exc:
            return str(exc)

    def stop(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        procs.stop_tree(self.process, grace=1)
        shutil.rmtree(self.folder, ignore_errors=True)


_host: Host | None = None
_starting = threading.Lock()
ON_REDIS = {"test_consumer", "test_routing"}   # the stages whose host's channel layer is the checker's Redis
_on_redis = False
_redis = None          # that Redis (kit/redis.py, grading=True), started with the first host that needs it
_redis_error = ""


def host() -> Host:
    """The host for this checking process, started again if the last one died."""
    global _host
    with _starting:
        wanted = _layer_redis() if _on_redis else None
        if _host is None or not _host.alive or _host.redis is not wanted:
            if _host is not None:
                _host.stop()
            _host = Host(wanted)
        return _host


def _layer_redis():
    global _redis, _redis_error
    if _redis is None and not _redis_error:
        from kit.redis import RedisServer, RedisUnavailable

        server = RedisServer(grading=True)
        try:
            _redis = server.start()
        except RedisUnavailable as exc:
            _redis_error = str(exc)
    return _redis


def checker_redis():
    """The checker's Redis for the stage's channel layers (kit/redis.py, grading=True), or a plain failure."""
    redis = _layer_redis()
    if redis is None:
        fail(T("Not graded: no Redis for the channel layer could start on this machine. {error}",
               error=_redis_error))
    return redis


def layer_daphne(*, probe: bool = False):
    """A daphne (to start) for the graded tree serving kit/daphne_app.py: the tree's own application, its
    in-memory layer on the checker's Redis (checker_redis), and with probe the kit's route first in every
    URLRouter. Its start() raises ServerError when daphne cannot start; stop() it when done."""
    from kit.server import DaphneServer

    url, binds = redis_for_learner(checker_redis())
    path = os.pathsep.join([str(PROJECT), str(sandbox.KIT_PACKAGE.parent)])  # the tree first, as daphne has it
    env = {"REDIS_URL": "", "KIT_LAYER_REDIS": url, "PYTHONPATH": path, **({"KIT_PROBE": "1"} if probe else {})}
    return DaphneServer(PROJECT, env=env, binds=binds, app="kit.daphne_app:application")


def stop_daphne(server) -> None:
    """A graded daphne whose checks are done: killed at once (its graceful stop costs a second), then cleaned up."""
    if server.process is not None:
        procs.stop_tree(server.process, grace=0.1)
    server.stop()


def layer_on_redis() -> None:
    """This stage's host runs its channel layer on a Redis of the checker's (see Layer)."""
    global _on_redis
    _on_redis = True


def start_host_early(modules=()) -> None:
    """Start the host while pytest collects: its Python start-up then costs nothing.

    From this (the main) thread: a child dies with the thread that started it."""
    if ON_REDIS & set(modules):
        layer_on_redis()
    host()


def stop_host() -> None:
    if _host is not None:
        _host.stop()
    if _redis is not None:
        _redis.stop()


# -- questions about the tree ----------------------------------------------------------
def django_setup() -> None:
    host().call("setup", doing=T("Loading myproject/settings.py"), limit=WAIT * 4)


def setting_values(*names: str) -> dict:
    """The named settings that exist, as data."""
    return host().call("settings", names=list(names), doing=T("Reading the settings"), limit=WAIT * 4)["values"]


class App:
    """An ASGI app the host serves on its listening socket; the checks' clients name it by X-Kit-App."""

    def __init__(self, kind: str, doing: str = T("Loading your project")):
        self.host = host()
        self.kind = kind
        self.number = self.host.call("app", kind=kind, doing=doing, limit=WAIT * 4)["app"]


def project_app() -> App:
    """The learner's myproject.asgi.application."""
    return App("project")


def consumer_app(any_room: bool = False) -> App:
    """The learner's ChatConsumer behind a router of the kit's (ws/chat/<room_name>/)."""
    return App("any-room" if any_room else "consumer")


def layer_app() -> App:
    """The kit's broadcaster over the default channel layer exactly as the settings make it."""
    return App("layer", T("Trying the default channel layer"))


_numbers = iter(range(1, 1 << 30))   # names each connection to the host (X-Kit-Socket), to ask how it crashed


def get_page(app: App, path: str, *, doing: str, headers: dict | None = None) -> tuple[int, str]:
    """GET path from app over the host's socket, as a browser would: (status, body as text).

    A crash is explained by the host; a body is read up to LINE_LIMIT bytes."""
    return asyncio.run(_with_limit(lambda: _get(app, path, doing, headers or {}), 4 * WAIT))


async def _get(app: App, path: str, doing: str, headers: dict) -> tuple[int, str]:
    number = next(_numbers)
    lines = [f"GET {quote(path, safe='/?=&')} HTTP/1.1", "Host: 127.0.0.1", f"X-Kit-App: {app.number}",
             f"X-Kit-Socket: {number}", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    data = b""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(app.host.address), WAIT)
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        while len(data) <= LINE_LIMIT and (chunk := await asyncio.wait_for(reader.read(1 << 16), 2 * WAIT)):
            data += chunk
        writer.close()
    except (OSError, asyncio.TimeoutError, TimeoutError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[1].isdigit():
        fail(app.host.why(number, doing) or T("GET {path} got no HTTP answer in {wait:.0f} s.", path=path,
                                              wait=2 * WAIT))
    if int(status[1]) >= 500:
        why = app.host.why(number, doing)
        if why:
            fail(why)
    return int(status[1]), body[:LINE_LIMIT].decode("utf-8", errors="replace")


class Layer:
    """The checker's own view of the host's channel layer, on the checker's Redis (async with Layer() as layer).

    channels_redis keeps each group as a sorted set `kit:group:<name>` of channel
    names: the checker reads them there, and joins a group and sends to it with a
    channels_redis layer of its own. Learner code can reach this Redis too, but a
    group it only pretends to keep never delivers what the checker sends to it."""

    PREFIX = "kit"   # kit/daphne_app.py LAYER_PREFIX

    def __init__(self, redis=None, *, prefix: str | None = None, pubsub: bool = False):
        self.redis = redis   # the Redis a graded daphne's layer runs on (layer_daphne); else the host's
        # The learner's own layer on the stage's Redis (the redis and push stages): its prefix, and whether it is
        # channels_redis's pub/sub layer, whose groups are Redis channels with one subscriber per worker.
        self.learners = prefix is not None
        self.prefix, self.pubsub = (prefix if self.learners else self.PREFIX), pubsub

    async def __aenter__(self) -> "Layer":
        import redis.asyncio

        from channels_redis.core import RedisChannelLayer
        from channels_redis.pubsub import RedisPubSubChannelLayer

        url = (self.redis or host().redis or checker_redis()).url
        self.client = redis.asyncio.from_url(url, socket_timeout=4 * WAIT)
        self.layer = (RedisPubSubChannelLayer(hosts=[url], prefix=self.prefix) if self.pubsub else
                      RedisChannelLayer(hosts=[{"address": url, "socket_timeout": None}], prefix=self.prefix))
        self.channel = None
        await self.client.flushdb()  # groups an earlier check's sockets left behind do not count
        return self

    async def __aexit__(self, *exc) -> None:
        await (self.layer.flush() if self.pubsub else self.layer.close_pools())
        await self.client.aclose()

    async def groups(self) -> dict[str, set[str]]:
        """Every group on the layer: name -> its members' channel names (on the pub/sub layer, where Redis
        knows no channel of a group, one name per worker subscribed to it)."""
        found = {}
        if self.pubsub:
            start = f"{self.prefix}__group__"
            names = await self.client.pubsub_channels(start + "*")
            for name, count in await self.client.pubsub_numsub(*names) if names else []:
                found[name.decode(errors="replace")[len(start):]] = {f"worker {n}" for n in range(count)}
            return found
        start = f"{self.prefix}:group:"
        async for key in self.client.scan_iter(match=start + "*", count=1000):
            members = await self.client.zrange(key, 0, -1)
            found[key.decode(errors="replace")[len(start):]] = {m.decode(errors="replace") for m in members}
        return found

    async def group_of(self, size: int, *, wait: float = WAIT, like=None, room: str | None = None) -> str | None:
        """A group holding exactly `size` channels (the one named `like`, when given), waited for; of several,
        one whose name holds `room` first (a chat may keep its sockets in more groups than the room's)."""
        deadline = time.monotonic() + wait
        while True:
            groups = await self.groups()
            found = sorted((name for name, members in groups.items()
                            if len(members) == size and (like is None or name == like)),
                           key=lambda name: room is None or room not in name)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)

    async def joined(self, room: str, count: int) -> str:
        """The group that holds the `count` sockets just opened in room, or a plain failure."""
        group = await self.group_of(count)
        if group is None:
            not_joined(room, count)
        return group

    async def left(self, group: str, remaining: int) -> None:
        """A socket of group just closed: its channel must be gone from it, the other `remaining` still there."""
        if not await self.group_of(remaining, like=group, wait=2 * WAIT):
            fail(T("After a socket closed, its channel was still in the group {wait:.0f} s later: disconnect() must "
                   "call group_discard(group, self.channel_name).", wait=2 * WAIT))

    async def listen(self, count: int, room: str | None = None) -> str | None:
        """The checker's own channel joins the group of the `count` sockets just opened in room, if there is
        one: it hears what the consumers send to it. The group's name, or None (relayed_by_layer then fails)."""
        group = await self.group_of(count, room=room)
        if group is not None:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(group, self.channel)
        return group

    async def heard(self) -> dict | None:
        try:
            return await asyncio.wait_for(self.layer.receive(self.channel), WAIT)
        except (asyncio.TimeoutError, TimeoutError):
            return None


def not_joined(room: str, count: int):
    fail(T("{count} sockets are open in room '{room}', but no group of the channel layer holds {count} "
           "channels: connect() must call self.channel_layer.group_add(group, self.channel_name).",
           count=count, room=room))


async def relayed_by_layer(layer: Layer, group: str | None, sockets, text: str) -> None:
    """After a socket sent text: the consumer's event reached the group on the layer (Layer.listen), and the
    same event, sent by the checker itself to that group, comes out of every socket as the frame again."""
    if group is None and layer.learners:
        fail(T("The room's sockets got their messages, but no group of room '{room}' is on the Redis that "
               "REDIS_URL names: with REDIS_URL set, daphne and every process that sends to a room must use the "
               "channel layer CHANNEL_LAYERS builds on it (channels_redis), not a way of their own.",
               room=sockets[0].room))
    if group is None:
        not_joined(sockets[0].room, len(sockets))
    event = await layer.heard()
    if event is None:
        fail(T("The message did not pass through the room's group on the channel layer: receive() must send it "
               "with self.channel_layer.group_send(group, {'type': ..., ...}), not to the sockets directly."))
    await layer.layer.group_send(group, event)
    for sock in sockets:
        got = await sock.receive(T("a message the room's group delivered"))
        assert got.get("message") == text, T(
            "An event sent to the room's group on the channel layer came out of a socket as {got}, not {text}: "
            "the consumer must send every event of its group to its socket.", got=repr(got.get("message")),
            text=repr(text))


# -- who is chatting ----------------------------------------------------------------------
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
    by the kit itself (kit/sessions.py): the host migrates the database (an intervention), the kit's own
    writer in the tree's sandbox writes the user and session rows, and this process reads them back. No
    learner process is told the names or cookies."""
    from kit import sessions

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
    code, out, err = run_in_tree(["-P", "-m", "kit.sessions", "--write", order], timeout=WAIT * 12,
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
    from kit import sessions

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


# -- running async scenarios ---------------------------------------------------------------
def run(scenario, *, limit: float = 4 * WAIT):
    """Run a scenario; what the host noticed (a blocked loop, a forgotten await) is added to its failure."""
    if _host is not None:
        _host.take_clues()
    try:
        return asyncio.run(_with_limit(scenario, limit))
    except AssertionError as exc:
        if _host is not None and _host.alive:  # what it noticed meanwhile (a blocked loop, a lost await)
            try:
                _host.call("clues", doing=T("Asking what the host noticed"), limit=WAIT)
            except AssertionError:
                pass
        clues = _host.take_clues() if _host is not None else []
        message = str(exc)
        if clues and "never returned" not in message:
            message = join([recall(message.split("\nassert ")[0]), *clues])
        raise LearnerCodeError(recall(message)) from None


async def _with_limit(scenario, limit):
    try:
        return await asyncio.wait_for(scenario(), limit)
    except (asyncio.TimeoutError, TimeoutError):
        fail(T("The scenario did not finish within {limit:.0f} s: something waits forever.", limit=limit))


# -- WebSocket clients for in-process checks ---------------------------------------------
def is_history(text) -> bool:
    """A replayed frame (stage `history`: {"message", "author", "history": true}), sent when a socket joins.

    The checks of other stages never see one: the sockets below skip them unless made with history=True."""
    if not isinstance(text, str) or '"history"' not in text:
        return False
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and value.get("history") is True


class Socket:
    """A real WebSocket client on the host's listening socket, explaining failures in the learner's terms.

    What it receives is what the learner's app sent: the host only adds, when a
    socket crashed, where in the learner's code it did (a claim, used only to fail)."""

    def __init__(self, app: App, room: str, *, path: str | None = None, origin: str = PAGE_ORIGIN,
                 user: str | None = LEARNER, history: bool = False):
        self.room = room
        self.history = history  # False: skip the room's replayed frames (see is_history)
        self.path = path or f"/ws/chat/{room}/"
        self.host = app.host  # a socket lives in the host its app was made in, and dies with it
        self.origin = origin
        self.number = next(_numbers)
        self.headers = {"X-Kit-App": str(app.number), "X-Kit-Socket": str(self.number)}
        if user:
            for name, value in cookie_header(login(user, required=False)):  # the tree's one database
                self.headers[name.title()] = value
        self.connection = None
        self.open = False

    def crash(self, doing: str) -> str:
        return self.host.why(self.number, doing)

    async def try_connect(self) -> tuple[bool, int | None]:
        """The handshake's outcome: (True, None) accepted, (False, 403) refused; only silence or a crash fails."""
        from websockets.asyncio.client import unix_connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        doing = T("Connecting to {path} crashed the consumer", path=self.path)
        try:
            self.connection = await unix_connect(
                self.host.address, "ws://127.0.0.1" + quote(self.path, safe="/"), origin=self.origin,
                additional_headers=self.headers, open_timeout=WAIT, close_timeout=WAIT, max_size=LINE_LIMIT,
                ping_interval=None, compression=None)
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 403:
                return False, status
            fail(self.crash(doing) or T("Connecting to {path} was answered with HTTP {status}.", path=self.path,
                                        status=status))
        except (asyncio.TimeoutError, TimeoutError):
            fail(self.crash(doing) or T(
                "Connecting to {path} got no answer in {wait:.0f} s: connect() must end with `await self.accept()` "
                "(or self.accept() in a sync consumer).", path=self.path, wait=WAIT))
        except (OSError, InvalidHandshake) as exc:
            fail(self.crash(doing) or T("Connecting to {path} failed: {error}.", path=self.path, error=str(exc)))
        self.open = True
        return True, None

    async def connect(self) -> None:
        accepted, status = await self.try_connect()
        if not accepted:
            fail(T("The server refused the socket for {path} (HTTP {status}): connect() must accept the "
                   "connection.", path=self.path, status=status))

    async def send(self, message: str, **extra) -> None:
        await self.send_text(json.dumps({"message": message, **extra}))

    async def send_text(self, text: str) -> None:
        await self._send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._send(data)

    async def _send(self, data) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self.connection.send(data)
        except ConnectionClosed:
            pass  # the server closed it: the next receive says so

    async def receive_output(self, what: str = T("a message")) -> dict | None:
        """The next raw output ({'type', 'text', 'code', 'data'}), or None after WAIT seconds of silence."""
        from websockets.exceptions import ConnectionClosed

        while True:
            try:
                data = await asyncio.wait_for(self.connection.recv(), WAIT)
            except (asyncio.TimeoutError, TimeoutError):
                return None
            except ConnectionClosed as exc:
                self.open = False
                code = exc.rcvd.code if exc.rcvd else None
                if code in (None, 1006, 1011):
                    why = self.crash(T("While a socket in room '{room}' waited for {what}, the consumer crashed",
                                       room=self.room, what=recall(what)))
                    if why:
                        fail(why)
                return {"type": "websocket.close", "text": None, "code": code or 1006}
            if isinstance(data, bytes):
                return {"type": "websocket.send", "text": None, "code": None,
                        "data": base64.b64encode(data).decode()}
            if self.history or not is_history(data):
                return {"type": "websocket.send", "text": data, "code": None}

    async def next_output(self) -> dict | None:
        """Like receive_output (silence leaves the consumer running either way)."""
        return await self.receive_output(T("a flood's answers"))

    async def receive(self, what: str = T("a message")) -> dict:
        """The next frame as a dict; fails plainly on silence, a close, a crash or non-JSON."""
        output = await self.receive_output(what)
        if output is None:
            fail(T("A socket in room '{room}' waited {wait:.0f} s for {what} and got nothing.",
                   room=self.room, wait=WAIT, what=recall(what)))
        if output["type"] == "websocket.close":
            self.open = False
            fail(T("The server closed a socket in room '{room}' (code {code}) instead of sending {what}.",
                   room=self.room, code=output.get('code') or 1000, what=recall(what)))
        return parse_frame(output.get("text"), output.get("data"))

    async def ping(self) -> float:
        """Seconds from a WebSocket ping to its pong: the server's event loop answers it, so a loop that stands
        still (a blocking call in an async method) shows here, on every socket of the server."""
        begun = time.monotonic()
        try:
            await asyncio.wait_for(await self.connection.ping(), 4 * WAIT)
        except Exception:  # noqa: BLE001  (no pong at all: the loop stood still all that time, or the socket went)
            pass
        return time.monotonic() - begun

    async def close(self) -> None:
        if not self.open:
            return
        self.open = False
        try:
            await self.connection.close()
        except Exception:  # noqa: BLE001  (a server that never answers the close: it is closed on our side)
            pass


def parse_frame(text: str | None, data=None) -> dict:
    """The contract's frame: a JSON object with a 'message' key."""
    if text is None:
        fail(T("The server sent a binary frame; send text: self.send(text_data=json.dumps({...}))."))
    try:
        value = json.loads(text)
    except ValueError:
        fail(T("The server sent {text}, which is not JSON: send json.dumps({{'message': ...}}).", text=repr(text[:60])))
    if not isinstance(value, dict) or "message" not in value:
        fail(T("The server sent {text}: each frame must be a JSON object with a 'message' key.", text=repr(text[:60])))
    return value


async def close_all(*sockets) -> None:
    for sock in sockets:
        await sock.close()


async def rooms_stay_apart(first, second, *, leaked: str, layer=None, before: set | None = None) -> None:
    """first and second are connected sockets in two rooms: a message for the first must not reach the second.

    The second socket's queue is first in, first out: had the first room's
    message leaked into the second room, it would arrive before the second
    socket's own message; one leaked late (a timer, a task) through a group both
    rooms' sockets are in shows on the checker's layer at once (apart_on_layer:
    `before` holds the channels on it before the second socket connected), and
    any other in no_late_leak."""
    await first.send(f"for room {first.room[:30]} only")
    await first.receive(T("its own message back"))
    await second.send(f"for room {second.room[:30]}")
    got = await second.receive(T("its own message back"))
    if got["message"] != f"for room {second.room[:30]}":
        fail(leaked)
    if layer is not None:
        await apart_on_layer(layer, before or set(), leaked=leaked)
    await no_late_leak(second, f"for room {first.room[:30]} only", leaked=leaked)


async def layer_channels(layer) -> set[str]:
    """Every channel in a group on the checker's layer now."""
    return set().union(*(await layer.groups()).values())


async def apart_on_layer(layer, before: set, *, leaked: str) -> None:
    """Observed on the checker's Redis: no group holds both a channel of `before` (the first room's sockets)
    and one that joined since (the second room's). What a shared group is sent reaches both rooms, however
    late it is sent, so this needs no waiting."""
    groups = await layer.groups()
    since = set().union(*groups.values()) - before
    if any(members & before and members & since for members in groups.values()):
        fail(leaked)


LEAK_WAIT = max(2.5, WAIT / 2)   # seconds a room is watched, after the order check, for another room's message sent late


async def no_late_leak(sock, text: str, *, leaked: str) -> None:
    """Fail with `leaked` if a frame holding text (another room's message) reaches sock within LEAK_WAIT."""
    receive = sock.next_frame if hasattr(sock, "next_frame") else sock.connection.recv
    deadline = time.monotonic() + LEAK_WAIT
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame = await asyncio.wait_for(receive(), left)
        except Exception:  # noqa: BLE001  (silence, or a close that the next check judges)
            return
        if isinstance(frame, str) and text in frame:
            fail(leaked)


# -- WebSocket clients for live checks against a real daphne --------------------------------
class SkipHistory:
    """A `websockets` connection whose recv() passes over replayed frames (see is_history)."""

    def __init__(self, connection):
        self.connection = connection

    async def recv(self, *args, **kwargs):
        while True:
            frame = await self.connection.recv(*args, **kwargs)
            if not is_history(frame):
                return frame

    def __getattr__(self, name):
        return getattr(self.connection, name)


class LiveSocket:
    """A `websockets` client on a running daphne that fails in plain words."""

    def __init__(self, server, room: str, *, origin: str | None = None, user: str | None = LEARNER,
                 history: bool = False, path: str | None = None):
        self.server, self.room = server, room
        self.history = history  # False: skip the room's replayed frames
        self.url = f"ws://{server.host}{path}" if path else server.ws_url(room)
        self.origin = origin or server.origin
        self.user = user
        self.connection = None

    def headers(self) -> dict:
        """The session cookie of the user this client chats as (daphne reads the same database)."""
        return {name.title(): value for name, value in cookie_header(login(self.user, required=False))} \
            if self.user else {}

    async def connect(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        try:
            self.connection = await connect(self.url, origin=self.origin, open_timeout=WAIT,
                                            close_timeout=WAIT, additional_headers=self.headers())
        except InvalidStatus as exc:
            fail(T("daphne refused the WebSocket handshake for {url} with HTTP {status}. {clue}",
                   url=self.url, status=exc.response.status_code, clue=self.server_clue()))
        except (asyncio.TimeoutError, TimeoutError):
            fail(T("daphne did not finish the handshake for {url} in {wait:.0f} s: does connect() accept? {clue}",
                   url=self.url, wait=WAIT, clue=self.server_clue()))
        except OSError as exc:
            fail(T("Nothing answered at {url} ({error}). {clue}", url=self.url, error=str(exc.strerror or exc),
                   clue=self.server_clue()))
        if not self.history:
            self.connection = SkipHistory(self.connection)

    async def send(self, message: str) -> None:
        await self.connection.send(json.dumps({"message": message}))

    async def receive(self, what: str = T("a message")) -> dict:
        from websockets.exceptions import ConnectionClosed

        try:
            frame = await asyncio.wait_for(self.next_frame(), WAIT)
        except (asyncio.TimeoutError, TimeoutError):
            fail(T("A client in room '{room}' waited {wait:.0f} s for {what} and got nothing. {clue}",
                   room=self.room, wait=WAIT, what=recall(what), clue=self.server_clue()))
        except ConnectionClosed as exc:
            fail(T("daphne closed a socket in room '{room}' (code {code}) instead of sending {what}. {clue}",
                   room=self.room, code=exc.rcvd.code if exc.rcvd else 'none', what=recall(what),
                   clue=self.server_clue()))
        if isinstance(frame, bytes):
            return parse_frame(None, frame)
        return parse_frame(frame)

    async def next_frame(self):
        """The next frame; replayed ones are passed over unless this client asked for them."""
        while True:
            frame = await self.connection.recv()
            if self.history or not is_history(frame):
                return frame

    async def close(self) -> None:
        if self.connection is not None:
            await self.connection.close()
            self.connection = None

    def server_clue(self) -> str:
        return server_clue(self.server)


# -- the stage's services, as learner processes reach them -----------------------------------
def sandboxed() -> bool:
    isolation = sandbox.for_grading()
    return bool(isolation and isolation.sandboxed)


def layer_config(redis_url: str, binds=()) -> dict:
    """CHANNEL_LAYERS['default'] as the settings file builds it, in a fresh process with this REDIS_URL."""
    script = ("import json, myproject.settings as s; "
              "print(json.dumps(getattr(s, 'CHANNEL_LAYERS', {}).get('default', {}), default=str))")
    code, out, err = run_in_tree(["-c", script], env={"REDIS_URL": redis_url}, timeout=6 * WAIT,
                                 binds=binds)
    if code != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        fail(T("Importing myproject/settings.py with REDIS_URL={url} failed: {error}", url=redis_url or T("(empty)"),
               error=last))
    try:
        layer = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        fail(T("Importing myproject/settings.py printed something unexpected; settings should not print."))
    return layer if isinstance(layer, dict) else {}


def learner_layer(redis) -> tuple[str, bool]:
    """The prefix of the layer the settings build with REDIS_URL set, and whether it is the pub/sub layer: what
    the checker needs to find the room's group on the stage's Redis. Asked: a wrong answer only hides the room."""
    url, binds = redis_for_learner(redis)
    config = layer_config(url, binds)
    options = config.get("CONFIG") if isinstance(config.get("CONFIG"), dict) else {}
    return str(options.get("prefix", "asgi")), "pubsub" in str(config.get("BACKEND", ""))


def redis_for_learner(redis) -> tuple[str, list]:
    """The REDIS_URL learner processes get for the stage's Redis (kit/redis.py, grading=True), and the
    folder binds that show its socket inside their sandbox."""
    inside = sandboxed()
    return redis.learner_url(inside), redis.binds(inside)
