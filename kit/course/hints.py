"""Every check's hints, from a nudge to near the answer; and how far a learner has climbed each ladder.

The ladders are course data, not code: kit/course/hint_ladders/<stage id>.toml holds a
stage's, one table per check named after its test function (a parametrized
check shares its function's ladder), and kit/course/hint_ladders/causes.toml the
ladders of failures that name their own cause (below). Each rung says a little
more than the one before, and each teaches what the stage's notebook teaches
(the same route, the same channel layer, the same names), so a hint never sends
the learner down a path the lesson did not take. A check with no ladder falls
back to its stage's own hints (kit/course/catalogue.py). The English rungs are msgids:
babel.cfg reads the files with kit/course/extractors.py, and a rung is translated
where it is shown.

`kit hint` and `kit.lessons.checkpoint.hint()` climb one rung per call; the rung reached
is kept per stage and check in <project>/.kit/hints.json, with the identity of
the failure it was climbed for (failure_key: the message's template and values,
whatever the language), so a learner picks up where they left off, and a new
failing check, or a new mistake in the same check, starts at its first rung.

A failure whose message names its own cause (a page's script that threw, a
syntax error, a route's wrong keyword ...) gets that cause's ladder
(FAILURE_LADDERS) instead of the check's: the check's usual fix would repeat
code the learner already has.
"""
from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path

from kit.course.i18n import message_data

HERE = Path(__file__).resolve().parent / "hint_ladders"   # <stage id>.toml, and causes.toml
CAUSES = "causes"


def read_ladders(path: Path) -> dict[str, tuple[str, ...]]:
    """One stage's file: check name -> its rungs, in the file's order."""
    with path.open("rb") as data:
        return {check: tuple(table["rungs"]) for check, table in tomllib.load(data).items()}


def read_causes(path: Path) -> list[tuple[dict[str, str], tuple[str, ...]]]:
    """causes.toml: each cause's templates (by name) and the rungs they share."""
    with path.open("rb") as data:
        return [(dict(cause["templates"]), tuple(cause["rungs"])) for cause in tomllib.load(data)["cause"]]


# LADDERS is the one home of check hints: stage id, then the check's test function name.
LADDERS: dict[str, dict[str, tuple[str, ...]]] = {
    path.stem: read_ladders(path) for path in sorted(HERE.glob("*.toml")) if path.stem != CAUSES}

# Ladders for a failure that names its own cause, whichever check it happens in, keyed by its message's
# template (kit/course/i18n.py T): there the check's usual fix would repeat code the learner already has.
# Each template keeps a name here, as code and tests refer to it.
FAILURE_LADDERS: dict[str, tuple[str, ...]] = {}
TEMPLATES: dict[str, str] = {}
for _templates, _rungs in read_causes(HERE / f"{CAUSES}.toml"):
    TEMPLATES.update(_templates)
    FAILURE_LADDERS.update(dict.fromkeys(_templates.values(), _rungs))
PAGE_ERROR, ROUTE_KEYWORD, FIXED_REDIS, SYNC_NEVER_AWAITED = (
    TEMPLATES[name] for name in ("PAGE_ERROR", "ROUTE_KEYWORD", "FIXED_REDIS", "SYNC_NEVER_AWAITED"))
SYNTAX_ERROR, SYNTAX_ERROR_WITH_CODE, INDENT_ERROR = (
    TEMPLATES[name] for name in ("SYNTAX_ERROR", "SYNTAX_ERROR_WITH_CODE", "INDENT_ERROR"))

STATE_FILE = Path(".kit") / "hints.json"


def ladder_for(stage_id: str, test_name: str, template: dict | None = None) -> tuple[str, ...] | None:
    """The failure's own ladder when its message has one (FAILURE_LADDERS), else the check's, else None."""
    return _own_ladder(template) or LADDERS.get(stage_id, {}).get(check_name(test_name))


def _own_ladder(data) -> tuple[str, ...] | None:
    """The ladder of the first template in the message (itself, then its values, in order) that has one."""
    if not isinstance(data, dict):
        return None
    if "join" in data:
        parts = [p["t"] for p in data.get("parts", []) if isinstance(p, dict) and "t" in p]
    else:
        if data.get("template") in FAILURE_LADDERS:
            return FAILURE_LADDERS[data["template"]]
        parts = [v["t"] for v in (data.get("params") or {}).values() if isinstance(v, dict) and "t" in v]
    return next((found for found in map(_own_ladder, parts) if found), None)


def _shape(data) -> str:
    """A message's identity: its template and values, numbers left out (a port, a wait, a line that moved)."""
    if isinstance(data, dict) and "join" in data:
        return " ".join(_shape(p["t"]) if isinstance(p, dict) and "t" in p else _shape(p) for p in data["parts"])
    if isinstance(data, dict) and "template" in data:
        values = [f"{k}={_shape(v['t']) if isinstance(v, dict) and 't' in v else _shape(v)}"
                  for k, v in sorted((data.get("params") or {}).items())]
        return data["template"] + "|" + ",".join(values)
    return re.sub(r"\d+", "#", str(data))[:300]


def failure_key(message: str | None, template: dict | None = None) -> str:
    """The failure's identity, the same in every language: the ladder starts again when it changes."""
    data = template if isinstance(template, dict) else message_data(message)
    shape = _shape(data) if data else _shape(message or "")
    return hashlib.sha256(shape.encode("utf-8")).hexdigest()[:16]


def check_name(test_name: str) -> str:
    """A check's function name: 'test_bad_frame_is_refused[not-json]' -> 'test_bad_frame_is_refused'."""
    name = test_name.split("::")[-1]
    return re.sub(r"\[.*\]$", "", name)


def _load(project: Path) -> dict:
    from kit.course.nofollow import read_text_inside

    try:
        data = json.loads(read_text_inside(project, str(STATE_FILE)) or "")   # never through a planted link
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def next_rung(project: Path, stage_id: str, test_name: str, ladder: tuple[str, ...],
              failure: str | None = None) -> int:
    """The rung to show now (0-based), recorded so the next call shows the one after; the last repeats.

    failure is the failure's identity (failure_key): a different failure of the same check starts
    again at the first rung."""
    state = _load(project)
    check = check_name(test_name)
    kept = state.get(stage_id, {}).get(check, 0)
    if isinstance(kept, dict):
        climbed = kept.get("rung", 0) if kept.get("failure") == failure else 0
    else:  # the old record (a bare number) knew no failure
        climbed = kept if failure is None else 0
    rung = min(climbed if isinstance(climbed, int) and climbed >= 0 else 0, len(ladder) - 1)
    state.setdefault(stage_id, {})[check] = {"rung": rung + 1, "failure": failure}
    from kit.course.nofollow import linked_inside

    path = project / STATE_FILE
    if linked_inside(project, str(STATE_FILE)):
        return rung   # a planted link is never written through: the hint is shown, the climb not kept
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    except OSError:
        pass  # a read-only tree still gets its hint, it just starts over next time
    return rung
