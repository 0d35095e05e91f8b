"""Babel extractor for the hint ladders (kit/hint_ladders/*.toml): every rung is a msgid.

babel.cfg registers it for those files, so `pybabel extract` finds each rung with no list kept by
hand, as it finds the messages marked in code. Only the rungs are messages: a check's name is code,
and a cause's templates are extracted where the code builds them (T() in kit/explain.py and the checks).
A stage listed in the option `skip_stages` (space-separated ids) is left out, as kit.i18n's
extract_static leaves out its stage: it speaks English until it is translated.
"""
from __future__ import annotations

import tomllib
from pathlib import Path


def rungs(data) -> list[tuple[str, str]]:
    """(the table holding it, rung) for every rung in a ladder file's data, in the file's order."""
    found = []

    def walk(value, where: str) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "rungs" and isinstance(inner, list):
                    found.extend((where, rung) for rung in inner if isinstance(rung, str) and rung)
                else:
                    walk(inner, key)
        elif isinstance(value, list):
            for inner in value:
                walk(inner, where)

    walk(data, "")
    return found


def extract(fileobj, keywords, comment_tags, options):
    name = Path(getattr(fileobj, "name", "") or "").stem
    if name in set(str(options.get("skip_stages", "")).split()):
        return
    text = fileobj.read().decode("utf-8")
    lines = text.splitlines()
    for table, rung in rungs(tomllib.loads(text)):
        # the line of the rung's table, for a catalogue extracted with locations
        header = next((n for n, line in enumerate(lines, 1) if line.strip() in (f"[{table}]", f"[[{table}]]")), 1)
        yield header, None, rung, []
