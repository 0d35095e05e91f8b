"""The hint ladders are data (kit/course/hint_ladders/*.toml): Babel finds every rung, and what a learner is shown
is what the Python ladders showed before the move (issue 19).

`kit hint`, the check table's next step and a notebook's hint() all take a rung from
catalogue.hint_ladder() and say it through the catalogue (i18n.translated), `kit hint` inside its
"Hint N of M" line. RENDER says all of that for every check, cause and rung in both languages; it
runs in this tree and in a git worktree of BEFORE (the commit before the move, tests/moved.py) with
this venv's Python and today's catalogue, and the two must agree to the letter.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import polib
import pytest
from conftest import KIT_ROOT
from moved import BEFORE, git, require_unchanged_since_move

from kit.course import catalogue, hints, i18n
from kit.course.extractors import extract, rungs


# Only names both trees have: the ladders' public reading and the catalogue's translation.
RENDER = r'''
import ast, json, sys
from kit.course import catalogue, hints, i18n

out = {}
for lang in ("en", "bn"):
    say = i18n.translation(lang).gettext
    for stage in catalogue.STAGES:
        tree = ast.parse(stage.checkpoint.read_text(encoding="utf-8"))
        checks = sorted({n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
                        | set(hints.LADDERS.get(stage.id, {})) | {"stage"})
        causes = [None, *sorted(hints.FAILURE_LADDERS)]
        for check in checks:
            for cause in causes:
                data = {"template": cause, "params": {}} if cause else None
                ladder = catalogue.hint_ladder(stage.id, check + "[x]", data)
                shown = [say("Hint {rung} of {rungs}: {hint}").format(
                    rung=i18n.numeral(n + 1, lang), rungs=i18n.numeral(len(ladder), lang),
                    hint=i18n.translated(rung, lang)) for n, rung in enumerate(ladder)]
                if cause is None:   # the table's next step: the first rung, and hint_for's climb
                    shown += [i18n.translated(catalogue.hint_for(stage.id, check, n), lang) for n in range(4)]
                out[f"{lang} {stage.id} {check} {cause or ''}"] = shown
json.dump(out, sys.stdout, ensure_ascii=False, sort_keys=True)
'''


def rendered(tree) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    for name in ("KIT_LANG", "KIT_LAB_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-c", RENDER], cwd=tree, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def before_tree(tmp_path_factory):
    """A worktree of BEFORE, holding today's catalogue: a Bengali rung edited since then says the same in both."""
    require_unchanged_since_move(["kit/hint_ladders", "kit/course/hint_ladders"], "A", "kit/hint_ladders")
    tree = tmp_path_factory.mktemp("hints") / "before"
    assert git("worktree", "add", "--detach", str(tree), BEFORE).returncode == 0
    try:
        for name in ("kit.pot", "bn/LC_MESSAGES/kit.po"):
            (tree / "locale" / name).write_bytes((KIT_ROOT / "locale" / name).read_bytes())
        yield tree
    finally:
        git("worktree", "remove", "--force", str(tree))


def test_every_hint_shows_as_before_in_both_languages(before_tree):
    then, now = rendered(before_tree), rendered(KIT_ROOT)
    assert set(then) == set(now), f"checks gained or lost: {sorted(set(then) ^ set(now))[:5]}"
    differ = [key for key in then if then[key] != now[key]]
    assert not differ, f"{len(differ)} hints differ, first {differ[0]}:\n{then[differ[0]]}\n{now[differ[0]]}"
    bengali = [s for k, v in now.items() if k.startswith("bn ") for s in v if any("\u0980" <= c <= "\u09ff" for c in s)]
    assert len(bengali) > 1000, "the Bengali hints were not rendered in Bengali"


def ladder_files():
    return sorted(hints.HERE.glob("*.toml"))


def test_a_stages_ladders_are_found_by_its_id():
    ids = {s.id for s in catalogue.STAGES}
    assert {p.stem for p in ladder_files()} - {hints.CAUSES} <= ids
    assert set(hints.LADDERS) == {p.stem for p in ladder_files()} - {hints.CAUSES}
    assert hints.FAILURE_LADDERS[hints.INDENT_ERROR] == hints.FAILURE_LADDERS[hints.SYNTAX_ERROR]


def test_babel_extracts_every_rung_and_each_has_its_bengali():
    pot = {e.msgid for e in polib.pofile(str(i18n.LOCALE_DIR / "kit.pot"))}
    po = {e.msgid: e for e in polib.pofile(str(i18n.LOCALE_DIR / "bn" / "LC_MESSAGES" / "kit.po"))}
    every = {r for ladders in hints.LADDERS.values() for ladder in ladders.values() for r in ladder}
    every |= {r for ladder in hints.FAILURE_LADDERS.values() for r in ladder}
    extracted = set()
    for path in ladder_files():
        with path.open("rb") as data:
            extracted |= {message for _line, _f, message, _c in extract(data, (), (), {})}
    assert every and extracted == every, f"the extractor misses {sorted(every - extracted)[:3]}"
    assert every <= pot, f"not in locale/kit.pot: {sorted(every - pot)[:3]}"
    untranslated = [r for r in every if r not in po or not po[r].msgstr or "fuzzy" in po[r].flags]
    assert not untranslated, f"no Bengali for {untranslated[:3]}"


def test_the_extractor_reads_rungs_only_and_skips_a_stage_on_request(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text('[test_a]\nrungs = ["one", """two \\\n    lines"""]\n\n[[cause]]\nrungs = ["three"]\n'
                    '[cause.templates]\nNAME = "a template"\n', encoding="utf-8")
    with path.open("rb") as data:
        found = [(line, message) for line, _f, message, _c in extract(data, (), (), {})]
    assert found == [(1, "one"), (1, "two lines"), (5, "three")]
    with path.open("rb") as data:
        assert list(extract(data, (), (), {"skip_stages": "demo"})) == []
    assert rungs({"x": {"rungs": ["a", ""]}}) == [("x", "a")]
