"""The host: the learner's code in its own sandboxed process, serving the tree on a socket the checker
made; the checker's Redis and daphne for the stage; async scenarios run with what the host noticed."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading

from kit.isolation import procs, sandbox, stage_groups
from kit.grading.explain import exit_calls
from kit.course.i18n import T, join, lower_first, pack, recall, unpack

from .base import fail, LearnerCodeError, LINE_LIMIT, MARGIN, PROJECT, WAIT
from .services import redis_for_learner


class Host:
    """A client for kit/grading/host.py. Its answers are data; what they mean is decided here."""

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
        self.process = sandbox.spawn([sys.executable, "-P", "-m", "kit.grading.host", *map(str, fds), str(PROJECT)],
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
            reply = unpack(json.loads(line))   # its sentences again as T (kit/course/i18n.py), when they came with templates
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
        if code in (-9, 137) and stage_groups.memory_ran_out():
            return T("The process running your project was stopped for using too much memory (the stage's "
                     "processes may use {limit} GiB together) while {doing}: look for data that grows without end.",
                     limit=stage_groups.STAGE_MEMORY_LIMIT // 2 ** 30, doing=lower_first(doing))
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
_redis = None          # that Redis (kit/services/redis.py, grading=True), started with the first host that needs it
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
        from kit.services.redis import RedisServer, RedisUnavailable

        server = RedisServer(grading=True)
        try:
            _redis = server.start()
        except RedisUnavailable as exc:
            _redis_error = str(exc)
    return _redis


def checker_redis():
    """The checker's Redis for the stage's channel layers (kit/services/redis.py, grading=True), or a plain failure."""
    redis = _layer_redis()
    if redis is None:
        fail(T("Not graded: no Redis for the channel layer could start on this machine. {error}",
               error=_redis_error))
    return redis


def layer_daphne(*, probe: bool = False):
    """A daphne (to start) for the graded tree serving kit/services/daphne_app.py: the tree's own application, its
    in-memory layer on the checker's Redis (checker_redis), and with probe the kit's route first in every
    URLRouter. Its start() raises ServerError when daphne cannot start; stop() it when done."""
    from kit.services.server import DaphneServer

    url, binds = redis_for_learner(checker_redis())
    path = os.pathsep.join([str(PROJECT), str(sandbox.KIT_PACKAGE.parent)])  # the tree first, as daphne has it
    env = {"REDIS_URL": "", "KIT_LAYER_REDIS": url, "PYTHONPATH": path, **({"KIT_PROBE": "1"} if probe else {})}
    return DaphneServer(PROJECT, env=env, binds=binds, app="kit.services.daphne_app:application")


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
