"""Every solution line is written once (issue 19): a file several stages change is one finished file with
stage regions (kit/course/regions.py), and each stage's state is cut out of it.

What this proves: each state is byte for byte the copy solutions/stages/ held before the move; no
marker reaches a learner (`kit solve`, a lesson's fragment, the file a refusal points to); the finished
file, graded as it is, runs as the finished state; a marker out of place is an error, never a silent
cut. That each state passes exactly its stages is test_learning_path's solve matrix
(test_starter_plus_solve_of_stages_1_to_k_passes_exactly_those), which solves through these states.
"""
from __future__ import annotations

import ast

import pytest
from conftest import SOLUTIONS
from moved import require_unchanged_since_move, show

from kit.course import catalogue, files, regions
from kit.lessons import fragments
from kit.course.catalogue import PROJECT_FILES, STAGES

MARK = "kit-stage:"


def marked() -> list[str]:
    return [f for f in PROJECT_FILES if (SOLUTIONS / f).is_file()
            and regions.has_regions((SOLUTIONS / f).read_text(encoding="utf-8"), f)]


def test_each_stage_state_is_the_copy_it_replaces():
    require_unchanged_since_move(["solutions"], "A", "kit/regions.py")   # where the move put it
    compared = 0
    for relpath in PROJECT_FILES:
        for index, stage in enumerate(STAGES):
            owners = [s.id for s in STAGES[:index + 1] if relpath in s.files]
            if not owners:
                continue
            then = show(f"solutions/stages/{owners[-1]}/{relpath}") or show(f"solutions/{relpath}")
            now = files.solution_text(relpath, stage)
            assert now is not None and now.encode("utf-8") == then, f"{relpath} after {stage.id}"
            compared += 1
        if (SOLUTIONS / relpath).is_file():
            assert files.solution_text(relpath).encode("utf-8") == show(f"solutions/{relpath}"), relpath
    assert compared > 50 and len(marked()) >= 4


def test_no_marker_reaches_a_learner():
    for relpath in PROJECT_FILES:
        for stage in STAGES:
            assert MARK not in (files.solution_text(relpath, stage) or ""), f"{relpath} after {stage.id}"
            assert MARK not in (files.before_text(relpath, stage) or ""), f"{relpath} as {stage.id} starts"
    for fragment in fragments.load().values():
        assert MARK not in fragment.text(), fragment.id


def test_a_refusal_points_to_a_file_without_markers():
    for relpath in marked():
        for stage in catalogue.stages_for_file(relpath):
            copy = files.solution_copy(relpath, stage)
            assert copy is not None and copy.read_text(encoding="utf-8") == files.solution_text(relpath, stage)
            assert MARK not in copy.read_text(encoding="utf-8"), copy
    plain = catalogue.get("push")
    assert files.solution_copy("myapp/push.py", plain) == SOLUTIONS / "myapp/push.py"   # no regions: itself


def _code(text: str) -> str:
    """The module's code with its docstrings left out (a region inside a docstring is text there)."""
    tree = ast.parse(text)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body[0] = ast.Pass()
    return ast.dump(tree)


def test_the_graded_finished_file_runs_as_the_finished_state():
    """solutions/ is graded as it is: in Python a region the finished state lacks is comments; in a
    template, a comment block, which Django renders as nothing."""
    from django.template import Engine
    from django.template.base import TextNode

    for relpath in marked():
        raw = (SOLUTIONS / relpath).read_text(encoding="utf-8")
        finished = files.solution_text(relpath)
        if relpath.endswith(".py"):
            assert _code(raw) == _code(finished), relpath
        else:
            engine = Engine(builtins=["django.templatetags.static"])

            def shape(text):
                """The page Django renders from the template, whitespace aside: its text and its tags."""
                said = [n.s if isinstance(n, TextNode) else f"<{type(n).__name__}>"
                        for n in engine.from_string(text).nodelist if type(n).__name__ != "CommentNode"]
                return " ".join("".join(said).split())

            assert shape(raw) == shape(finished) and "<IfNode>" in shape(raw), relpath


def test_each_region_belongs_to_stages_that_change_the_file():
    """A region names only stages that own the file, and each owner's state differs from the one before it."""
    for relpath in marked():
        owners = [s.id for s in catalogue.stages_for_file(relpath)]
        for line in (SOLUTIONS / relpath).read_text(encoding="utf-8").splitlines():
            words = line.split(MARK)[1].replace('"', " ").replace("#}", " ").replace("%}", " ").split() \
                if MARK in line else ["end"]
            named = [w for w in words if w not in ("from", "before", "end")]
            assert words == ["end"] or named and set(named) <= set(owners), f"{relpath}: {line.strip()}"
        states = [files.solution_text(relpath, catalogue.get(o)) for o in owners]
        assert all(a != b for a, b in zip(states, states[1:])), f"{relpath}: a stage region changes nothing"


@pytest.mark.parametrize("text, problem", [
    ("a\n# kit-stage: from users\nb\n", "never closed"),
    ("a\n# kit-stage: end\n", "no region open"),
    ("# kit-stage: from nowhere\nb\n# kit-stage: end\n", "no stage 'nowhere'"),
    ("# kit-stage: from users\n# kit-stage: before history\n# kit-stage: end\n", "do not nest"),
    ("# kit-stage: before users\nb = 1\n# kit-stage: end\n", "must start '# '"),
    ("# kit-stage: from history before users\n# b\n# kit-stage: end\n", "no stage is both"),
])
def test_a_marker_out_of_place_is_an_error(text, problem):
    with pytest.raises(regions.RegionError, match=problem):
        regions.cut(text, "x.py", "history")


def test_cut_keeps_what_each_stage_has():
    text = ("a\n    # kit-stage: before users\n    # old = 1\n    #\n    # kit-stage: end\n"
            "    # kit-stage: from users\n    new = 2\n    # kit-stage: end\nz\n")
    assert regions.cut(text, "x.py", "consumer") == "a\n    old = 1\n\nz\n"
    assert regions.cut(text, "x.py", "users") == regions.cut(text, "x.py") == "a\n    new = 2\nz\n"
    page = ('<p>\n{# kit-stage: from users #}\nnew\n{# kit-stage: end #}\n'
            '{% comment "kit-stage: before users" %}\nold\n{% endcomment %}\n</p>\n')
    assert regions.cut(page, "room.html", "frontend") == "<p>\nold\n</p>\n"
    assert regions.cut(page, "room.html") == "<p>\nnew\n</p>\n"
    with pytest.raises(regions.RegionError, match="comment"):
        regions.cut('{# kit-stage: before users #}\nold\n{# kit-stage: end #}\n', "room.html")


def test_the_tool_prints_a_state(tmp_path, capsys):
    path = tmp_path / "settings.py"
    path.write_text((SOLUTIONS / "myproject/settings.py").read_text(encoding="utf-8"), encoding="utf-8")
    assert regions.main(["settings", str(path)]) == 0
    assert capsys.readouterr().out == files.solution_text("myproject/settings.py", catalogue.get("settings"))
