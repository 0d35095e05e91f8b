"""Code is code in both languages: every code cell, fenced block and inline code span of a Bengali lesson
is the English one, character for character; the build never rewrites a link inside code."""
from __future__ import annotations

import nbformat
import pytest

from kit import i18n_notebooks as nbi18n

ENGLISH = nbi18n.english_notebooks()


@pytest.mark.parametrize("path", ENGLISH, ids=[p.stem for p in ENGLISH])
def test_code_in_every_cell_is_the_english_code(path):
    english = nbformat.read(path, as_version=4)
    bengali = nbformat.read(nbi18n.built_dir("bn") / path.name, as_version=4)
    assert len(bengali.cells) == len(english.cells)
    for en, bn in zip(english.cells, bengali.cells):
        where = f"notebooks/bn/{path.name}, cell {en.get('id')}"
        if en.cell_type == "code":
            assert bn.source == en.source, f"{where}: the code cell differs"
            continue
        en_fences, en_spans = nbi18n.code_of(en.source)
        bn_fences, bn_spans = nbi18n.code_of(bn.source)
        assert bn_fences == en_fences, f"{where}: a fenced code block differs"
        assert bn_spans == en_spans, (f"{where}: inline code differs; only in English: "
                                      f"{sorted(set(en_spans) - set(bn_spans))}, only in Bengali: "
                                      f"{sorted(set(bn_spans) - set(en_spans))}")


def test_links_inside_code_are_never_rewritten():
    markdown = ("[page](../project/x.py) `<a href=\"{% url 'login' %}\">` <a href=\"README.md\">r</a>\n\n"
                "```html\n<a href=\"{% url 'login' %}?next=x\">\n```\n")
    fixed = nbi18n.fix_links(markdown, set())
    assert nbi18n.code_of(fixed) == nbi18n.code_of(markdown)
    assert "](../../project/x.py)" in fixed and 'href="../README.md"' in fixed   # links outside code still move


def test_the_code_check_can_fail():
    assert nbi18n.code_of("`a` and `b`") != nbi18n.code_of("`a` and `../b`")
    assert nbi18n.code_of("```\nx\n```\n")[0] != nbi18n.code_of("```\n../x\n```\n")[0]
