"""The history stage's event-loop checks judge only a slowdown they saw happen (issue 16).

The checks ask the host to make each query of the Message table sleep, then time
the server's loop with another socket's pings. The host is the learner's own
interpreter: the sixth review's tree ran every Message query on the event loop
(database_sync_to_async replaced by a plain async wrapper, DJANGO_ALLOW_ASYNC_UNSAFE
set) and made the host's slow_queries a no-op from settings.py. Its queries were
then quick, the loop never stood still, and it scored history 10/10. Now the checks
read, on their own clock, when the joiner's history came: a slowed query cannot send
it sooner than the slowdown, so a skipped slowdown fails the stage in a sentence.

The same tree without the settings.py patch (the control) fails on the frozen loop,
as it always did, and solutions/ still pass.
"""
from __future__ import annotations

import textwrap

from conftest import MUST_FAIL, SOLUTIONS, copy_tree, grade_only, mutate, stage


ON_THE_LOOP = textwrap.dedent('''\


    def database_sync_to_async(function):
        """Not a worker thread: the query runs on the event loop, and freezes every socket while it runs."""
        async def on_the_loop(*args, **kwargs):
            return function(*args, **kwargs)
        return on_the_loop
''')
UNSAFE = '\n\nimport os as _os\n_os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"   # the ORM on the event loop\n'
NO_SLOWDOWN = textwrap.dedent('''
    # --- the host is this very process: its "slow the Message queries" intervention is made a no-op
    import sys as _sys
    _host = getattr(_sys.modules.get("__main__"), "Host", None)
    if _host is not None:
        _host.op_slow_queries = lambda self, seconds, kinds=(): {"table": "myapp_message"}
''')


def on_the_loop(tmp_path, *, skip_slowdown: bool):
    """solutions/ with every Message query on the event loop; with skip_slowdown, the host's slowdown undone."""
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    mutate(tree, "myapp/consumers.py", "from channels.db import database_sync_to_async\n", ON_THE_LOOP)
    settings = tree / "myproject/settings.py"
    settings.write_text(settings.read_text(encoding="utf-8") + UNSAFE + (NO_SLOWDOWN if skip_slowdown else ""),
                        encoding="utf-8")
    return tree


def failures(report: dict) -> str:
    return "\n".join(f"{f['test']}: {f['message']}" for f in stage(report, "history")["failures"])


def test_skipping_the_slowdown_scores_zero(tmp_path):
    report = grade_only(on_the_loop(tmp_path, skip_slowdown=True), "history", env=MUST_FAIL)
    history = stage(report, "history")
    assert not history["passed"] and history["points"] == 0, history
    # Failed because the slowdown was not seen, not by chance elsewhere: the hole itself is what closed.
    assert "the slowdown never reached the query" in failures(report), failures(report)


def test_the_control_without_the_patch_scores_zero(tmp_path):
    report = grade_only(on_the_loop(tmp_path, skip_slowdown=False), "history", env=MUST_FAIL)
    history = stage(report, "history")
    assert not history["passed"] and history["points"] == 0, history
    assert "the event loop stood still" in failures(report), failures(report)


def test_solutions_pass_history(tmp_path):
    report = grade_only(copy_tree(SOLUTIONS, tmp_path / "tree"), "history")
    history = stage(report, "history")
    assert history["passed"] and history["points"] == history["max_points"], failures(report)
