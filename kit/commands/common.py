"""What the commands share: exit codes, the project a command works on, the grader's run and its
output format, the sandbox's refusal."""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from kit.course import catalogue
from kit.course.i18n import LANGUAGES, N_, T, _, numeral
from kit.course.project import active_project, validate
from kit.isolation.sandbox import SandboxUnavailable


USAGE_ERROR = 2
HINT = N_("hint: {hint}")
# `kit --help` lists the learner's commands, in this order, and the instructor's apart.
LEARNER_COMMANDS = ("check", "status", "hint", "serve", "solve", "reset", "stages")
OUTPUT_FORMATS = ("table", "json", "points", "classroom")
err = Console(stderr=True)


class UsageError(Exception):
    """Bad arguments: printed as one line, exit code 2."""


def add_project(command: argparse.ArgumentParser) -> None:
    command.add_argument("--project", help=_("your project tree (default: project/ or $KIT_PROJECT)"))


def add_lang(command: argparse.ArgumentParser) -> None:
    command.add_argument("--lang", choices=LANGUAGES,
                         help=_("the language of what the kit says (default: $KIT_LANG, else $LANGUAGE/$LANG, else en); "
                              "reports keep the English message and add the translation beside it"))


def chosen_project(args) -> Path:
    return validate(args.project) if args.project else validate(active_project())


def known_stages(ids: list[str]) -> list[str]:
    for stage_id in ids:
        catalogue.get(stage_id)  # raises UnknownStage naming the known stages
    return ids


def run_grader(project: Path, stage_ids: list[str]):
    from kit.grading.grader import grade

    stages = stage_ids or [s.id for s in catalogue.STAGES]
    recheck = bool(stage_ids)  # `kit check users` also grades the earlier stages users can break
    if not err.is_terminal:
        return grade(project, stages, recheck=recheck)
    grading = _("grading {count} stage(s) of {project} ...").format(count=numeral(len(stages)), project=project)
    with err.status(grading) as spinner:
        done = []   # one line per graded stage, under the spinner; all of it makes way for the table

        def progress(result):
            from rich.markup import escape

            mark = {"pass": "[green]✔[/]", "fail": "[red]✘[/]"}.get(result.verdict, "[dim]·[/]")
            done.append(f"{mark} {escape(result.id)}  {result.points}/{result.max_points}  [dim]({result.seconds:.1f} s)[/]")
            spinner.update("\n".join([grading, *done]))

        return grade(project, stages, on_stage_done=progress, recheck=recheck)


def output_format(args) -> str:
    """The one report that goes to stdout; two at once would be unreadable to any machine."""
    asked = {name for name, wanted in (("json", args.json == "-"), ("points", args.points),
                                       (args.output_format, bool(args.output_format))) if wanted}
    if len(asked) > 1:
        first, second = sorted(asked)[:2]
        raise UsageError(T("choose one report for standard output, not {first} and {second}.", first=first,
                           second=second) if len(asked) == 2 else
                         f"choose one report for standard output, not {' and '.join(sorted(asked))}.")
    chosen = asked.pop() if asked else "table"
    if args.watch and chosen != "table":
        raise UsageError(T("--watch shows the table; it cannot be combined with --format, --points or --json -."))
    return chosen


NO_SANDBOX = T("No sandbox works on this machine, so points cannot be awarded: install bubblewrap "
               "(apt-get install bubblewrap) or pass --allow-unsandboxed to mark them advisory.")


def classroom_refusal(project: Path, allow_unsandboxed: bool) -> str:
    """Why --format classroom will not grade this tree on this machine (one sentence), or ""."""
    from kit.course.project import links_leaving
    from kit.isolation.sandbox import detect

    leaving = links_leaving(project)
    if leaving:
        return T("{project} holds a symbolic link that leads out of it ({link}), and grading never follows "
                 "links: replace it with the file itself.", project=str(project), link=leaving[0])
    try:
        sandboxed = detect().sandboxed
    except SandboxUnavailable as exc:   # KIT_REQUIRE_SANDBOX=1: its own sentence
        return str(exc)
    if not sandboxed and not allow_unsandboxed:
        return NO_SANDBOX
    return ""


def warn_unsandboxed(isolation: str) -> None:
    """Grading for points without a sandbox: the learner's code could read or change what this user can."""
    if not isolation.startswith("bubblewrap"):
        err.print("[bold yellow]" + T("WARNING: grading without a sandbox ({isolation}). Install bubblewrap "
                                      "(apt-get install bubblewrap) so grades cannot be forged.",
                                      isolation=isolation).translate() + "[/]", soft_wrap=True)
