"""`kit check --watch`: re-grade the stage in hand each time a project file is saved.

With stage ids, those stages are re-graded. Without, the stage in hand is the
first one that fails: it is re-graded on every save and, once it passes, the
next stages are graded in order until one fails, so the learner always sees
what to do next. Polling modification times keeps this free of platform
watchers; stages are graded one at a time in this (main) thread, so Ctrl-C
stops the running checkpoint process at once and leaves nothing behind.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from kit.course import catalogue
from kit.grading.report import Report, StageResult, as_data
from kit.grading.grader import grade_stage
from kit.course.i18n import _, numeral
from kit.course.project import NOT_WATCHED, NOT_WATCHED_ENDINGS
from kit.isolation.sandbox import detect
from kit.output.render import table

POLL_SECONDS = 0.4
SETTLE_SECONDS = 0.3      # editors save in several writes: wait until the tree is quiet


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every project file that a save could change."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in NOT_WATCHED and not d.startswith(".")]
        for name in filenames:
            if name.endswith(NOT_WATCHED_ENDINGS) or name.startswith((".#", ".")):
                continue
            path = os.path.join(dirpath, name)
            try:
                info = os.lstat(path)   # a link is watched as a link, never followed
            except OSError:   # deleted between listing and stat
                continue
            seen[os.path.relpath(path, root)] = (info.st_mtime_ns, info.st_size)
    return seen


def changed(before: dict, after: dict) -> list[str]:
    return sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))


class Watcher:
    def __init__(self, project: Path, stage_ids: list[str], console: Console | None = None):
        self.project = project
        self.named = [catalogue.get(s) for s in stage_ids]
        self.console = console or Console()
        self.order = [s for s in catalogue.STAGES if s.available]
        self.current = 0   # index in self.order of the stage in hand (when no stage is named)

    def grade_round(self) -> None:
        if self.named:
            results = [grade_stage(self.project, stage, detect()) for stage in self.named]
        else:
            results = self._grade_from_current()
        self.console.print(table(Report(project=str(self.project), stages=results,
                                        isolation=detect().describe())))
        self._say_what_next(results)

    def _grade_from_current(self) -> list[StageResult]:
        results = []
        while self.current < len(self.order):
            result = grade_stage(self.project, self.order[self.current], detect())
            results.append(result)
            if not result.passed:
                break
            self.current += 1
        return results

    def _say_what_next(self, results: list[StageResult]) -> None:
        if self.named:
            failing = [r.id for r in results if not r.passed]
            verdict = (_("still failing: {stages}").format(stages=", ".join(failing)) if failing
                       else "[green]" + _("all named stages pass") + "[/]")
            self.console.print(verdict)
        elif self.current >= len(self.order):
            self.console.print("[bold green]" + _("Every available stage passes.") + "[/] "
                               + _("Run `kit check` for the full table."))
        else:
            stage = self.order[self.current]
            self.console.print(_("Stage in hand: {number} [bold]{id}[/] ({title}), files {files}").format(
                number=numeral(stage.number), id=stage.id, title=_(stage.title), files=", ".join(stage.files)))
        self.console.print("[dim]" + _("Watching for saved files; Ctrl-C stops.") + "[/]")

    def run(self, poll: float = POLL_SECONDS) -> int:
        self.console.print(_("Watching {project}: each save re-grades {what}").format(
            project=escape(as_data(str(self.project), 1000)), what=", ".join(s.id for s in self.named) if self.named
            else _("the first failing stage")))
        try:
            seen = snapshot(self.project)
            self.grade_round()
            while True:
                time.sleep(poll)
                now = snapshot(self.project)
                if now == seen:
                    continue
                while True:
                    time.sleep(SETTLE_SECONDS)
                    later = snapshot(self.project)
                    if later == now:
                        break
                    now = later
                files = changed(seen, now)
                seen = now
                shown = ", ".join(files[:3]) + (" ..." if len(files) > 3 else "")
                # File names are the learner's: data, never markup or control characters.
                self.console.rule(escape(_("{files} changed, {time}").format(files=as_data(shown, 300),
                                                                             time=time.strftime('%H:%M:%S'))))
                self.grade_round()
        except KeyboardInterrupt:
            self.console.print(_("Stopped watching."))
            return 0


def watch(project: Path, stage_ids: list[str], console: Console | None = None) -> int:
    return Watcher(project, stage_ids, console).run()
