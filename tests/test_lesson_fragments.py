"""The code a lesson tells the learner to write works when pasted as the lesson says, in every language.

Each lesson's blocks come from the solutions (kit/lessons/fragments.toml, kit/lessons/fragments.py). Here
they are taken from the notebooks as a learner reads them, English and Bengali, pasted in lesson
order into the tree a learner holds as the stage starts, and graded by the real grader.
"""
from __future__ import annotations

import pytest

from conftest import STARTER, copy_tree, grade_json, solved_through, stage
from kit.course import catalogue
from kit.lessons import fragments, i18n_notebooks, markdown_blocks

FRAGMENTS = fragments.load()
TAUGHT = [s for s in catalogue.STAGES if any(f.stage == s.id for f in FRAGMENTS.values())]
LANGUAGES = (None, *i18n_notebooks.LANGUAGES)      # None: the English notebook


def test_every_fragment_block_matches_its_source():
    """Fast: every block, in every language, is its fragment's text, and each lesson shows each of its fragments once."""
    assert fragments.problems() == []


def test_translations_show_the_same_blocks():
    for taught in TAUGHT:
        english = fragments.blocks(fragments.lesson(taught.id))
        for lang in i18n_notebooks.LANGUAGES:
            assert fragments.blocks(fragments.lesson(taught.id, lang)) == english, f"{lang}: {taught.notebook}"


def test_pasting_follows_the_paste_modes(tmp_path):
    """The modes the lessons rely on, on small files: where each block lands."""
    todo = fragments.Fragment("t/a", "routing", "f.py", "replace-todo B")
    lines = ["x = 1", "# TODO(routing): A", "# more A", "# TODO(routing): B", "#   B too", "# TODO(users): C", "y = 2"]
    assert fragments.paste(lines, ["b = 2"], todo) == ["x = 1", "# TODO(routing): A", "# more A", "b = 2",
                                                        "# TODO(users): C", "y = 2"]
    define = fragments.Fragment("t/b", "routing", "f.py", "replace-def ITEMS")
    lines = ["# TODO(routing): fill", "ITEMS = [", "    1,", "]", "", "z = 3"]
    assert fragments.paste(lines, ["ITEMS = [2]"], define) == ["ITEMS = [2]", "", "z = 3"]
    before = fragments.Fragment("t/c", "routing", "f.py", "before focus()")
    lines = ["a();", "focus();"]
    for block in (["f() {", "}"], ["g();"]):
        lines = fragments.paste(lines, block, before)
    assert lines == ["a();", "", "f() {", "}", "g();", "focus();"]
    replace = fragments.Fragment("t/e", "routing", "f.js", "replace log.value += data.message")
    lines = ["{", "    log.value += data.message;", "}"]
    assert fragments.paste(lines, ["    const a = 1;", "    log.value += a;"], replace) == \
        ["{", "    const a = 1;", "    log.value += a;", "}"]
    lines = ["A = 1", "if A:", "    B = 2", "else:", "    B = 3", "C = 4"]   # a statement's else belongs to it
    assert lines[1:fragments._extent(lines, 1)] == ["if A:", "    B = 2", "else:", "    B = 3"]
    imports = fragments.Fragment("t/d", "routing", "f.py", "imports")
    lines = ['"""Doc."""', "from a import b", "", "class C:", "    pass"]
    assert fragments.paste(lines, ["import json", "from a import b"], imports)[:3] == \
        ['"""Doc."""', "import json", "from a import b"]


@pytest.mark.parametrize("taught", TAUGHT, ids=lambda s: s.id)
def test_pasting_a_lesson_as_taught_passes_its_stage(taught, tmp_path):
    """The starter (or the tree solved through the stage before), the lesson's blocks pasted in order: the
    stage passes, and so do the earlier stages the change can break. Each language's
    notebook is pasted into a tree of its own; the trees must come out identical, so one is graded."""
    index = catalogue.STAGES.index(taught)
    trees = {}
    for lang in LANGUAGES:
        dest = tmp_path / (lang or "en")
        tree = solved_through(catalogue.STAGES[index - 1], dest) if index else copy_tree(STARTER, dest)
        pasted = fragments.apply(taught.id, tree, fragments.lesson(taught.id, lang))
        assert sorted(pasted) == sorted(f.id for f in FRAGMENTS.values() if f.stage == taught.id)
        trees[lang] = tree
    touched = sorted({FRAGMENTS[fid].file for fid in pasted})
    for lang, tree in trees.items():
        for relpath in touched:
            assert (tree / relpath).read_text(encoding="utf-8") == \
                (trees[None] / relpath).read_text(encoding="utf-8"), f"{lang}: {relpath}"
    # The earlier stages the change can break (catalogue.rechecks: per file, the latest earlier stage that
    # writes it or relies on it), kept to the files the blocks touched: live stages cost 10-40 s each.
    earlier = [s.id for s in catalogue.rechecks(taught.id) if (set(s.files) | set(s.uses)) & set(touched)]
    report = grade_json(trees[None], taught.id, *earlier)
    for graded in (taught.id, *earlier):
        verdict = stage(report, graded)
        assert verdict["passed"], (f"{graded} fails after pasting lesson {taught.notebook}: "
                                   f"{[f['message'] for f in verdict['failures']]}")


def test_two_fragment_blocks_in_a_row_rebuild_their_cell_exactly():
    """Blocks separated by a blank line only: the translated notebook keeps the cell as it was."""
    source = ("Paste both:\n\n<!-- fragment: a/one -->\n```python\nx = 1\n```\n\n"
              "<!-- fragment: a/two -->\n```python\ny = 2\n```")
    assert "".join(p.text for p in markdown_blocks.pieces(source)) == source
    assert [fid for fid, _, _ in fragments._scan(source)] == ["a/one", "a/two"]
