"""Code the learner writes: one source (the solutions); the lessons show it, a test pastes it.

kit/lessons/fragments.toml lists each block a lesson tells the learner to write (id, stage, file,
start/end anchors, paste mode); the lesson shows it as a fenced block right below the line
`<!-- fragment: ID -->`. docs/writing-lessons.md ("Code the learner writes") is the reference.

    python -m kit.lessons.fragments build     # fill every block from the solutions (then rebuild the translations)
    python -m kit.lessons.fragments check     # exit 1 when a block, in any language, differs from its fragment
    python -m kit.lessons.fragments apply STAGE TREE [--notebook NB]   # paste the lesson's blocks, in lesson order
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat

from kit.course import catalogue, files

DATA = Path(__file__).resolve().parent / "fragments.toml"     # notebooks/ holds only the lessons
_MARK = re.compile(r"^<!-- fragment: (\S+) -->$")      # the line right above the block's fence
_FENCE = re.compile(r"^(`{3,}|~{3,})[\w+-]*$")
_DEF = r"^[ \t]*(?:@.*\n[ \t]*)?(?:(?:async\s+)?def\s+{0}\b|class\s+{0}\b|{0}\s*=|(?:async\s+)?function\s+{0}\b|(?:const|let|var)\s+{0}\b)"


@dataclass(frozen=True)
class Fragment:
    id: str
    stage: str
    file: str
    paste: str
    start: str = ""
    end: str = ""

    def text(self) -> str:
        """The fragment's lines, exactly as indented in the stage's solution of the file."""
        source = files.solution_text(self.file, catalogue.get(self.stage))
        if source is None:
            raise LookupError(f"{self.id}: no solution of {self.file} after stage {self.stage}")
        lines = source.splitlines()
        if not self.start and not self.end:
            return "\n".join(lines)
        first = _find(lines, self.start, 0, f"{self.id}: start")
        last = _find(lines, self.end, first, f"{self.id}: end") + 1 if self.end else _extent(lines, first)
        return "\n".join(lines[first:last])


def _find(lines: list[str], needle: str, after: int, what: str) -> int:
    for number in range(after, len(lines)):
        if needle in lines[number]:
            return number
    raise LookupError(f"{what}: no line contains {needle!r}")


def load(path: Path = DATA) -> dict[str, Fragment]:
    data = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {f["id"]: Fragment(**f) for f in data.get("fragment", [])}


# -- the blocks in a notebook ------------------------------------------------------------
def blocks(notebook: Path) -> list[tuple[str, str]]:
    """(fragment id, code) of every fragment block of the notebook, in lesson order."""
    found = []
    for cell in nbformat.read(notebook, as_version=4).cells:
        if cell.cell_type == "markdown":
            found.extend((fid, code) for fid, code, _ in _scan(cell.source))
    return found


def _scan(markdown: str):
    """(fragment id, code, (first, last) line numbers of the code) of each fragment fence."""
    lines, number = markdown.split("\n"), 0
    while number < len(lines) - 1:
        mark, fence = _MARK.match(lines[number]), _FENCE.match(lines[number + 1])
        if mark and not fence:
            raise ValueError(f"fragment {mark.group(1)}: the line after its marker must open a fence")
        if mark:
            close = next((n for n in range(number + 2, len(lines)) if lines[n].rstrip() == fence.group(1)), None)
            if close is None:
                raise ValueError(f"fragment {mark.group(1)}: the fence is never closed")
            yield mark.group(1), "\n".join(lines[number + 2:close]), (number + 2, close)
            number = close
        number += 1


def rewrite(markdown: str, fragments: dict[str, Fragment]) -> str:
    lines = markdown.split("\n")
    for fid, _, (first, last) in reversed(list(_scan(markdown))):
        if fid not in fragments:
            raise LookupError(f"fragment={fid}: not in {DATA.name}")
        lines[first:last] = fragments[fid].text().split("\n")
    return "\n".join(lines)


def lesson(stage: str, lang: str | None = None) -> Path:
    folder = catalogue.NOTEBOOKS_DIR / lang if lang else catalogue.NOTEBOOKS_DIR
    return folder / catalogue.get(stage).notebook


def build() -> list[Path]:
    """Rewrite the fragment blocks of the English notebooks from the solutions, then rebuild the translations."""
    from kit.lessons import i18n_notebooks
    fragments, written = load(), []
    for path in i18n_notebooks.english_notebooks():
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = rewrite(cell.source, fragments)
        text = nbformat.writes(nb) + "\n"
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written + i18n_notebooks.build()


def problems() -> list[str]:
    """Every fragment block, in every language, that differs from its source; every fragment no lesson shows."""
    from kit.lessons import i18n_notebooks
    fragments, found = load(), []
    notebooks = i18n_notebooks.english_notebooks()
    notebooks += [i18n_notebooks.built_dir(lang) / p.name for lang in i18n_notebooks.LANGUAGES for p in notebooks]
    for path in notebooks:
        if not path.exists():
            continue
        where = path.relative_to(catalogue.KIT_ROOT)
        shown = blocks(path)
        for fid, code in shown:
            fragment = fragments.get(fid)
            if fragment is None:
                found.append(f"{where}: fragment={fid} is not in {DATA.name}")
            elif catalogue.get(fragment.stage).notebook != path.name:
                found.append(f"{where}: fragment={fid} belongs to stage {fragment.stage}'s lesson")
            elif code != fragment.text():
                found.append(f"{where}: the block fragment={fid} differs from {fragment.file} after "
                             f"{fragment.stage}: run `python -m kit.lessons.fragments build`")
        ids = [fid for fid, _ in shown]
        for fid, fragment in fragments.items():
            if catalogue.get(fragment.stage).notebook == path.name and ids.count(fid) != 1:
                found.append(f"{where}: shows fragment={fid} {ids.count(fid)} times, not once")
    return found


# -- pasting ----------------------------------------------------------------------------
def apply(stage: str, tree: Path, notebook: Path | None = None) -> list[str]:
    """Paste the blocks the stage's lesson shows into tree's files, as the lesson says; the ids pasted."""
    fragments, pasted = load(), []
    for fid, code in blocks(notebook or lesson(stage)):
        fragment = fragments[fid]
        path = tree / fragment.file
        old = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(paste(old, code.split("\n"), fragment)) + "\n", encoding="utf-8")
        pasted.append(fid)
    return pasted


def paste(lines: list[str], block: list[str], fragment: Fragment) -> list[str]:
    mode, _, arg = fragment.paste.partition(" ")
    lines = list(lines)
    if mode == "file":
        return block
    if mode == "replace-todo":
        first, last = _todo(lines, fragment.stage, arg)
        return lines[:first] + block + lines[last:]
    if mode == "replace-def":
        first, last = _definition(lines, arg, fragment.stage)
        return lines[:first] + block + lines[last:]
    if mode == "replace":   # the one line containing TEXT becomes the block (a line the stage rewrites)
        at = _find(lines, arg, 0, f"{fragment.id}: replace")
        return lines[:at] + block + lines[at + 1:]
    if mode in ("after", "before"):
        at = _find(lines, arg, 0, f"{fragment.id}: {mode}") + (mode == "after")
        return lines[:at] + _spaced(lines[:at], block) + lines[at:]
    if mode == "end":
        while lines and not lines[-1].strip():
            lines.pop()
        return lines + _spaced(lines, block)
    if mode == "imports":
        missing = [line for line in block if line.strip() and line.strip() not in {x.strip() for x in lines}]
        at = next((n for n, line in enumerate(lines) if re.match(r"(import|from)\s", line)), None)
        if at is None:
            at = _after_docstring(lines)
            return lines[:at] + missing + [""] + lines[at:] if missing else lines
        return lines[:at] + missing + lines[at:]
    raise ValueError(f"{fragment.id}: unknown paste mode {fragment.paste!r}")


def _spaced(above: list[str], block: list[str]) -> list[str]:
    needs = len(block) > 1 and above and above[-1].strip()
    return ([""] if needs else []) + block


_CLOSERS = {"<!--": "-->", "{% comment %}": "{% endcomment %}", "{#": "#}"}


def _todo(lines: list[str], stage: str, containing: str) -> tuple[int, int]:
    """The TODO(stage) comment block: `#`/`//` lines up to a blank line or another TODO, or one
    `<!-- -->`, `{# #}` or `{% comment %}` comment whole. A TODO in a docstring or a string is no block."""
    for first, line in enumerate(lines):
        if f"TODO({stage})" not in line:
            continue
        opener = next((o for o in _CLOSERS if line.lstrip().startswith(o)), None)
        if opener:
            last = next(n for n in range(first, len(lines)) if _CLOSERS[opener] in lines[n]) + 1
        elif line.lstrip().startswith(("#", "//")):
            last = first + 1
            while last < len(lines) and lines[last].strip().startswith(("#", "//")) and "TODO(" not in lines[last]:
                last += 1
        else:
            continue                                # in a docstring or a string: not a block to replace
        if containing in "\n".join(lines[first:last]):
            return first, last
    raise LookupError(f"no TODO({stage}) comment block containing {containing!r} (a TODO in a docstring or "
                      "a string is none: paste with replace-def, after, before or end)")


def _definition(lines: list[str], name: str, stage: str) -> tuple[int, int]:
    text = "\n".join(lines)
    match = re.search(_DEF.format(re.escape(name)), text, re.M)
    if match is None:
        raise LookupError(f"no definition of {name}")
    first = text[:match.start()].count("\n")
    last, top = _extent(lines, first), first         # a TODO(stage) comment block right above goes too
    while top > 0 and lines[top - 1].strip().startswith(("#", "//")):
        top -= 1
        if f"TODO({stage})" in lines[top]:
            first = top
    return first, last


def _extent(lines: list[str], first: int) -> int:
    """Past the end of the statement or definition at `first` (comment lines before it included):
    the lines indented deeper, closing brackets at its own indent, and up to where its braces balance."""
    while first < len(lines) - 1 and lines[first].strip().startswith(("#", "//")):
        first += 1
    indent = _indent(lines[first])
    last, depth = first + 1, _balance(lines[first])
    while last < len(lines):
        line, deeper = lines[last], last + 1 < len(lines) and _indent(lines[last + 1]) > indent
        if depth > 0 or (line.strip() and (_indent(line) > indent or
                                           (line.strip()[0] in ")]}" and _indent(line) == indent) or
                                           (_indent(line) == indent and _CLAUSE.match(line.strip())))):
            depth += _balance(line)
            last += 1
        elif not line.strip() and deeper and depth == 0:
            last += 1
        else:
            break
    return last


# The clauses that continue a Python statement at its own indent: an if's else, a try's except.
_CLAUSE = re.compile(r"(else|elif\b.*|except\b.*|finally)\s*:")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip()) if line.strip() else 0


def _balance(line: str) -> int:
    return sum(line.count(c) for c in "([{") - sum(line.count(c) for c in ")]}")


def _after_docstring(lines: list[str]) -> int:
    if not lines or not lines[0].lstrip().startswith(('"""', "'''")):
        return 0
    quote = lines[0].lstrip()[:3]
    if lines[0].count(quote) >= 2:
        return 1
    return next((n + 1 for n in range(1, len(lines)) if quote in lines[n]), len(lines))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.lessons.fragments", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="rewrite the notebooks' fragment blocks from the solutions")
    sub.add_parser("check", help="exit 1 when a notebook's block differs from its fragment")
    ap = sub.add_parser("apply", help="paste a stage's lesson blocks into a project tree, in lesson order")
    ap.add_argument("stage")
    ap.add_argument("tree", type=Path)
    ap.add_argument("--notebook", type=Path, help="the lesson to take the blocks from (default: the English one)")
    args = parser.parse_args(argv)
    if args.command == "build":
        print("\n".join(str(p.relative_to(catalogue.KIT_ROOT)) for p in build()) or "nothing to rebuild")
        return 0
    if args.command == "check":
        found = problems()
        print("\n".join(found + [f"fragments: {len(found)} problem(s)" if found else "fragments: up to date"]))
        return 1 if found else 0
    print("\n".join(apply(args.stage, args.tree, args.notebook)) or "this lesson has no fragments")
    return 0


if __name__ == "__main__":
    sys.exit(main())
