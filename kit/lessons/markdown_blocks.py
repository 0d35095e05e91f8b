"""A lesson's Markdown cut into blocks (paragraphs, lists, tables, headings; fenced code, never translated,
except a diagram), and what a translation must keep: its code (code_of) and its links (fix_links)."""
from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^(?:<!-- fragment: \S+ -->\n)?[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$\n?", re.M | re.S)
_BLANK = re.compile(r"(\n[ \t]*\n\s*)")
_LINK = re.compile(r"(\]\(|\b(?:href|src)=[\"'])([^)\s\"'#][^)\s\"']*)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_DRAWING = re.compile(r"[\u2500-\u257f]")   # box drawing: ─ │ ┌ ┼ ...

@dataclass
class Piece:
    text: str
    translatable: bool       # False: a fenced code block, a separator, or a block with no words


def is_diagram(fence: str) -> bool:
    """A fenced block that is a picture, not code: a ```mermaid block, or a plain block drawn with box-drawing
    characters (07's deployment sketch). Its labels are prose a learner reads, never code a learner copies,
    so it is translated whole (tests/test_bengali_code.py holds its shape to the English one's)."""
    if fence.startswith("<!-- fragment:"):          # code the learner writes (kit/lessons/fragments.py)
        return False
    info = fence.lstrip(" \t`~").split("\n", 1)[0].strip()
    return info == "mermaid" or (not info and bool(_DRAWING.search(fence)))


def pieces(markdown: str) -> list[Piece]:
    """The Markdown, cut so that "".join(p.text for p in pieces(md)) == md."""
    out: list[Piece] = []
    pos = 0
    for fence in _FENCE.finditer(markdown):
        out.extend(_prose(markdown[pos:fence.start()]))
        out.append(Piece(fence.group(0), is_diagram(fence.group(0))))
        pos = fence.end()
    out.extend(_prose(markdown[pos:]))
    return out


def _prose(text: str) -> list[Piece]:
    out = []
    for i, part in enumerate(_BLANK.split(text)):
        if not part:
            continue
        if i % 2:                                   # a run of blank lines
            out.append(Piece(part, False))
            continue
        if not part.strip():                        # only whitespace (between two fences): one piece
            out.append(Piece(part, False))
            continue
        lead = part[:len(part) - len(part.lstrip())]
        trail = part[len(part.rstrip()):]
        core = part.strip()
        if lead:
            out.append(Piece(lead, False))
        if core:
            out.append(Piece(core, bool(re.search(r"[^\W\d_]", core))))
        if trail:
            out.append(Piece(trail, False))
    return out


def fix_links(markdown: str, siblings: set[str]) -> str:
    """Relative links, written for notebooks/, made to work from notebooks/<lang>/.

    A link to another lesson stays (its translation sits beside it); any other
    relative target (../project/..., README.md) gains one `../`. Fenced code is left as it is.
    """
    def repl(match):
        target = match.group(2)
        if _SCHEME.match(target) or target.startswith("/") or target.split("#")[0] in siblings:
            return match.group(0)
        return match.group(1) + "../" + target
    def outside_code(text: str) -> str:
        out, pos = [], 0
        for span in _INLINE_CODE.finditer(text):     # an inline code span is kept as it is
            out += [_LINK.sub(repl, text[pos:span.start()]), span.group(0)]
            pos = span.end()
        return "".join(out) + _LINK.sub(repl, text[pos:])
    # Code is never rewritten: `href="{% url 'login' %}"` in a fenced block or an inline span is the
    # learner's code, not a link.
    return "".join(p.text if _FENCE.match(p.text) else outside_code(p.text) for p in pieces(markdown))


def code_of(markdown: str) -> tuple[list[str], list[str]]:
    """The fenced blocks (in order) and the inline code spans (sorted) of a Markdown text: what a
    translation must keep exactly (a translation may move a span within its sentence). A diagram is
    neither (is_diagram): its labels are translated."""
    fenced = [p for p in pieces(markdown) if _FENCE.match(p.text)]
    fences = [p.text for p in fenced if not p.translatable]
    prose = "".join(p.text for p in pieces(markdown) if not _FENCE.match(p.text))
    return fences, sorted(span.group(0) for span in _INLINE_CODE.finditer(prose))


def translate_markdown(source: str, ctxt: str, table: dict[tuple[str, str], str]) -> str:
    return "".join(table.get((ctxt, p.text), p.text) if p.translatable else p.text for p in pieces(source))
