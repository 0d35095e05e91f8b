"""The learner's commands: check, stages, status, serve, hint, solve and reset."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from rich.console import Console

from kit.course import catalogue
from kit.output import render
from kit.course.i18n import SOURCE, T, _, numeral, translated
from kit.course.project import NotAProjectTree
from kit.commands.common import (chosen_project, classroom_refusal, err, HINT, known_stages, output_format, run_grader,
                     UsageError, warn_unsandboxed)


def cmd_check(args) -> int:
    from kit.output import classroom
    from kit.course import hidden

    fmt = output_format(args)
    try:
        project = chosen_project(args)
        stage_ids = known_stages(args.stages)
        for orphan in hidden.orphans():
            err.print(f"[yellow]kit check: hidden check {orphan} names no stage (name it test_<stage>_<what>.py); "
                      "it is not run.[/]", soft_wrap=True)
    except (NotAProjectTree, catalogue.UnknownStage, hidden.HiddenChecksError) as exc:
        if fmt == "classroom":  # Classroom's reporter still needs a result to show the learner why
            known = [s for s in args.stages if s in {st.id for st in catalogue.STAGES}]
            print(classroom.encode(classroom.error_result(str(exc).strip("'\""), known)))
        if isinstance(exc, hidden.HiddenChecksError):
            raise UsageError(str(exc)) from None
        raise
    if fmt == "classroom":   # points for a gradebook: a sandbox, and no link leading out of the tree
        refusal = classroom_refusal(project, args.allow_unsandboxed)
        if refusal:
            print(classroom.encode(classroom.error_result(refusal, stage_ids)))
            raise UsageError(refusal)
    if args.watch:
        from kit.lessons.watch import watch

        return watch(project, stage_ids)
    report = run_grader(project, stage_ids)
    if fmt == "json":
        print(render.to_json(report))
    elif fmt == "classroom":
        warn_unsandboxed(report.isolation)
        print(classroom.encode(classroom.classroom_result(report)))
    else:
        render.print_table(report)
        if fmt == "points":
            print(classroom.points_line(report))
    if args.json and args.json != "-":
        Path(args.json).write_text(render.to_json(report), encoding="utf-8")
    if args.junit:
        Path(args.junit).write_text(render.to_junit(report), encoding="utf-8")
    return 0 if report.all_passed else 1


def cmd_stages(args) -> int:
    lang = render.language()   # a translated lesson lives under notebooks/<lang>/
    if args.markdown:
        print(catalogue.markdown_table() if lang == SOURCE else translated_markdown_table(lang))
        return 0
    from rich.table import Table

    grid = Table("#", _("stage"), _("you build"), _("points"), _("files"), _("notebook"))
    for stage in catalogue.STAGES:
        grid.add_row(numeral(stage.number), stage.id, _(stage.builds), str(stage.points), "\n".join(stage.files),
                     stage.notebook if lang == SOURCE else f"{lang}/{stage.notebook}")
    with render.terminal_measure():   # a Bengali cell is as wide as a terminal draws it: the borders stay in line
        Console().print(grid)
    return 0


def translated_markdown_table(lang: str) -> str:
    """The README's stage table for README.<lang>.md: catalogue.markdown_table() said in lang, linking
    the translated lessons."""
    rows = ["| # | " + " | ".join([_("stage"), _("you build"), _("points"), _("notebook")]) + " |",
            "|---|---|---|---|---|"]
    for stage in catalogue.STAGES:
        builds = _(stage.builds).replace("<", "&lt;").replace(">", "&gt;")
        rows.append(f"| {numeral(stage.number)} | `{stage.id}` | {builds} | {stage.points} | "
                    f"[{stage.notebook}](notebooks/{lang}/{stage.notebook}) |")
    rows.append(f"| | | **{_('total')}** | **{sum(s.points for s in catalogue.STAGES)}** | |")
    return "\n".join(rows)


def cmd_status(args) -> int:
    from rich.markup import escape

    project = chosen_project(args)
    report = run_grader(project, [])
    out = Console()
    marks = {"pass": "[green]✔[/]", "fail": "[red]✘[/]", "not yet available": "[dim]·[/]"}
    out.print("  ".join(f"{marks[r.verdict]} {r.id}" for r in report.stages))
    out.print(_("score {score}/{max_score}").format(score=report.score, max_score=report.max_score))
    upcoming = next((r for r in report.stages if r.available and not r.passed), None)
    if upcoming is None:
        out.print("[bold green]" + _("Every available stage passes. Well done!") + "[/]")
        return 0
    stage = catalogue.get(upcoming.id)
    lang = render.language()   # a translated lesson lives under notebooks/<lang>/ (as the feedback files say)
    out.print(_("Next: stage {number} [bold]{id}[/] ({title}): notebooks/{notebook}, files {files}").format(
        number=numeral(stage.number), id=stage.id, title=_(stage.title),
        notebook=stage.notebook if lang == SOURCE else f"{lang}/{stage.notebook}",
        files=", ".join(stage.files)))
    if upcoming.failures:
        message, hint = render.said(upcoming.failures[0], render.language())
        out.print(f"  {escape(message)}\n  [dim]{escape(_(HINT).format(hint=hint))}[/]", soft_wrap=True)
    return 1


def cmd_serve(args) -> int:
    from rich.markup import escape

    from kit.services.server import DaphneServer, ServerError

    server = DaphneServer(chosen_project(args), port=args.port)
    try:
        server.start()
    except ServerError as exc:
        err.print(f"[bold red]kit serve:[/] {escape(translated(str(exc)))}")
        return 1
    out = Console()
    # Plain print, one line: tools and tests read the URL from it (the first http:// on the line).
    print(T("daphne is serving {project} at {url}/chat/ (ready in {seconds:.1f} s)", project=str(server.project),
            url=server.url, seconds=server.started_in).translate(), flush=True)
    out.print(_("Press Ctrl-C to stop. daphne does not reload: restart it after editing a file."))
    shown = 0
    try:
        while server.running:
            text = server.log_text()
            if len(text) > shown:
                sys.stdout.write(text[shown:])
                sys.stdout.flush()
                shown = len(text)
            time.sleep(0.2)
        out.print("[red]" + T("daphne stopped by itself (exit code {code}).", code=server.process.returncode).translate()
                  + "[/]")
        return 1
    except KeyboardInterrupt:
        out.print(_("stopping daphne ..."))
        return 0
    finally:
        server.stop()


def cmd_hint(args) -> int:
    from kit.course import hints
    from kit.grading.grader import grade

    project = chosen_project(args)
    if args.stage:
        candidates = [catalogue.get(args.stage)]
    else:
        candidates = [s for s in catalogue.STAGES if s.available]
    # In-process stages grade together in seconds; live ones one at a time, stopping at the first failure.
    quick = [s.id for s in candidates if not s.live]
    results = {r.id: r for r in grade(project, quick).stages} if quick else {}
    failing = None
    for stage in candidates:
        result = results.get(stage.id) or grade(project, [stage.id]).stages[0]
        if result.available and not result.passed:
            failing = result
            break
    if failing is None:
        print(_("Stage {stage} passes: no hint needed.").format(stage=args.stage) if args.stage
              else _("Every available stage passes: no hint needed."))
        return 0
    stage = catalogue.get(failing.id)
    failure = failing.failures[0] if failing.failures else None
    check = failure.test if failure else "stage"
    template = failure.template if failure else None
    ladder = catalogue.hint_ladder(stage.id, check, template)
    rung = hints.next_rung(project, stage.id, check, ladder,
                           failure=hints.failure_key(failure.message, template) if failure else None)
    # Plain prints: a hint is read whole, never wrapped mid-fragment.
    lang = render.language()
    print(_("Stage {number} {id}, check {check}: {message}").format(
        number=numeral(stage.number), id=stage.id, check=hints.check_name(check),
        message=render.said(failure, lang)[0] if failure else _("not passed yet.")))
    print(_("Hint {rung} of {rungs}: {hint}").format(rung=numeral(rung + 1), rungs=numeral(len(ladder)), hint=translated(ladder[rung])))
    if rung + 1 < len(ladder):
        print(_("Run `kit hint {id}` again for a stronger hint.").format(id=stage.id))
    else:
        print(_("That is the last hint for this check. `kit solve {id}` writes this stage's solution "
                "(your files are backed up first).").format(id=stage.id))
    return 1


def cmd_solve(args) -> int:
    from kit.course.files import solve

    if not catalogue.get(args.stage).files:
        return _nothing_to_write(args)
    return solve(catalogue.get(args.stage), chosen_project(args), force=args.force)


def cmd_reset(args) -> int:
    from kit.course.files import reset

    if not catalogue.get(args.stage).files:
        return _nothing_to_write(args)
    return reset(catalogue.get(args.stage), chosen_project(args), force=args.force)


def _nothing_to_write(args) -> int:
    """A stage with no files of its own (daphne) is said and exits 0: a script solving stages in a loop goes on."""
    stage = catalogue.get(args.stage)
    chosen_project(args)   # a wrong --project is still a usage error
    Console().print(T("Stage {id} has no files of its own: it checks the earlier stages' files. "
                      "Solve or reset those stages instead.", id=stage.id).translate())
    return 0

