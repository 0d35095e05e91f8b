"""What the notebook helpers and the lessons' cells show, in a Bengali lesson's kernel: the course map, the
helpers' messages, printed guidance, rich tables and plot text in Bengali (kit/lessons/speaking.py LESSON_SAYS);
anything that is not a lesson's own sentence is shown as it is. Runs in a child Python, since a Bengali
lesson changes print() and rich's and matplotlib's output for its kernel."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from conftest import KIT_ROOT, STARTER, copy_tree
from test_bengali_prose import english_prose

SCRIPT = textwrap.dedent('''
    import io, json, sys, types, contextlib
    sys.modules.setdefault("ipykernel", types.ModuleType("ipykernel"))
    import matplotlib
    matplotlib.use("Agg")
    from kit.lessons import notebook as nb
    from kit.lessons.fonts import use_for_plots
    use_for_plots()
    nb.speak_lesson_language()
    out = {}
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        print("both experiment servers stopped")
        print(f"HTTP: {12} requests, {9} of them answered 'nothing new'. WebSocket: 1 connection, {3} pushed messages.")
        print(f"{'in a thread':<12} longest gap between ticks: {20:6.0f} ms")
        print("No channel layer yet: add CHANNEL_LAYERS to settings.py, save, restart the kernel, run again.")
        print("alice got:", {"message": "hi lobby"})
        print("a learner's own words stay")
    out["printed"] = buffer.getvalue()
    from rich.console import Console
    from rich.table import Table
    table = Table(title="How late did each client learn the news? (seconds)")
    for column in ("item", "happened at", "HTTP polling: late by", "WebSocket push: late by"):
        table.add_column(column)
    console = Console(file=io.StringIO(), width=200)
    console.print(table)
    out["table"] = console.file.getvalue()
    import matplotlib.pyplot as plt
    from matplotlib.text import Text
    fig, ax = plt.subplots()
    ax.plot([1, 2], [1, 2], label="query on the loop")
    ax.set_yticks([1, 2], ["HTTP client\\n(learns at its next poll)", "newsroom"])
    ax.set_xlabel("heartbeat tick")
    ax.set_ylabel("ms since the previous tick")
    ax.set_title("What every other socket feels during one slow query")
    ax.legend()
    fig.canvas.print_figure(io.BytesIO(), format="png")
    out["plot"] = [t.get_text() for t in fig.findobj(Text) if t.get_text() and not t.get_text()[0].isdigit()]
    out["map"] = nb._course_map()
    from IPython.display import Markdown
    url = "http://127.0.0.1:8000/chat/lobby/"
    out["markdown"] = Markdown(f"Open the room in a browser tab: [{url}]({url}) (open it twice to chat with yourself)")._repr_markdown_()
    out["map_as_markdown"] = Markdown(out["map"])._repr_markdown_()
    try:
        nb.use_project(sys.argv[1])
        nb.load("myapp.broken")
    except nb.LessonError as exc:
        out["load"] = str(exc)
    print(json.dumps(out))
''')


@pytest.fixture(scope="module")
def shown(tmp_path_factory):
    tree = copy_tree(STARTER, tmp_path_factory.mktemp("bn") / "project")
    (tree / "myapp" / "broken.py").write_text("def oops(:\n    pass\n")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tree)], cwd=KIT_ROOT, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "KIT_LANG": "bn", "PYTHONPATH": str(KIT_ROOT),
                                            "HOME": str(tree.parent), "MPLCONFIGDIR": str(tree.parent / "mpl")})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_printed_guidance_is_bengali_and_other_output_stays(shown):
    lines = shown["printed"].splitlines()
    assert lines[0] == "পরীক্ষার দুটি সার্ভারই থেমেছে"
    assert "12টি রিকোয়েস্ট" in lines[1] and "থ্রেডে:" in lines[2] and "channel layer নেই" in lines[3]
    assert lines[4] == "alice পেয়েছে: {'message': 'hi lobby'}"   # the label in Bengali, the value as it is
    assert lines[5] == "a learner's own words stay"
    assert english_prose("\n".join(lines[:4])) == []


def test_rich_tables_and_plots_are_bengali(shown):
    assert "কোন ক্লায়েন্ট খবরটি কত দেরিতে জানল?" in shown["table"] and english_prose(shown["table"]) == []
    assert "নিউজরুম" in shown["plot"] and "HTTP ক্লায়েন্ট\n(পরের পোলে জানে)" in shown["plot"]
    assert english_prose("\n".join(shown["plot"])) == [], shown["plot"]


def test_the_course_map_is_bengali(shown):
    assert shown["map"].startswith("| # | ধাপ | আপনি বানাবেন | পয়েন্ট | নোটবুক |")
    assert "| ৩ | `consumer` |" in shown["map"] and english_prose(shown["map"]) == [], shown["map"]


def test_a_failed_import_is_said_in_bengali(shown):
    assert shown["load"].startswith("myapp.broken ইমপোর্ট করা ফেল করেছে (broken.py, লাইন 1): SyntaxError")
    assert "এই সেলটি আবার চালান" in shown["load"]


def test_a_cells_markdown_is_bengali_and_keeps_its_link(shown):
    url = "http://127.0.0.1:8000/chat/lobby/"
    assert shown["markdown"].startswith(f"রুমটি একটি ব্রাউজার ট্যাবে খুলুন: [{url}]({url})"), shown["markdown"]
    assert english_prose(shown["markdown"]) == []
    assert shown["map_as_markdown"] == shown["map"]   # Bengali already: shown as it is
