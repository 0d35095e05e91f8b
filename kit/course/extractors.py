"""The Babel extractors babel.cfg names: the kit's marked messages in code (extract_marked), the static English
of the stage catalogue (extract_static), and the hint ladders (kit/course/hint_ladders/*.toml), where every
rung is a msgid (extract).

babel.cfg registers the ladders' extractor for those files, so `pybabel extract` finds each rung with no list kept by
hand, as it finds the messages marked in code. Only the rungs are messages: a check's name is code,
and a cause's templates are extracted where the code builds them (T() in kit/grading/explain.py and the checks).
A stage listed in the option `skip_stages` (space-separated ids) is left out, as
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


# -- extraction of static English that is not marked with a call: Babel extractors (babel.cfg) -------
def extract_static(fileobj, keywords, comment_tags, options):
    """Babel extractor for kit/course/catalogue.py: each Stage(...)'s title, what the learner builds and hints, so the
    file stays plain data; and, as in code, a message marked with T(), N_() or _() there (the hint ladders are
    data files with an extractor of their own, extract below). Stages listed in the
    option `skip_stages` (space-separated) are left out: they speak English until they are translated."""
    import ast

    skip = set(options.get("skip_stages", "").split())
    tree = ast.parse(fileobj.read().decode("utf-8"))

    def strings(node):
        for sub in ast.walk(node):
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value:
                yield sub.lineno, sub.value

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Stage":
            named = {k.arg: k.value for k in node.keywords}
            stage_id = named.get("id")
            if isinstance(stage_id, ast.Constant) and stage_id.value in skip:
                continue
            for field_ in ("title", "builds", "hints"):
                if field_ in named:
                    for lineno, text in strings(named[field_]):
                        yield lineno, None, text, []
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("T", "N_", "_") and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            yield node.lineno, None, node.args[0].value, []   # a marked message beside the data (UnknownStage)


def extract_marked(fileobj, keywords, comment_tags, options):
    """Babel's Python extractor, with the kit's markers too: T() (a run-time message's template) and
    the names in the option `markers` (hint, for @pytest.mark.hint(...)); the first string
    argument is the message, so plain `extract_from_file` and `pybabel extract` agree without -k flags."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_python

    names = {*DEFAULT_KEYWORDS, "N_", "T", *str(options.get("markers", "")).split()}
    for lineno, _funcname, messages, comments in extract_python(fileobj, names, comment_tags, options):
        message = messages if isinstance(messages, str) else next((m for m in messages or () if m), None)
        if message:
            yield lineno, None, message, comments
