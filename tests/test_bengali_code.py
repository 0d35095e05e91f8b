"""Code is code in both languages: every code cell, fenced block and inline code span of a Bengali lesson
is the English one, character for character; the build never rewrites a link inside code.

The one exception: a diagram (a ```mermaid block, or a plain block drawn with box-drawing characters; see
kit.lessons.markdown_blocks.is_diagram) is a picture a learner reads, not code a learner copies, so its labels are
translated. Its shape must stay the English one's (test_a_diagram_keeps_its_shape)."""
from __future__ import annotations

import re

import nbformat
import pytest

from kit.lessons import i18n_notebooks as nbi18n
from kit.lessons import markdown_blocks as blocks

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
        en_fences, en_spans = blocks.code_of(en.source)
        bn_fences, bn_spans = blocks.code_of(bn.source)
        assert bn_fences == en_fences, f"{where}: a fenced code block differs"
        assert bn_spans == en_spans, (f"{where}: inline code differs; only in English: "
                                      f"{sorted(set(en_spans) - set(bn_spans))}, only in Bengali: "
                                      f"{sorted(set(bn_spans) - set(en_spans))}")


def test_links_inside_code_are_never_rewritten():
    markdown = ("[page](../project/x.py) `<a href=\"{% url 'login' %}\">` <a href=\"README.md\">r</a>\n\n"
                "```html\n<a href=\"{% url 'login' %}?next=x\">\n```\n")
    fixed = blocks.fix_links(markdown, set())
    assert blocks.code_of(fixed) == blocks.code_of(markdown)
    assert "](../../project/x.py)" in fixed and 'href="../README.md"' in fixed   # links outside code still move


def test_the_code_check_can_fail():
    assert blocks.code_of("`a` and `b`") != blocks.code_of("`a` and `../b`")
    assert blocks.code_of("```\nx\n```\n")[0] != blocks.code_of("```\n../x\n```\n")[0]


def _shape(diagram: str) -> list[str]:
    """What a translation of a diagram must keep: mermaid's lines without their labels (quoted text, a
    participant's name after `as`, a message after `:`); an ASCII drawing's box characters, line by line
    (a run of one character counts once: a label's new width may lengthen or shorten a line)."""
    lines = diagram.splitlines()
    if lines[0].strip("`~ ") == "mermaid":
        shape = [re.sub(r"\s+as\s.*$|:.*$", "", re.sub(r'"[^"]*"', '""', line)) for line in lines]
        return [line.rstrip() for line in shape]
    return [re.sub(r"(.)\1+", r"\1", "".join(re.findall(r"[\u2500-\u257f\u25b6\u25bc]", line))) for line in lines]


@pytest.mark.parametrize("path", ENGLISH, ids=[p.stem for p in ENGLISH])
def test_a_diagram_keeps_its_shape(path):
    english = nbformat.read(path, as_version=4)
    bengali = nbformat.read(nbi18n.built_dir("bn") / path.name, as_version=4)
    for en, bn in zip(english.cells, bengali.cells):
        if en.cell_type != "markdown":
            continue
        en_diagrams = [p.text for p in blocks.pieces(en.source) if blocks.is_diagram(p.text)]
        bn_diagrams = [p.text for p in blocks.pieces(bn.source) if blocks.is_diagram(p.text)]
        assert len(bn_diagrams) == len(en_diagrams), f"{path.name}, cell {en.get('id')}: a diagram is lost"
        for en_d, bn_d in zip(en_diagrams, bn_diagrams):
            assert _shape(bn_d) == _shape(en_d), f"{path.name}, cell {en.get('id')}: the diagram's shape changed"


def test_only_a_picture_is_a_diagram():
    assert blocks.is_diagram("```mermaid\nflowchart LR\n    A --> B\n```\n")
    assert blocks.is_diagram("```\nbrowsers ──▶ proxy\n```\n")
    assert not blocks.is_diagram("```python\nprint('──')\n```\n")          # code, whatever it prints
    assert not blocks.is_diagram("```\nkit check consumer\n```\n")
    assert not blocks.is_diagram("<!-- fragment: x -->\n```\n# ──\n```\n")
    assert _shape("```mermaid\n    A[\"a\"] -- \"b\" --> B\n```") != _shape("```mermaid\n    A[\"a\"] --> C\n```")
