"""Translated lessons: gettext catalogues for the notebooks' prose, and the notebooks built from them.

The English notebooks in notebooks/ are the only source. Their Markdown cells
are cut into blocks (paragraphs, lists, tables, headings; fenced code blocks
are never translated, but a diagram is: see is_diagram) and each block becomes one
catalogue entry:

    msgctxt "00_welcome.ipynb:00-02"      # notebook and cell id
    msgid   "<the English block>"
    msgstr  "<the translation>"

A changed English block gets a new msgid, so `update` marks it fuzzy (with the
old translation and `#| msgid` of the old text) or leaves it untranslated; a
block that is gone becomes obsolete. `build` writes notebooks/<lang>/<name>:
code cells copied unchanged, Markdown from the catalogue (fuzzy or missing
entries fall back to English), relative links fixed for the folder one level
deeper. `check` fails on anything stale.

    python -m kit.i18n_notebooks update [--no-obsolete]   # notebooks.pot, then merge into each .po
    python -m kit.i18n_notebooks build                    # notebooks/<lang>/*.ipynb
    python -m kit.i18n_notebooks check                    # exit 1 when anything is out of date
    python -m kit.i18n_notebooks stats

A translated notebook carries `metadata.kit.language`; its kernel runs in
notebooks/<lang>/, which is how the kit knows to speak that language there
(kit.i18n.notebook_language).
"""
from __future__ import annotations

import argparse
import copy
import difflib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
import polib

from . import catalogue

LOCALE_DIR = catalogue.KIT_ROOT / "locale"
DOMAIN = "notebooks"
POT_PATH = LOCALE_DIR / f"{DOMAIN}.pot"
LANGUAGES = ("bn",)
FUZZY_RATIO = 0.6          # how alike an old English block must be to lend its translation as fuzzy

# A fence, with the `<!-- fragment: ID -->` line right above it that names the code (kit/fragments.py).
_FENCE = re.compile(r"^(?:<!-- fragment: \S+ -->\n)?[ \t]*(`{3,}|~{3,})[^\n]*\n.*?^[ \t]*\1[ \t]*$\n?", re.M | re.S)
_BLANK = re.compile(r"(\n[ \t]*\n\s*)")
_LINK = re.compile(r"(\]\(|\b(?:href|src)=[\"'])([^)\s\"'#][^)\s\"']*)")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_INLINE_CODE = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", re.S)
_DRAWING = re.compile(r"[\u2500-\u257f]")   # box drawing: ─ │ ┌ ┼ ...


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def built_dir(lang: str) -> Path:
    return catalogue.NOTEBOOKS_DIR / lang


def english_notebooks() -> list[Path]:
    """Every English lesson, in course order (the catalogue's, then any other notebook of the folder)."""
    names = [catalogue.WELCOME_NOTEBOOK, *(stage.notebook for stage in catalogue.STAGES)]
    ordered = [catalogue.NOTEBOOKS_DIR / name for name in names if (catalogue.NOTEBOOKS_DIR / name).exists()]
    others = sorted(p for p in catalogue.NOTEBOOKS_DIR.glob("*.ipynb") if p not in ordered)
    return ordered + others


# -- cutting Markdown into blocks ---------------------------------------------------
@dataclass
class Piece:
    text: str
    translatable: bool       # False: a fenced code block, a separator, or a block with no words


def is_diagram(fence: str) -> bool:
    """A fenced block that is a picture, not code: a ```mermaid block, or a plain block drawn with box-drawing
    characters (07's deployment sketch). Its labels are prose a learner reads, never code a learner copies,
    so it is translated whole (tests/test_bengali_code.py holds its shape to the English one's)."""
    if fence.startswith("<!-- fragment:"):          # code the learner writes (kit/fragments.py)
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


def context(notebook: Path, cell) -> str:
    return f"{notebook.name}:{cell.get('id', '')}"


def extract() -> polib.POFile:
    """The template: one entry per translatable block of every English notebook."""
    pot = _new_file()
    seen = set()
    for path in english_notebooks():
        nb = nbformat.read(path, as_version=4)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown":
                continue
            for piece in pieces(cell.source):
                key = (context(path, cell), piece.text)
                if not piece.translatable or key in seen:
                    continue
                seen.add(key)
                pot.append(polib.POEntry(msgctxt=key[0], msgid=piece.text, msgstr="",
                                         occurrences=[(f"notebooks/{path.name}", str(index))]))
    return pot


def _new_file(lang: str | None = None) -> polib.POFile:
    po = polib.POFile(wrapwidth=0)
    po.metadata = {
        "Project-Id-Version": "channels-kit notebooks",
        "MIME-Version": "1.0",
        "Content-Type": "text/plain; charset=UTF-8",
        "Content-Transfer-Encoding": "8bit",
    }
    if lang:
        po.metadata["Language"] = lang
        po.metadata["Plural-Forms"] = "nplurals=2; plural=(n != 1);"
    po.header = ("Prose of the Channels Kit lessons (notebooks/*.ipynb), one entry per Markdown block.\n"
                 "msgctxt: notebook:cell id. Generated by `python -m kit.i18n_notebooks update`; "
                 "edit msgstr only.")
    return po


# -- merging (msgmerge, with polib) --------------------------------------------------
def merge(po: polib.POFile, pot: polib.POFile, *, keep_obsolete: bool = True) -> polib.POFile:
    """Bring a catalogue in step with the template, as msgmerge does.

    Same context and text: kept. Same text under another context (a cell id
    changed): translation kept, not fuzzy, since the English did not change.
    Changed text: the most alike stale entry of the same cell (else notebook)
    lends its translation, marked fuzzy, with the old English as `#| msgid`.
    Entries the template no longer holds become obsolete (`#~`).
    """
    old = {(e.msgctxt, e.msgid): e for e in po if not e.obsolete}
    old_obsolete = [e for e in po if e.obsolete]
    wanted = {(e.msgctxt, e.msgid) for e in pot}
    stale = [e for key, e in old.items() if key not in wanted] + old_obsolete
    by_text: dict[str, polib.POEntry] = {}
    for entry in [*old.values(), *old_obsolete]:
        if entry.msgstr and "fuzzy" not in entry.flags:
            by_text.setdefault(entry.msgid, entry)
    used = set()
    merged = _new_file(po.metadata.get("Language"))
    for template in pot:
        entry = polib.POEntry(msgctxt=template.msgctxt, msgid=template.msgid, msgstr="",
                              occurrences=list(template.occurrences))
        found = old.get((template.msgctxt, template.msgid))
        if found is not None:
            entry.msgstr, entry.flags = found.msgstr, list(found.flags)
            entry.previous_msgid = found.previous_msgid if "fuzzy" in found.flags else None
            entry.tcomment = found.tcomment
        elif template.msgid in by_text:
            source = by_text[template.msgid]
            entry.msgstr, entry.tcomment = source.msgstr, source.tcomment
        else:
            source = _most_alike(template, [e for e in stale if id(e) not in used and e.msgstr])
            if source is not None:
                used.add(id(source))
                entry.msgstr, entry.tcomment = source.msgstr, source.tcomment
                entry.flags = ["fuzzy"]
                entry.previous_msgid = source.msgid
        merged.append(entry)
    if keep_obsolete:
        for entry in stale:
            if id(entry) in used or not entry.msgstr or entry.msgid in {e.msgid for e in merged}:
                continue
            gone = copy.copy(entry)
            gone.obsolete, gone.occurrences = True, []
            merged.append(gone)
    return merged


def _most_alike(template: polib.POEntry, candidates: list[polib.POEntry]) -> polib.POEntry | None:
    notebook = template.msgctxt.split(":")[0]
    best, best_score = None, FUZZY_RATIO
    for candidate in candidates:
        if (candidate.msgctxt or "").split(":")[0] != notebook:
            continue
        score = difflib.SequenceMatcher(None, template.msgid, candidate.msgid).ratio()
        if candidate.msgctxt == template.msgctxt:
            score += 0.1                          # prefer the same cell
        if score > best_score:
            best, best_score = candidate, score
    return best


def load_po(lang: str) -> polib.POFile:
    path = po_path(lang)
    return polib.pofile(str(path), wrapwidth=0) if path.exists() else _new_file(lang)


def save(po: polib.POFile, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(po) + "\n", encoding="utf-8")


def update(*, keep_obsolete: bool = True, languages=LANGUAGES) -> dict[str, dict[str, int]]:
    pot = extract()
    save(pot, POT_PATH)
    counts = {}
    for lang in languages:
        merged = merge(load_po(lang), pot, keep_obsolete=keep_obsolete)
        save(merged, po_path(lang))
        counts[lang] = stats(merged)
    return counts


def stats(po: polib.POFile) -> dict[str, int]:
    live = [e for e in po if not e.obsolete]
    return {"entries": len(live),
            "translated": sum(1 for e in live if e.msgstr and "fuzzy" not in e.flags),
            "fuzzy": sum(1 for e in live if "fuzzy" in e.flags),
            "untranslated": sum(1 for e in live if not e.msgstr),
            "obsolete": sum(1 for e in po if e.obsolete)}


# -- building the translated notebooks --------------------------------------------------
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


def translations(po: polib.POFile) -> dict[tuple[str, str], str]:
    """What the build uses: translated, non-fuzzy entries (gettext ignores fuzzy ones too)."""
    return {(e.msgctxt, e.msgid): e.msgstr for e in po
            if e.msgstr and not e.obsolete and "fuzzy" not in e.flags}


def build_notebook(path: Path, lang: str, table, siblings: set[str]) -> str:
    """The translated notebook's file text."""
    nb = nbformat.read(path, as_version=4)
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type == "markdown":
            cell.source = fix_links(translate_markdown(cell.source, context(path, cell), table), siblings)
        elif cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    out.metadata["kit"] = {"language": lang, "generated_from": f"../{path.name}",
                           "note": "generated by `python -m kit.i18n_notebooks build`: edit "
                                   f"locale/{lang}/LC_MESSAGES/{DOMAIN}.po, not this file"}
    return nbformat.writes(out) + "\n"


def build(languages=LANGUAGES) -> list[Path]:
    written = []
    for lang in languages:
        expected = _expected_notebooks(lang)
        folder = built_dir(lang)
        folder.mkdir(parents=True, exist_ok=True)
        for stray in folder.glob("*.ipynb"):
            if stray.name not in expected:
                stray.unlink()
        for name, text in expected.items():
            target = folder / name
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
                written.append(target)
    return written


def _expected_notebooks(lang: str) -> dict[str, str]:
    sources = english_notebooks()
    siblings = {p.name for p in sources}
    table = translations(load_po(lang))
    return {p.name: build_notebook(p, lang, table, siblings) for p in sources}


# -- checking ----------------------------------------------------------------------------
def problems(languages=LANGUAGES) -> list[str]:
    """Everything out of date, one line each (empty when all is in step)."""
    found = []
    pot = extract()
    committed = polib.pofile(str(POT_PATH)) if POT_PATH.exists() else None
    if committed is None or {(e.msgctxt, e.msgid) for e in committed} != {(e.msgctxt, e.msgid) for e in pot}:
        found.append(f"{POT_PATH.relative_to(catalogue.KIT_ROOT)} is stale: run `python -m kit.i18n_notebooks update`")
    wanted = {(e.msgctxt, e.msgid) for e in pot}
    for lang in languages:
        po = load_po(lang)
        where = po_path(lang).relative_to(catalogue.KIT_ROOT)
        have = {(e.msgctxt, e.msgid): e for e in po if not e.obsolete}
        for key in sorted(wanted):
            entry = have.get(key)
            if entry is None:
                found.append(f"{where}: missing entry {key[0]} {_short(key[1])}")
            elif "fuzzy" in entry.flags:
                found.append(f"{where}: fuzzy entry {key[0]} {_short(key[1])}")
            elif not entry.msgstr:
                found.append(f"{where}: untranslated entry {key[0]} {_short(key[1])}")
        for key in sorted(set(have) - wanted):
            found.append(f"{where}: entry {key[0]} {_short(key[1])} is no longer in the English notebooks")
        for entry in po.obsolete_entries():
            found.append(f"{where}: obsolete entry {entry.msgctxt} {_short(entry.msgid)} "
                         "(reuse its text, then run `update --no-obsolete`)")
        for name, text in _expected_notebooks(lang).items():
            target = built_dir(lang) / name
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                found.append(f"notebooks/{lang}/{name} differs from what the catalogue builds: "
                             "run `python -m kit.i18n_notebooks build`")
        expected = {p.name for p in english_notebooks()}
        for stray in sorted(built_dir(lang).glob("*.ipynb")):
            if stray.name not in expected:
                found.append(f"notebooks/{lang}/{stray.name} has no English source")
    return found


def _short(text: str) -> str:
    line = text.splitlines()[0] if text else ""
    return repr(line[:60] + ("..." if len(line) > 60 or "\n" in text else ""))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.i18n_notebooks", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    up = sub.add_parser("update", help="extract notebooks.pot from the English notebooks and merge it into each .po")
    up.add_argument("--no-obsolete", action="store_true", help="drop obsolete entries instead of keeping them as #~")
    sub.add_parser("build", help="write notebooks/<lang>/*.ipynb from the English notebooks and the catalogues")
    sub.add_parser("check", help="exit 1 if the template, a catalogue or a built notebook is out of date")
    sub.add_parser("stats", help="how many entries each catalogue holds")
    parser.add_argument("--check", action="store_true", help="same as the check command")
    args = parser.parse_args(argv)
    if args.command is None and not args.check:
        parser.error("name a command: update, build, check or stats (or pass --check)")
    if args.check or args.command == "check":
        found = problems()
        for line in found:
            print(line)
        print("translations: up to date" if not found else f"translations: {len(found)} problem(s)")
        return 1 if found else 0
    if args.command == "update":
        for lang, counts in update(keep_obsolete=not args.no_obsolete).items():
            print(f"{po_path(lang).relative_to(catalogue.KIT_ROOT)}: {_describe(counts)}")
        return 0
    if args.command == "build":
        written = build()
        print("\n".join(str(p.relative_to(catalogue.KIT_ROOT)) for p in written) or "nothing to rebuild")
        return 0
    for lang in LANGUAGES:
        print(f"{po_path(lang).relative_to(catalogue.KIT_ROOT)}: {_describe(stats(load_po(lang)))}")
    return 0


def _describe(counts: dict[str, int]) -> str:
    return ", ".join(f"{value} {name}" for name, value in counts.items())


if __name__ == "__main__":
    sys.exit(main())
