"""The `testing` stage's consumer runs in a process of its own: a suite cannot read its code (issue 16).

The seventh review scored 10/10 with a suite that tests nothing: while the kit loaded the consumer into the
suite's process, it read the compiled code from a frame's locals and classified the kit's broken variants
by the names in it (ATTACK below: on the checker before kit/services/relay.py, it scored 10/10). Now the consumer
runs in a sandboxed process the checker starts and stops, and the suite's process holds a stand-in that
relays each socket there: the same suite scores 0, and so does one that hunts for the code by every route
we know (frames, attributes, the garbage collector, other processes' memory). A suite that tests behaviour
still scores 10/10, and the relay keeps what the lesson's tests rely on (the layer's groups, a group_send
from the test, the user in the scope).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading

import psutil
import pytest

from conftest import KIT_ROOT, checkpoint_outcomes, grade_json, stage
from leaks import leftovers

sys.path.insert(0, str(KIT_ROOT / "exercises"))
import consumers_under_test as generated  # noqa: E402

FAST = {"KIT_WAIT": "3"}
SUITE = "myapp/tests/test_consumers.py"
CORRECT_ASYNC = "test_your_tests_pass_on_a_correct_consumer[async]"

# What the suite decides from a consumer's compiled code alone (the module's code object): the faults it
# shows. Written against consumers_under_test.py, as a learner with the kit's source could.
CLASSIFIER = textwrap.dedent('''
    import dis
    import re
    import types

    SPARE = re.compile(r"_[a-z]+_[0-9a-f]{4}$")
    HANDLERS = {"chat_message", "chat_relay", "room_message", "chat_broadcast", "chat_say"}
    HELPERS = {"room_group", "group_for", "group_of", "to_group", "group_name_for", "channel_group", "name_group"}
    SENDERS = {"channel_name", "sender", "origin", "from_channel", "channel"}


    def codes(code):
        return [const for const in code.co_consts if isinstance(const, types.CodeType)]


    def methods(module):
        found = {}
        for code in codes(module):
            if code.co_name in HELPERS:
                found["helper"] = code
            if code.co_name == "ChatConsumer":
                for method in codes(code):
                    if not SPARE.match(method.co_name):
                        found["helper" if method.co_name in HELPERS else method.co_name] = method
        return found


    def faults(module):
        m = methods(module)
        get = lambda *names: next((m[n] for n in names if n in m), None)
        connect, receive = get("connect", "websocket_connect"), get("receive", "websocket_receive")
        disconnect, helper = get("disconnect", "websocket_disconnect"), m["helper"]
        deliver = next(m[n] for n in m if n in HANDLERS)
        out = set()
        if "group_send" not in receive.co_names:
            out.add("only-the-sender")
        if SENDERS & set(deliver.co_names):
            out.add("not-the-sender")
        room = any(i.opname.startswith("LOAD_FAST") and i.argval == "room" for i in dis.get_instructions(helper))
        if not room or "room_name" not in connect.co_consts:
            out.add("one-group")
        if "groups" in connect.co_names:
            if "upper" in connect.co_names:
                out.add("never-leaves")
        elif disconnect is None or "group_discard" not in disconnect.co_names or "upper" in disconnect.co_names \\
                or 4000 in disconnect.co_consts:
            out.add("never-leaves")
        keyed = [c for c in deliver.co_consts if isinstance(c, tuple) and c and c[0] == "message"]
        if not keyed or any(i.opname == "BUILD_MAP" and i.arg == 1 for i in dis.get_instructions(deliver)):
            out.add("wrong-key")
        if "ValueError" not in receive.co_names:
            out.add("crashes-on-bad-json")
        names = set(helper.co_names)
        if "hashlib" not in names or ("len" in names and not names & {"fullmatch", "SAFE", "isascii"}):
            out.add("ascii-only-rooms")
        return out
''')

# The seventh review's suite: it reads the code from the frames below an import the consumer's module makes
# while the kit loads it (the loader kept it in a local), and fails exactly where the code shows a fault.
ATTACK = '''import builtins
import os
import sys
import types

import django
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
django.setup()

STOLEN = []
_import = builtins.__import__


def _spy(name, *args, **kwargs):
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, types.CodeType) and any(
                    isinstance(c, types.CodeType) and c.co_name == "ChatConsumer" for c in value.co_consts):
                STOLEN.append(value)
        frame = frame.f_back
    return _import(name, *args, **kwargs)


builtins.__import__ = _spy
try:
    import myapp.consumers  # noqa: F401
finally:
    builtins.__import__ = _import

CLASSIFIER = %r
namespace = {}
exec(CLASSIFIER, namespace)
FOUND = set()
for code in STOLEN[:1]:
    try:
        FOUND = namespace["faults"](code)
    except Exception:
        pass


@pytest.mark.parametrize("fault", %r)
def test_no_known_fault(fault):
    assert fault not in FOUND
''' % (CLASSIFIER, list(generated.FAULTS))

# Every route to the consumer's code or text we know, from the suite's process: passes when one finds it.
HUNT = '''import builtins
import gc
import os
import sys
import types

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
django.setup()

FOUND = []
TELLS = [text.encode() for text in %r]
_import = builtins.__import__


def consumer_code(value):
    return isinstance(value, types.CodeType) and (os.path.basename(value.co_filename) == "consumers.py" or any(
        isinstance(c, types.CodeType) and c.co_name == "ChatConsumer" for c in value.co_consts))


def _spy(name, *args, **kwargs):
    frame = sys._getframe(1)
    while frame is not None:
        FOUND.extend(v for v in list(frame.f_locals.values()) if consumer_code(v))
        frame = frame.f_back
    return _import(name, *args, **kwargs)


builtins.__import__ = _spy
try:
    from myapp.consumers import ChatConsumer
finally:
    builtins.__import__ = _import

# Each next route only where the last found nothing (the kit used to refuse some of them by audit hook).
for name in ("connect", "receive", "disconnect", "websocket_connect", "websocket_receive"):
    if not FOUND and hasattr(ChatConsumer, name):
        FOUND.append(getattr(ChatConsumer, name).__code__)
if not FOUND:
    FOUND.extend(o for o in gc.get_objects() if isinstance(o, types.FunctionType)
                 and "group_add" in o.__code__.co_names and os.path.basename(o.__code__.co_filename) == "consumers.py")


def other_memory():
    """The kit consumers' error texts in the memory of any other process this one can see."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
                for row in maps:
                    span, perms = row.split()[:2]
                    start, end = (int(x, 16) for x in span.split("-"))
                    if "r" not in perms or end - start > 1 << 28:
                        continue
                    try:
                        mem.seek(start)
                        data = mem.read(end - start)
                    except (OSError, ValueError, OverflowError):
                        continue
                    if any(tell in data for tell in TELLS):
                        yield pid
        except OSError:
            continue


def test_the_consumers_code_is_somewhere():
    assert FOUND or any(True for _ in other_memory())
''' % ([*generated.NOT_JSON, *generated.NO_TEXT],)

# A suite that tests behaviour: the lesson's, and the author a consumer takes from the user in the scope.
AUTHOR_TEST = '''

def test_the_author_is_the_user_in_the_scope():
    async def scenario():
        alice = await joined("lobby", "alice")
        await say(alice, "who am i")
        assert (await heard(alice))["author"] == "alice"
        await alice.disconnect()

    asyncio.run(scenario())
'''


def with_suite(tree, text: str):
    (tree / SUITE).write_text(text, encoding="utf-8")
    return tree


def test_the_attack_would_tell_every_variant_from_its_code():
    """What makes the attack an attack: given the compiled code, it finds every fault and no correct one."""
    namespace: dict = {}
    exec(CLASSIFIER, namespace)
    for style in generated.STYLES:
        for fault in (None, *generated.FAULTS):
            for _ in range(40):
                code = compile(generated.consumer(style, fault), "consumers.py", "exec", optimize=2)
                found = namespace["faults"](code)
                assert (fault in found) if fault else not found, (style, fault, found)


def watch_for_consumers(tree, seen: list, stop: threading.Event) -> None:
    """Notes every process of this grading that serves the kit's consumers (python -m kit.services.relay_consumers)."""
    while not stop.is_set():
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if "kit.services.relay_consumers" in (proc.info["cmdline"] or []) and \
                        proc.environ().get("KIT_SOURCE_TREE") == str(tree.resolve()):
                    seen.append(proc.pid)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        stop.wait(0.2)


def test_the_attack_that_reads_the_consumers_code_scores_nothing(solved_tree):
    seen, stop = [], threading.Event()
    watcher = threading.Thread(target=watch_for_consumers, args=(solved_tree, seen, stop), daemon=True)
    watcher.start()
    try:
        report = grade_json(with_suite(solved_tree, ATTACK), "testing", env=FAST)
    finally:
        stop.set()
        watcher.join()
    result = stage(report, "testing")
    assert not result["passed"] and result["points"] == 0, result
    # It found no code, so it passed everything: the check that asks whether a suite tests anything says so.
    assert any("and on every other broken consumer too" in f["message"] for f in result["failures"]), result
    assert seen, "no process served the kit's consumers"
    assert leftovers(solved_tree) == [], "the consumers' process outlived the checkpoint"


def test_a_suite_that_hunts_for_the_consumers_code_finds_none(solved_tree):
    results = checkpoint_outcomes(with_suite(solved_tree, HUNT), "testing", select="correct_consumer", env=FAST)
    for name, entry in results.items():
        if name.endswith("[yours]"):
            assert entry["outcome"] == "passed", entry  # the learner's own consumer is theirs to read
        else:
            assert entry["outcome"] == "failed" and "failed on a correct consumer" in entry["message"], entry


def test_a_suite_that_tests_behaviour_scores_full_marks(solved_tree):
    text = (solved_tree / SUITE).read_text(encoding="utf-8")
    report = grade_json(with_suite(solved_tree, text + AUTHOR_TEST), "testing", env=FAST)
    result = stage(report, "testing")
    assert result["passed"] and result["points"] == 10, result["failures"]


# The relay on its own, without a grading: one consumer of each style in `python -m kit.services.relay_consumers`, a stand-in
# routed as the lesson routes ChatConsumer, and the test's own in-memory layer.
RELAY = '''
import asyncio, json, os, socket, subprocess, sys, tempfile

sys.path.insert(0, sys.argv[2])
import consumers_under_test as generated
from django.conf import settings

settings.configure(INSTALLED_APPS=[], CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}})
import django

django.setup()
from channels.layers import get_channel_layer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import re_path

from kit.services import relay

writer = generated.Writer(sys.argv[1], None)
folder = tempfile.mkdtemp(prefix="kit-relay-test-")
listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listening.bind(folder + "/c.sock")
listening.listen(8)
with open(folder + "/jobs", "w") as handle:
    json.dump([[listening.fileno(), writer.text()]], handle)
fd = os.open(folder + "/jobs", os.O_RDONLY)
os.unlink(folder + "/jobs")
served = subprocess.Popen([sys.executable, "-P", "-m", "kit.services.relay_consumers", str(fd)], pass_fds=(fd, listening.fileno()),
                          stdout=subprocess.PIPE)
os.close(fd)
listening.close()
assert served.stdout.readline() == b"ready\\n"
relay.StandIn.address = folder + "/c.sock"
app = URLRouter([re_path(r"^ws/chat/(?P<room_name>[^/]+)/$", relay.StandIn.as_asgi())])


class User:
    is_authenticated, pk = True, 7

    def get_username(self):
        return "alice"


def members():
    return sum(len(channels) for channels in get_channel_layer().groups.values())


async def joined(room):
    socket = WebsocketCommunicator(app, f"/ws/chat/{room}/")
    socket.scope["user"] = User()
    connected, _ = await socket.connect(timeout=10)
    assert connected
    return socket


async def main():
    layer, seen = get_channel_layer(), {}
    alice = await joined("\\u0986\\u09a1\\u09cd\\u09a1\\u09be")
    seen["members"] = members()
    await alice.send_to(text_data=json.dumps({"message": "hi"}))
    seen["frame"] = json.loads(await alice.receive_from(timeout=10))
    group = next(name for name, channels in layer.groups.items() if channels)
    await layer.group_send(group, {"type": writer.kind, writer.text_key: "from the test", writer.author_key: ""})
    seen["pushed"] = json.loads(await alice.receive_from(timeout=10))
    await alice.disconnect(timeout=10)
    seen["after"] = members()
    bob = await joined("lobby")
    group = next(name for name, channels in layer.groups.items() if channels)
    await layer.group_send(group, {"type": "kit.nobody.handles.this"})
    try:
        await bob.receive_from(timeout=1)  # a crash shows when the wait ends, as in one process
    except Exception as exc:
        seen["crash"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(seen))


try:
    asyncio.run(main())
finally:
    served.kill()
'''


@pytest.mark.parametrize("style", generated.STYLES)
def test_the_relay_keeps_the_layer_the_user_and_a_crash(style):
    done = subprocess.run([sys.executable, "-c", RELAY, style, str(KIT_ROOT / "exercises")], capture_output=True,
                          text=True, timeout=120, cwd=KIT_ROOT, env={**os.environ, "PYTHONPATH": str(KIT_ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["members"] == 1 and seen["after"] == 0, seen               # the consumer's group, on our layer
    assert seen["frame"] == {"message": "hi", "author": "alice"}, seen     # the user crossed as alice
    assert seen["pushed"]["message"] == "from the test", seen              # our group_send reached it
    assert seen["crash"].startswith("ConsumerCrashed: the consumer under test raised ValueError"), seen
