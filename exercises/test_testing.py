"""Checkpoint `testing`: the learner's own tests tell a working consumer from a broken one.

The learner's myapp/tests/test_consumers.py is learner code: it runs only in
the sandbox, on private copies of the graded tree in which this checkpoint has
put a myapp/consumers.py of its own. Correct consumers, written in three
styles, must pass the learner's tests; each broken consumer must fail at least
one of them. A suite that always passes, always fails, or compares source text
cannot satisfy both sides. Each consumer carries a fresh random token, so its
text is never the same twice. Verdicts come from pytest's exit code together
with its JUnit report, read defensively: both are learner-controlled data, and
a run whose two accounts disagree counts for nothing.
"""
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kit import procs, sandbox
from kit.i18n import T
from support import PROJECT, WAIT, fail

SUITE = "myapp/tests/test_consumers.py"
# One run of the learner's suite, Django's start-up included; a loaded machine needs the margin.
RUN_LIMIT = max(40.0, 8 * WAIT)

# -- the consumers the learner's tests meet ------------------------------------------------------
# One template, the part-one contract: join the room's group (readable name or a hash), relay
# {"message"} to everyone in the room (with the author when the socket has a logged-in user),
# answer bad frames with {"error"} to the sender alone, leave the group on close.
ASYNC = '''"""A chat consumer the kit wrote to try your tests ({token})."""
import hashlib
import json
import re

from channels.generic.websocket import AsyncWebsocketConsumer


def room_group(room):
    if re.fullmatch(r"[A-Za-z0-9_.-]{{1,80}}", room){bengali}:
        return {prefix}
    return "chat-" + hashlib.sha256(room.encode("utf-8")).hexdigest()


def author_of(scope):
    user = scope.get("user")
    return user.get_username() if user is not None and user.is_authenticated else ""


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.group = room_group(self.scope["url_route"]["kwargs"]["room_name"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        {leave}

    async def receive(self, text_data=None, bytes_data=None):
        {parse}
        message = data.get("message") if isinstance(data, dict) else None
        if not isinstance(message, str) or not message.strip():
            await self.send(text_data=json.dumps({{"error": "Send {{\\"message\\": \\"some text\\"}}."}}))
            return
        {relay}

    async def chat_message(self, event):
        {deliver}
'''

PARTS = {
    "bengali": "",
    "prefix": 'f"chat_{room}"',
    "leave": "await self.channel_layer.group_discard(self.group, self.channel_name)",
    "parse": ("try:\n            data = json.loads(text_data)\n        except (TypeError, ValueError):\n"
              "            await self.send(text_data=json.dumps({\"error\": \"That frame was not JSON.\"}))\n"
              "            return"),
    "relay": ("await self.channel_layer.group_send(self.group, {\"type\": \"chat.message\", \"message\": message,\n"
              "                                                         \"author\": author_of(self.scope), "
              "\"sender\": self.channel_name})"),
    "deliver": ("await self.send(text_data=json.dumps({\"message\": event[\"message\"], "
                "\"author\": event[\"author\"]}))"),
}


def async_consumer(**changes) -> str:
    return ASYNC.format(token=secrets.token_hex(8), **{**PARTS, **changes})


JSON_STYLE = '''"""A chat consumer the kit wrote to try your tests ({token}), on AsyncJsonWebsocketConsumer."""
import hashlib
import json

from channels.generic.websocket import AsyncJsonWebsocketConsumer

ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")


class ChatConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        room = self.scope["url_route"]["kwargs"]["room_name"]
        if set(room) <= ALLOWED and len(room) <= 80:
            self.room_group_name = "chat_" + room
        else:
            self.room_group_name = "chat-" + hashlib.sha256(room.encode()).hexdigest()
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            content = json.loads(text_data or "")
        except ValueError:
            await self.send_json({{"error": "Not JSON."}})
            return
        await self.receive_json(content)

    async def receive_json(self, content, **kwargs):
        text = content.get("message") if isinstance(content, dict) else None
        if not isinstance(text, str) or not text.strip():
            await self.send_json({{"error": "A frame needs a text message."}})
            return
        user = self.scope.get("user")
        author = user.get_username() if user and user.is_authenticated else ""
        await self.channel_layer.group_send(self.room_group_name,
                                            {{"type": "chat.message", "message": text, "author": author}})

    async def chat_message(self, event):
        await self.send_json({{"message": event["message"], "author": event["author"]}})
'''

SYNC_STYLE = '''"""A chat consumer the kit wrote to try your tests ({token}), synchronous, through async_to_sync."""
import hashlib
import json
import string

from asgiref.sync import async_to_sync
from channels.generic.websocket import WebsocketConsumer

SAFE = string.ascii_letters + string.digits + "-_."


def group_for(room):
    if len(room) < 80 and all(c in SAFE for c in room):
        return "chat_%s" % room
    return "chat-%s" % hashlib.sha256(room.encode("utf-8")).hexdigest()


class ChatConsumer(WebsocketConsumer):
    def connect(self):
        self.group = group_for(self.scope["url_route"]["kwargs"]["room_name"])
        async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
        self.accept()

    def disconnect(self, close_code):
        async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

    def receive(self, text_data=None, bytes_data=None):
        try:
            message = json.loads(text_data)["message"]
        except (TypeError, ValueError, KeyError):
            self.send(text_data=json.dumps({{"error": "Send JSON with a message."}}))
            return
        if not isinstance(message, str) or not message.strip():
            self.send(text_data=json.dumps({{"error": "Empty messages are not sent."}}))
            return
        user = self.scope.get("user")
        author = user.get_username() if user is not None and user.is_authenticated else ""
        async_to_sync(self.channel_layer.group_send)(
            self.group, {{"type": "chat.message", "message": message, "author": author}})

    def chat_message(self, event):
        self.send(text_data=json.dumps({{"message": event["message"], "author": event["author"]}}))
'''

CORRECT = {
    "async": (T("written with AsyncWebsocketConsumer"), lambda: async_consumer()),
    "json": (T("written with AsyncJsonWebsocketConsumer"), lambda: JSON_STYLE.format(token=secrets.token_hex(8))),
    "sync": (T("written as a synchronous WebsocketConsumer with async_to_sync"),
             lambda: SYNC_STYLE.format(token=secrets.token_hex(8))),
}

# Each broken consumer, as the learner reads it: what it does wrong, in words, never as code.
BROKEN = {
    "only-the-sender": (
        T("a consumer that answers only the socket that sent a message: nobody else in the room hears it"),
        lambda: async_consumer(relay="await self.chat_message({\"message\": message, "
                                     "\"author\": author_of(self.scope)})")),
    "not-the-sender": (
        T("a consumer that relays a message to everyone in the room except the socket that sent it"),
        lambda: async_consumer(deliver="if event.get(\"sender\") != self.channel_name:\n"
                                       "            " + PARTS["deliver"])),
    "one-group": (
        T("a consumer that puts every room in one group, so each room hears the others"),
        lambda: async_consumer(prefix='"chat_all"', bengali=" or True")),
    "never-leaves": (
        T("a consumer that never leaves its group when a socket closes"),
        lambda: async_consumer(leave="await self.channel_layer.group_discard(self.group + \"-left\", "
                                     "self.channel_name)")),
    "wrong-key": (
        T("a consumer that relays the text under the key 'text' instead of 'message'"),
        lambda: async_consumer(deliver="await self.send(text_data=json.dumps({\"text\": event[\"message\"], "
                                       "\"author\": event[\"author\"]}))")),
    "crashes-on-bad-json": (
        T("a consumer that crashes (and drops the socket) on a frame that is not JSON, instead of answering "
          "with an error"),
        lambda: async_consumer(parse="data = json.loads(text_data)")),
    "ascii-only-rooms": (
        T("a consumer that crashes on a room name with letters outside ASCII, such as a Bengali name"),
        lambda: async_consumer(bengali=" or True")),
}


# -- running the learner's suite on a copy of the tree ------------------------------------------
@dataclass
class Run:
    outcome: str                 # "passed", "failed" (some test failed), or "broken" (no usable result)
    why: str = ""                # for "broken": one sentence
    failed: list = field(default_factory=list)


def printable(text: str, limit: int = 80) -> str:
    text = re.sub(r"[^\w\[\]\-.:,= ]", "?", text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def junit_counts(path: Path):
    """(tests, failed+errors, skipped, names of the failed) from pytest's report, or None."""
    try:
        if path.stat().st_size > 5_000_000:
            return None
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    if not suites:
        return None
    try:
        tests = sum(int(s.get("tests", 0)) for s in suites)
        bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
        skipped = sum(int(s.get("skipped", 0)) for s in suites)
    except ValueError:
        return None
    names = [printable(case.get("name", "?")) for s in suites for case in s.iter("testcase")
             if case.find("failure") is not None or case.find("error") is not None]
    return tests, bad, skipped, names


def copy_with(consumer: str | None, folder: Path) -> Path:
    """A private copy of the graded tree; with consumer, its myapp/consumers.py replaced (None keeps the learner's)."""
    tree = folder / "tree"
    shutil.copytree(PROJECT, tree, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "db.sqlite3", ".kit", ".kit-backups"))
    if consumer is not None:
        (tree / "myapp" / "consumers.py").write_text(consumer, encoding="utf-8")
    return tree


def run_suite(consumer: str | None) -> Run:
    folder = Path(tempfile.mkdtemp(prefix="kit-testing-"))
    try:
        tree = copy_with(consumer, folder)
        report = tree / f".kit-junit-{secrets.token_hex(8)}.xml"  # a name no file of the tree can hold yet
        # -x: one failing test is the whole answer, and a broken consumer makes later tests wait for
        # frames that never come. No plugins: the lesson's tests need none, and each costs start-up time.
        args = [sys.executable, "-m", "pytest", SUITE, "-q", "-x", "-p", "no:cacheprovider", "-c", os.devnull,
                "--rootdir", str(tree), f"--junitxml={report}", "-o", "junit_family=xunit2"]
        isolation = sandbox.for_grading() or sandbox.Isolation("process", "")
        env = {"PYTHONPATH": str(tree), "REDIS_URL": "", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
        proc = sandbox.spawn(args, tree, env=env, isolation=isolation,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            code = proc.wait(timeout=RUN_LIMIT)
        except subprocess.TimeoutExpired:
            return Run("broken", T("did not finish within {limit:.0f} s: a test waits forever (give "
                                   "receive_from() and receive_nothing() a timeout)", limit=RUN_LIMIT))
        finally:
            procs.stop_tree(proc, grace=1)
        counts = junit_counts(report)
        if code == 5:
            return Run("broken", T("found no tests in {suite}: name each function test_...", suite=SUITE))
        if code in (2, 3, 4):
            return Run("broken", T("could not run (pytest exit code {code}): run `python -m pytest myapp/tests` "
                                   "yourself from the folder holding manage.py and fix the first error", code=code))
        if counts is None:
            return Run("broken", T("ended (exit code {code}) without pytest's report: never call sys.exit() or "
                                   "os._exit() in a test file", code=code))
        tests, bad, skipped, names = counts
        if code == 0 and bad == 0 and tests - skipped >= 1:
            return Run("passed")
        if code == 1 and bad >= 1:
            return Run("failed", failed=names)
        return Run("broken", T("gave an exit code ({code}) and a report ({tests} tests, {bad} failed, {skipped} "
                               "skipped) that disagree, or ran no test at all", code=code, tests=tests, bad=bad,
                               skipped=skipped))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def runs():
    """Every consumer's run, started at once in the order the checks ask for them, a few side by side.

    A stage has a time limit of its own: one run after another would not fit a loaded machine."""
    if not (PROJECT / SUITE).is_file():
        fail(T("{suite} is missing: write your consumer's tests there (see the notebook 12_testing).", suite=SUITE))
    pool = ThreadPoolExecutor(max_workers=3)
    futures = {name: pool.submit(run_suite, make()) for name, (_, make) in CORRECT.items()}
    futures[YOURS] = pool.submit(run_suite, None)   # the learner's own consumer, unchanged
    futures.update({name: pool.submit(run_suite, make()) for name, (_, make) in BROKEN.items()})
    yield futures
    for future in futures.values():
        future.cancel()
    pool.shutdown(wait=True)


def result_of(runs, name: str) -> Run:
    return runs[name].result(timeout=RUN_LIMIT + 5)


# The learner's own consumer, as the graded tree holds it: the suite must pass there too, as it does when the
# learner runs `python -m pytest myapp/tests` (a suite that passes only on the kit's consumers guards nothing).
YOURS = "yours"


@pytest.mark.parametrize("style", [*CORRECT, YOURS])
@pytest.mark.timeout(RUN_LIMIT + 15)  # waits for a run of the learner's suite, bounded by RUN_LIMIT
def test_your_tests_pass_on_a_correct_consumer(runs, style):
    result = result_of(runs, style)
    if style == YOURS:
        if result.outcome == "broken":
            fail(T("On your own consumer (myapp/consumers.py), your tests {why}.", why=result.why))
        if result.outcome == "failed":
            fail(T("Your tests fail on your own consumer, myapp/consumers.py: {names}. Run `python -m pytest "
                   "myapp/tests` from the folder holding manage.py and read the first failure: either the "
                   "consumer breaks a promise the test checks, or the test asks what your consumer cannot do (a "
                   "consumer that saves each message with its author needs users saved in the tests' database, "
                   "as notebook 12_testing makes them).", names=", ".join(result.failed[:4]) or T("some of them")))
        return
    described, _ = CORRECT[style]
    if result.outcome == "broken":
        fail(T("Your tests {why}.", why=result.why))
    if result.outcome == "failed":
        names = ", ".join(result.failed[:4]) or T("some of them")
        fail(T("Your tests failed on a correct consumer {described}: {names}. Test what the consumer does through "
               "its sockets (the messages each one receives), not how it is written, and import nothing from "
               "myapp/consumers.py: the checkpoint swaps that file for consumers of its own.", described=described,
               names=names))


@pytest.mark.parametrize("broken", list(BROKEN))
@pytest.mark.timeout(RUN_LIMIT + 15)
def test_your_tests_catch_a_broken_consumer(runs, broken):
    described, _ = BROKEN[broken]
    if result_of(runs, "async").outcome != "passed":
        # Failing on a broken consumer tells it from nothing while correct ones fail too.
        fail(T("Your tests do not pass on a correct consumer yet, so failing on {described} proves nothing: "
               "make them pass on a correct consumer first.", described=described))
    result = result_of(runs, broken)
    if result.outcome == "passed":
        fail(T("Your tests all passed on {described}: add a test that fails on it.", described=described))
    if result.outcome == "broken":
        fail(T("On {described}, your tests {why}.", described=described, why=result.why))
