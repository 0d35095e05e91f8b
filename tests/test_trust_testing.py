"""The `testing` stage cannot be passed by reading source (issue 16, part 8).

The consumers a learner's suite meets are written afresh for each grading, from four styles, with names and
strings drawn at random: no line of text tells a broken one from a correct one. They run in a process of
their own (kit/services/relay.py), so neither their text nor their code enters the suite's sandbox; myapp/consumers.py
there is a stub an audit hook refuses to open: a suite that reads it, by any route, scores 0 and is told so
in one plain sentence. A suite that looks for the consumer's code finds none (tests/test_trust_testing_process.py,
for the routes to code that the suite's process held before).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest

from conftest import KIT_ROOT, SOLUTIONS, checkpoint_outcomes, copy_tree, grade_json, stage
from kit.isolation import sandbox

sys.path.insert(0, str(KIT_ROOT / "exercises"))
import consumers_under_test as generated  # noqa: E402

FAST = {"KIT_WAIT": "3"}
SUITE = "myapp/tests/test_consumers.py"
CORRECT_ASYNC = "test_your_tests_pass_on_a_correct_consumer[async]"
READ_SENTENCE = "Your tests tried to read myapp/consumers.py (its text or its compiled code): here the consumers " \
                "your tests meet cannot be read, only driven through their sockets"

# A suite that grades the consumer by its text: the tell-tale snippets of the kit's broken consumers.
GREP_SUITE = textwrap.dedent('''
    from pathlib import Path

    TELLS = ["or True", '"chat_all"', '-left"', '{"text":', "    data = json.loads(text_data)\\n        message",
             'event.get("sender")', "await self.chat_message(", "channel_layer.send(self.channel_name",
             ".upper()", "close_code == 4000", "(KeyError, TypeError)", 'return "chat_" + room']


    def test_the_consumer_has_no_known_bug():
        text = (Path(__file__).resolve().parents[1] / "consumers.py").read_text()
        assert "ChatConsumer" in text
        assert not any(tell in text for tell in TELLS)
''')

# The same idea, by each route to a file's text a suite might take.
READERS = {
    "open": "return open(CONSUMERS, encoding='utf-8').read()",
    "pathlib": "return CONSUMERS.read_text()",
    "os.open": "fd = os.open(str(CONSUMERS), os.O_RDONLY)\nreturn os.read(fd, 1 << 20).decode()",
    "inspect-module": "import inspect\nimport myapp.consumers\nreturn inspect.getsource(myapp.consumers)",
    "inspect-class": "import inspect\nfrom myapp.consumers import ChatConsumer\nreturn inspect.getsource(ChatConsumer)",
    "linecache": "import linecache\nimport myapp.consumers\n"
                 "return ''.join(linecache.getlines(myapp.consumers.__file__))",
    "loader": "import importlib.machinery\n"
              "return importlib.machinery.SourceFileLoader('x', str(CONSUMERS)).get_data(str(CONSUMERS)).decode()",
}
# Routes to the consumer's compiled code, which the suite's process held when the consumer ran there: now it
# holds a stand-in with no such code, and a suite that needs it fails on a correct consumer.
CODE_READERS = {
    "__code__": "from myapp.consumers import ChatConsumer\n"
                "return ' '.join(n for f in vars(ChatConsumer).values() if callable(f) for n in f.__code__.co_names)",
    "dis": "import dis, io\nfrom myapp.consumers import ChatConsumer\nout = io.StringIO()\n"
           "dis.dis(ChatConsumer, file=out)\nreturn out.getvalue()",
    "gc": "import gc\nfrom myapp.consumers import ChatConsumer\nreturn ' '.join(n for f in vars(ChatConsumer).values() "
          "if callable(f) for c in gc.get_referents(f) if hasattr(c, 'co_names') for n in c.co_names)",
    "ctypes": "import ctypes\nfrom myapp.consumers import ChatConsumer\nget = ctypes.pythonapi.PyFunction_GetCode\n"
              "get.restype, get.argtypes = ctypes.py_object, [ctypes.py_object]\n"
              "return ' '.join(get(ChatConsumer.receive).co_names)",
    "finder": "import sys\nimport myapp.consumers\n"
              "finder = next(f for f in sys.meta_path if type(f).__name__ == 'Consumer')\n"
              "return ' '.join(finder.run.gi_frame.f_locals['code'].co_names)",
    # A consumer frame from a traceback, its code through pytest's own traceback helpers.
    "pytest-internals": textwrap.dedent('''\
        import asyncio
        import _pytest._code
        from myapp.consumers import ChatConsumer

        class Fake:
            def __getattr__(self, name):
                raise LookupError(name)

        try:
            asyncio.run(ChatConsumer.connect(Fake()))
        except LookupError as error:
            tb, found = error.__traceback__, []
            while tb is not None:
                if tb.tb_frame.f_globals.get("__name__") == "myapp.consumers":
                    found.append(_pytest._code.Frame(tb.tb_frame).code.raw)
                tb = tb.tb_next
            return " ".join(name for code in found for name in code.co_names)
        return ""'''),
    "proc-mem": "return open('/proc/self/mem', 'rb').read(16).decode('latin-1')",
}
READER_SUITE = '''import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
django.setup()

from pathlib import Path  # noqa: E402

CONSUMERS = Path(__file__).resolve().parents[1] / "consumers.py"


def source():
{body}


def test_the_consumer_is_written_the_right_way():
    text = source()
    assert "group_send" in text and "group_discard" in text
'''


def with_suite(tree, text: str):
    (tree / SUITE).write_text(text, encoding="utf-8")
    return tree


NAMES = sorted({*generated.GROUP_ATTRS, *generated.HELPERS, "sender", "origin", "from_channel", "channel"},
               key=len, reverse=True)


def shapes(text: str) -> set[str]:
    """A consumer's lines with strings and drawn names blanked: what a pattern written in advance could match."""
    out = set()
    for line in text.splitlines():
        line = re.sub(r"\"[^\"]*\"|'[^']*'", "S", line.strip())
        line = re.sub(r"\b(%s)(_\d\d)?\b" % "|".join(NAMES), "ID", line)
        line = re.sub(r"\b_[a-z]+_[0-9a-f]{4}\b", "ID", line)
        if line:
            out.add(line)
    return out


def test_no_line_tells_a_broken_consumer_from_a_correct_one():
    """Every line of every broken consumer, names and strings aside, is also a line of some correct one; and
    what every correct one holds, broken ones hold too."""
    # Enough correct ones that a rare line (a sync style, a spare method calling one handler by name) is seen:
    # at 1500 it was missed in about one run in three.
    correct = [shapes(generated.consumer()) for _ in range(6000)]
    seen_in_correct = set().union(*correct)
    always_in_correct = set.intersection(*correct)
    for fault in generated.FAULTS:
        broken = [shapes(generated.consumer(fault=fault)) for _ in range(100)]
        tells = set().union(*broken) - seen_in_correct
        assert not tells, (fault, tells)
        assert always_in_correct <= set.intersection(*broken), fault


def test_every_generated_consumer_compiles_and_differs():
    texts = [generated.consumer(style, fault) for style in generated.STYLES for fault in (None, *generated.FAULTS)
             for _ in range(10)]
    for text in texts:
        compile(text, "consumers.py", "exec")
    assert len(set(texts)) == len(texts)


def test_a_suite_that_greps_the_source_scores_nothing(solved_tree):
    results = checkpoint_outcomes(with_suite(solved_tree, GREP_SUITE), "testing", env=FAST)
    correct = {name: entry for name, entry in results.items() if "correct_consumer" in name}
    yours = "test_your_tests_pass_on_a_correct_consumer[yours]"
    assert results[yours]["outcome"] == "passed"  # the learner's own file is theirs to read
    for name, entry in correct.items():
        if name != yours:
            assert entry["outcome"] == "failed" and entry["message"].startswith(READ_SENTENCE), entry
            assert "Traceback" not in entry["message"] and "def " not in entry["message"]
    result = stage(grade_json(solved_tree, "testing", env=FAST), "testing")
    assert not result["passed"] and result["points"] == 0


@pytest.mark.parametrize("route", [*READERS, *CODE_READERS])
def test_reading_the_consumer_by_any_route_scores_nothing_and_says_so(solved_tree, route):
    body = textwrap.indent(READERS.get(route) or CODE_READERS[route], "    ")
    results = checkpoint_outcomes(with_suite(solved_tree, READER_SUITE.format(body=body)), "testing",
                                  select="correct_consumer and async", env=FAST)
    entry = results[CORRECT_ASYNC]
    said = READ_SENTENCE if route in READERS else "Your tests failed on a correct consumer"
    assert entry["outcome"] == "failed" and entry["message"].startswith(said), entry


def test_a_suite_that_searches_the_sandbox_for_the_text_finds_none(solved_tree):
    """No file, descriptor or temporary file of the run holds the consumer's text: a search comes back empty."""
    if not sandbox.detect().sandboxed:
        pytest.skip("without a sandbox, /tmp is the machine's, with other trees in it")
    suite = textwrap.dedent('''
        import os


        def places():
            for top in (os.getcwd(), "/tmp"):
                for folder, _, names in os.walk(top):
                    yield from (os.path.join(folder, name) for name in names if name != "consumers.py")
            yield from (os.path.join("/proc/self/fd", fd) for fd in os.listdir("/proc/self/fd"))


        def test_the_consumers_text_is_somewhere():
            found = []
            for path in places():
                try:
                    with open(path, "rb") as handle:
                        data = handle.read(1 << 20)
                except OSError:
                    continue
                if (b"class Chat" + b"Consumer(") in data and (b"group" + b"_add(") in data:
                    found.append(path)
            assert found
    ''')
    results = checkpoint_outcomes(with_suite(solved_tree, suite), "testing", select="correct_consumer and async",
                                  env=FAST)
    assert results[CORRECT_ASYNC]["outcome"] == "failed", results[CORRECT_ASYNC]


MATRIX = '''
import json, sys
from concurrent.futures import ThreadPoolExecutor

sys.path[:0] = [sys.argv[1]]
import consumers_under_test as generated
import test_testing as checker

jobs = [(style, fault, (i + j) % 3) for i, style in enumerate(generated.STYLES)
        for j, fault in enumerate([None, *sys.argv[2].split(",")])]
texts = {}
for number, (style, fault, way) in enumerate(jobs):
    writer = generated.Writer(style, fault)
    writer.way = way
    texts[number] = writer.text()
served = checker.Served(texts)


def run(number):
    style, fault, way = jobs[number]
    result = checker.run_suite(served.places[number], served)
    return [style, fault, way, result.outcome, result.why, result.failed]


try:
    with ThreadPoolExecutor(3) as pool:
        print(json.dumps(list(pool.map(run, range(len(jobs))))))
finally:
    served.stop()
'''


def lesson_suite_on_every_variant(project, faults) -> list:
    env = {**os.environ, "KIT_GRADED_PROJECT": str(project), "KIT_WAIT": "3",
           "KIT_GRADING_ISOLATION": sandbox.detect().kind}
    done = subprocess.run([sys.executable, "-c", MATRIX, str(KIT_ROOT / "exercises"), ",".join(faults)],
                          capture_output=True, text=True, timeout=900, env=env, cwd=KIT_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_lessons_suite_passes_every_correct_style_and_catches_every_broken_variant():
    """Each style, correct and with each fault (the ways of breaking it spread over the styles)."""
    for style, fault, way, outcome, why, failed in lesson_suite_on_every_variant(SOLUTIONS, generated.FAULTS):
        assert outcome == ("passed" if fault is None else "failed"), (style, fault, way, why, failed)


def test_a_consumer_that_never_leaves_breaks_no_other_promise(tmp_path):
    """What the missing-test message relies on: only the leave test tells never-leaves from correct."""
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    text = (tree / SUITE).read_text(encoding="utf-8")
    cut = re.search(r"\ndef test_a_socket_leaves_its_group_on_disconnect\(\):.*?\n(?=\ndef )", text, re.S)
    (tree / SUITE).write_text(text.replace(cut.group(0), "\n"), encoding="utf-8")
    for style, fault, way, outcome, why, failed in lesson_suite_on_every_variant(tree, ["never-leaves"] * 2):
        assert outcome == "passed", (style, fault, way, why, failed)


LINKED_REPORT_SUITE = '''
import atexit, os

PLANTED = {planted!r}


def _swap():
    # pytest writes its JUnit report, then this runs: the report becomes a link to a file of the machine
    for arg in open("/proc/self/cmdline", "rb").read().split(b"\\0"):
        if arg.startswith(b"--junitxml="):
            path = arg.split(b"=", 1)[1].decode()
            try:
                os.unlink(path)
            except OSError:
                pass
            os.symlink(PLANTED, path)


atexit.register(_swap)


def test_fails():
    assert False
'''


def test_the_report_is_never_read_through_a_link_the_suite_plants(solved_tree, tmp_path):
    """A root-only file of the machine, linked in place of the suite's JUnit report, is never parsed into a
    verdict: its test case name reaches no message."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    planted = private / "secret.xml"
    planted.write_text('<testsuite tests="1" failures="1"><testcase name="ROOT-ONLY-FILE-READ"><failure/>'
                       '</testcase></testsuite>', encoding="utf-8")
    planted.chmod(0o600)
    report = grade_json(with_suite(solved_tree, LINKED_REPORT_SUITE.format(planted=str(planted))), "testing",
                        env=FAST)
    assert "ROOT-ONLY-FILE-READ" not in json.dumps(report)
    assert stage(report, "testing")["points"] == 0
