"""What a grading says, as data: a check's Failure, a StageResult, the Report of a tree; and learner text made
safe to keep in them (as_data)."""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import ClassVar

from kit.course.i18n import N_, recall, translated


# -- output is data: what learner code says enters a report here, and only as text ------------------------
MESSAGE_LIMIT = 4000     # characters of one message or hint kept in a report
# Said in every report of points awarded without a sandbox (Report.advisory).
ADVISORY = N_("advisory: graded without a sandbox, so these points are not marks")
# Control characters, lone surrogates, and the bidirectional marks, overrides and isolates: learner text that
# reorders what a reader sees around it (a name shown backwards, a score that seems to say another thing).
# kit/class_grading/grades.py cleans names and notes with the same set.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def as_data(text, limit: int = MESSAGE_LIMIT) -> str:
    """Text from learner code as a report keeps it: no control characters (tab and newline kept; ANSI and OSC
    escapes lose their ESC, so a terminal shows them as text), valid in XML, at most limit characters.
    Rich markup is escaped where a table is drawn (kit/output/render.py), so JSON keeps the text as it was said."""
    text = CONTROL.sub("", str.__str__(text) if isinstance(text, str) else str(text))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _template_as_data(data):
    """A message's T data with every value as_data too, so the sentence it rebuilds is the cleaned one."""
    if isinstance(data, dict):
        return {key: (as_data(value) if isinstance(value, str) and key not in ("template", "join")
                      else _template_as_data(value)) for key, value in data.items()}
    if isinstance(data, list):
        return [as_data(v) if isinstance(v, str) else _template_as_data(v) for v in data]
    return data


@dataclass
class Failure:
    test: str
    message: str        # English, always: a stable key for machines
    hint: str           # English too
    # {"lang": "bn", "message": ..., "hint": ...} when another language is chosen (grade(lang=...))
    translation: dict | None = None
    template: dict | None = field(default=None, repr=False, compare=False)  # the message's T data (kit/course/i18n.py)

    def __post_init__(self):
        """Every failure, wherever it is made, holds its text as data (as_data). A message that needed
        cleaning keeps its template (so it can still be translated) only when the kit's own template, with its
        values cleaned, says exactly the cleaned sentence."""
        from kit.course.i18n import T as _T, from_data, known_template

        clean = as_data(self.message)
        if not isinstance(self.message, str) or clean != str.__str__(self.message):
            template = self.template or (self.message.data() if isinstance(self.message, _T) else None)
            made = None
            if template is not None and known_template(template := _template_as_data(template)):
                try:
                    made = from_data(template)
                except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                    made = None
            if made is not None and str.__str__(made) == clean:
                self.message = made
                self.template = template if self.template is not None else None
            else:
                self.message, self.template = clean, None
        self.test = as_data(self.test, 200)
        if not isinstance(self.hint, str) or as_data(self.hint) != self.hint:
            self.hint = as_data(self.hint)
        if self.translation:
            self.translation = {k: as_data(v) if isinstance(v, str) else v for k, v in self.translation.items()}

    def translate(self, lang: str) -> None:
        from kit.course.i18n import revive

        said = revive(self.message, self.template) if self.template else recall(self.message)
        self.translation = {"lang": lang, "message": translated(said, lang), "hint": translated(self.hint, lang)}


@dataclass
class StageResult:
    id: str
    title: str
    passed: bool
    points: int
    max_points: int
    available: bool = True
    skipped: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    passed_checks: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # The asked stage this earlier one was graded again for (grade(recheck=True)), else "".
    recheck_of: str = ""
    # Graded a second time, every limit doubled, because it failed while the machine was busy (kit/grading/busy.py).
    second_try: bool = False
    # The busy machine's verdict (_patient: a time limit hit twice on a machine busy before the grading began).
    # Set only here, never read from a message: a tree can make its host say the kit's busy sentence (tenth review).
    machine_busy: bool = False
    # How long the longest failing check had run when it failed, on the checker's clock (infinite when the process
    # was stopped, a check never reported or hit a time limit): a failure that came sooner than any wait could
    # not have been the machine's slowness. Not reported; set per result by the grader.
    waited: ClassVar[float] = float("inf")

    @property
    def verdict(self) -> str:
        if not self.available:
            return "not yet available"
        return "pass" if self.passed else "fail"


@dataclass
class Report:
    project: str
    stages: list[StageResult]
    isolation: str = ""

    @property
    def score(self) -> int:
        """The points of the stages graded for themselves: a re-checked earlier stage (recheck_of) is
        shown beside a named-stage check, never counted in it (it was counted when it was checked)."""
        return sum(s.points for s in self.stages if not s.recheck_of)

    @property
    def max_score(self) -> int:
        return sum(s.max_points for s in self.stages if s.available and not s.recheck_of)

    @property
    def broken(self) -> list[str]:
        """The re-checked earlier stages that fail now."""
        return [s.id for s in self.stages if s.recheck_of and s.available and not s.passed]

    @property
    def all_passed(self) -> bool:
        return all(s.passed for s in self.stages if s.available)

    @property
    def advisory(self) -> bool:
        """Graded without a sandbox: learner code could read and write what the grader can, so these points
        are advice, not marks (every report says so)."""
        return not self.isolation.startswith("bubblewrap")

    def to_dict(self) -> dict:
        stages = []
        for s in self.stages:
            entry = asdict(s)
            for failure in entry["failures"]:
                failure.pop("template", None)
                failure["message"], failure["hint"] = str.__str__(failure["message"]), str.__str__(failure["hint"])
                if failure.get("translation") is None:
                    failure.pop("translation", None)
            entry["seconds"] = round(s.seconds, 2)
            entry["recheck"] = bool(s.recheck_of)   # graded again for recheck_of: not in score/max_score
            stages.append(entry)
        return {"project": as_data(self.project, 1000), "score": self.score, "max_score": self.max_score,
                "isolation": self.isolation, "advisory": self.advisory, "stages": stages}
