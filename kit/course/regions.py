"""Stage regions: one solution file holds every stage's state of itself, and cut() takes one out.

A file several stages change (settings.py grows in settings, redis, hardening and history) is written
once, finished, in solutions/. The lines some stage's state has and another's lacks sit in a region
whose marker lines say which stages have them, as nbgrader marks a solution:

    # kit-stage: from users                     the lines below exist from stage users on
    # kit-stage: before hardening               ... only until hardening replaces them
    # kit-stage: from redis before hardening    ... from redis until hardening
    # kit-stage: end                            closes the region

In a Django template the markers are template comments, {# kit-stage: from users #} and
{# kit-stage: end #}, and a region the finished file lacks is a comment block,
{% comment "kit-stage: before users" %} ... {% endcomment %}. In Python such a region's lines are
commented out at the marker's indent ("# " before each). So the finished file stays valid and runs
as it is (the graded solutions/ tree), and the markers never reach a learner: `kit solve`, `kit reset`
and the lessons' fragments read a state through cut(), which drops every marker line and uncomments
what the stage has. Regions do not nest. `python -m kit.course.regions STAGE FILE` prints a state.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

_SPEC = r"kit-stage: (?P<spec>(?:from \S+)?\s*(?:before \S+)?|end)"
_PY_MARK = re.compile(r"^(?P<indent>[ \t]*)# " + _SPEC + r"\s*$")
_TPL_MARK = re.compile(r"^[ \t]*\{# " + _SPEC + r" #\}\s*$")
_TPL_BLOCK = re.compile(r'^[ \t]*\{% comment "' + _SPEC + r'" %\}\s*$')
_TPL_BLOCK_END = re.compile(r"^[ \t]*\{% endcomment %\}\s*$")
_WORDS = re.compile(r"^(?:from (?P<start>\S+))?\s*(?:before (?P<stop>\S+))?$")


class RegionError(ValueError):
    """A marker out of place: an unknown stage, a region left open, an end with no region."""


def _stage_ids() -> list[str]:
    from kit.course.catalogue import STAGES

    return [s.id for s in STAGES]


def _bounds(spec: str, ids: list[str], where: str) -> tuple[int, int]:
    """'from A before B' -> the stage positions [start, stop) that have the region's lines."""
    words = _WORDS.match(spec.strip())
    if not words or not (words["start"] or words["stop"]):
        raise RegionError(f"{where}: a region says 'from STAGE', 'before STAGE' or both, not {spec!r}")
    for name in filter(None, (words["start"], words["stop"])):
        if name not in ids:
            raise RegionError(f"{where}: no stage {name!r}")
    start = ids.index(words["start"]) if words["start"] else 0
    stop = ids.index(words["stop"]) if words["stop"] else len(ids)
    if start >= stop:
        raise RegionError(f"{where}: no stage is both {spec!r}")
    return start, stop


def _uncomment(line: str, indent: str, where: str) -> str:
    if line.rstrip("\n") == indent + "#":
        return "\n" if line.endswith("\n") else ""
    if not line.startswith(indent + "# "):
        raise RegionError(f"{where}: a line of a region the finished file lacks must start {indent + '# '!r}")
    return indent + line[len(indent) + 2:]


def cut(text: str, name: str, stage_id: str | None = None) -> str:
    """The file's state right after stage_id (the finished state when None): markers dropped, each
    region kept or left out, what it keeps uncommented. name (the file's path) says its comment syntax."""
    ids = _stage_ids()
    at = ids.index(stage_id) if stage_id is not None else len(ids) - 1
    template = Path(name).suffix == ".html"
    out, region = [], None   # region: (start, stop, indent or None, a comment block?)
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        where = f"{name}, line {number}"
        mark = (_TPL_MARK.match(line) or _TPL_BLOCK.match(line)) if template else _PY_MARK.match(line)
        block = template and mark is not None and mark.re is _TPL_BLOCK
        if mark and mark["spec"] == "end" and not block:
            if region is None or region[3]:
                raise RegionError(f"{where}: an end with no region open")
            region = None
            continue
        if template and _TPL_BLOCK_END.match(line) and region is not None and region[3]:
            region = None
            continue
        if mark:
            if region is not None:
                raise RegionError(f"{where}: a region inside a region (they do not nest)")
            start, stop = _bounds(mark["spec"], ids, where)
            finished = stop == len(ids)
            if template and block == finished:
                raise RegionError(f"{where}: in a template, a region the finished file lacks is a "
                                  "{% comment %} block, and only that one")
            region = (start, stop, None if template or finished else mark["indent"], block)
            continue
        if region is None:
            out.append(line)
            continue
        kept = line if region[2] is None else _uncomment(line, region[2], where)   # checked in every state
        if region[0] <= at < region[1]:
            out.append(kept)
    if region is not None:
        raise RegionError(f"{name}: a region is never closed")
    return "".join(out)


def has_regions(text: str, name: str) -> bool:
    """Does the file hold any stage region (so its raw text is not what a learner may be shown)?"""
    marks = (_TPL_MARK, _TPL_BLOCK) if Path(name).suffix == ".html" else (_PY_MARK,)
    return any(m.match(line) for line in text.splitlines() for m in marks)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m kit.course.regions STAGE FILE   (the file's state right after STAGE)", file=sys.stderr)
        return 2
    path = Path(args[1])
    sys.stdout.write(cut(path.read_text(encoding="utf-8"), path.name, args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
