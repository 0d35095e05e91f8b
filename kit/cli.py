"""The `kit` command: check, status, hint, serve, solve, reset, stages; for instructors, release, grade-all, bench.

Exit codes: 0 every graded stage passes, 1 some stage fails, 2 usage error.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console

from . import catalogue, render
from .i18n import LANGUAGES, N_, SOURCE, T, _, numeral, translated
from .project import NotAProjectTree, active_project, validate
from .sandbox import SandboxUnavailable

USAGE_ERROR = 2
HINT = N_("hint: {hint}")
# `kit --help` lists the learner's commands, in this order, and the instructor's apart.
LEARNER_COMMANDS = ("check", "status", "hint", "serve", "solve", "reset", "stages")
OUTPUT_FORMATS = ("table", "json", "points", "classroom")
err = Console(stderr=True)


class UsageError(Exception):
    """Bad arguments: printed as one line, exit code 2."""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = _lang_in(argv)
    if chosen:   # before the parser is built: its help is said in this language; the choice reaches
        import os   # everything this command starts (kit/i18n.py)

        os.environ["KIT_LANG"] = chosen
    with argparse_speaks_kit_language():
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "command", None):
            parser.print_help()
            return USAGE_ERROR
    try:
        return args.run(args)
    except (UsageError, NotAProjectTree, catalogue.UnknownStage, SandboxUnavailable) as exc:
        said = exc.args[0] if exc.args and isinstance(exc.args[0], T) else str(exc)   # a T keeps its template
        from rich.markup import escape

        # One unwrapped line: a path or a Bengali sentence is never cut where rich guesses a width.
        err.print(f"[bold red]kit {args.command}:[/] {escape(translated(said).strip(chr(34) + chr(39)))}",
                  soft_wrap=True)
        return USAGE_ERROR
    except KeyboardInterrupt:
        err.print("[yellow]" + _("Interrupted; every process the kit started has been stopped.") + "[/]")
        return 130


def _lang_in(argv: list[str]) -> str | None:
    """The --lang value among the arguments (argparse reads it only after the help is made)."""
    for index, arg in enumerate(argv):
        if arg == "--lang" and index + 1 < len(argv) and argv[index + 1] in LANGUAGES:
            return argv[index + 1]
        if arg.startswith("--lang=") and arg[7:] in LANGUAGES:
            return arg[7:]
    return None


# argparse's own words ("usage:", "options", its error messages): it looks them up through gettext's
# domain "argparse", which has no Bengali; while `kit` parses, they come from the kit's catalogue.
ARGPARSE_WORDS = (
    N_("usage: "), N_("options"), N_("positional arguments"), N_("show this help message and exit"),
    N_("the following arguments are required: %s"), N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("unrecognized arguments: %s"), N_("argument %(argument_name)s: %(message)s"),
    N_("%(prog)s: error: %(message)s\n"), N_("expected one argument"), N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"), N_("ignored explicit argument %r"),
)


class argparse_speaks_kit_language:
    """Within: argparse's messages in the kit's language (English stays English)."""

    def __enter__(self):
        self.saved = argparse._, argparse.ngettext
        argparse._ = _
        argparse.ngettext = lambda one, many, n: _(one if n == 1 else many)
        return self

    def __exit__(self, *exc):
        argparse._, argparse.ngettext = self.saved
        return False


def _command(sub, name: str, helptext: str, **kwargs) -> argparse.ArgumentParser:
    """A sub-command whose --help opens with its one-line description."""
    return sub.add_parser(name, help=helptext, description=helptext, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kit", description=_("Channels Kit: grade, serve and manage your chat project."))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title=_("commands for learners"))

    check = _command(sub, "check", _("grade stages of a project tree"))
    check.add_argument("stages", nargs="*", metavar="STAGE", help=_("stage ids (default: all)"))
    check.add_argument("--project", help=_("the tree to grade (default: project/ or $KIT_PROJECT)"))
    check.add_argument("--json", metavar="FILE", help=_("write the JSON report to FILE ('-' for stdout)"))
    check.add_argument("--junit", metavar="FILE", help=_("write a JUnit XML report to FILE"))
    check.add_argument("--format", choices=OUTPUT_FORMATS, dest="output_format",
                       help=_("what goes to stdout: the table (default), the JSON report, the table then a "
                            "'Points N/M' line, or GitHub Classroom's base64 result"))
    check.add_argument("--points", action="store_true", help=_("same as --format points"))
    check.add_argument("--allow-unsandboxed", action="store_true",
                       help=_("with --format classroom: award points even without a sandbox (they are marked "
                            "advisory); without this, classroom grading refuses to run unsandboxed"))
    check.add_argument("--watch", action="store_true",
                       help=_("re-grade the first failing stage (or the named ones) each time a project file is saved"))
    add_lang(check)
    check.set_defaults(run=cmd_check)

    stages = _command(sub, "stages", _("list the course's stages"))
    stages.add_argument("--markdown", action="store_true", help=_("print the README's table"))
    add_lang(stages)
    stages.set_defaults(run=cmd_stages)

    status = _command(sub, "status", _("your progress through the stages, and what to do next"))
    add_project(status)
    add_lang(status)
    status.set_defaults(run=cmd_status)

    hint = _command(sub, "hint", _("the next hint for your first failing check"))
    hint.add_argument("stage", nargs="?", metavar="STAGE", help=_("a stage id (default: the first failing stage)"))
    add_project(hint)
    add_lang(hint)
    hint.set_defaults(run=cmd_hint)

    serve = _command(sub, "serve", _("run daphne on the project (Ctrl-C stops it)"))
    add_project(serve)
    serve.add_argument("--port", type=int, help=_("port on 127.0.0.1 (default: a free one)"))
    add_lang(serve)
    serve.set_defaults(run=cmd_serve)

    for name, helptext, func in (("solve", N_("write a stage's solution into your project (backup kept)"), cmd_solve),
                                 ("reset", N_("put a stage's files back as the stage starts (backup kept)"), cmd_reset)):
        cmd = _command(sub, name, _(helptext))
        cmd.add_argument("stage", metavar="STAGE")
        add_project(cmd)
        cmd.add_argument("--force", action="store_true", help=_("also replace files you edited for other stages"))
        add_lang(cmd)
        cmd.set_defaults(run=func)

    release = _command(sub, "release", _("write the student version of the kit (no solutions, no hidden checks)"))
    release.add_argument("out_dir", metavar="OUT_DIR", help=_("a new or empty folder"))
    add_lang(release)
    release.set_defaults(run=cmd_release)

    from .classfolder import HELP_EPILOG, REQUIREMENTS

    grade_all = _command(sub, "grade-all", _("grade every learner's tree under DIR; write CSV, HTML and a summary"),
                               epilog=HELP_EPILOG)
    grade_all.add_argument("directory", metavar="DIR", help=_("one folder (or archive) per learner, each holding a "
                                                            "project tree"))
    grade_all.add_argument("stages", nargs="*", metavar="STAGE", help=_("stage ids (default: all)"))
    grade_all.add_argument("--out", metavar="FOLDER", help=_("where the reports go (default: ./<DIR name>-grades)"))
    grade_all.add_argument("--resume", action="store_true",
                           help=_("continue the gradebook in --out: grade only the learners it lacks"))
    grade_all.add_argument("--force", action="store_true", help=_("replace the gradebook already in --out"))
    grade_all.add_argument("--allow-unsandboxed", action="store_true",
                           help=_("grade even though no sandbox works here: every report marks the points advisory "
                                "(same as --allow-missing sandbox)"))
    grade_all.add_argument("--allow-missing", metavar="WHAT", default="",
                           help=_("grade even though this machine lacks {requirements} (comma-separated): the stages "
                                  "it cannot grade are 'not graded', points without a sandbox advisory").format(
                               requirements=" / ".join(REQUIREMENTS)))
    grade_all.add_argument("--shard-count", type=int, metavar="N",
                           help=_("grade the class as N shards, this run only one of them (see kit grade-merge)"))
    grade_all.add_argument("--shard-index", type=int, metavar="I",
                           help=_("the shard to grade, 0 to N-1 (default: $SLURM_ARRAY_TASK_ID or "
                                  "$JOB_COMPLETION_INDEX): learners sorted by folder name (NFC), the k-th to shard "
                                  "k mod N"))
    grade_all.add_argument("--jobs", type=int, metavar="N",
                           help=_("learners graded at once, each with services of its own (default: what fits this "
                                  "machine, a learner per two cores within its memory)"))
    add_lang(grade_all)
    grade_all.set_defaults(run=cmd_grade_all)

    grade_merge = _command(sub, "grade-merge", _("merge the shards of one grade-all into the class's gradebook"))
    grade_merge.add_argument("folders", nargs="+", metavar="FOLDER", help=_("the shards' --out folders"))
    grade_merge.add_argument("--out", metavar="FOLDER", required=True, help=_("where the class's gradebook goes"))
    grade_merge.add_argument("--force", action="store_true", help=_("replace the gradebook already in --out"))
    add_lang(grade_merge)
    grade_merge.set_defaults(run=cmd_grade_merge)

    from .bench import DEFAULT_LAYERS

    bench = _command(sub, "bench", _("measure each channel layer: throughput, latency, lost messages"))
    bench.add_argument("--project", help=_("the tree to serve (default: project/ or $KIT_PROJECT)"))
    # Defaults: a burst 5x the default capacity into every socket's channel, done in under 30 s on 2 cores.
    bench.add_argument("--clients", type=int, default=20, help=_("sockets in the room (default 20)"))
    bench.add_argument("--senders", type=int, default=5, help=_("how many of them send (default 5)"))
    bench.add_argument("--messages", type=int, default=100, help=_("messages per sender (default 100)"))
    bench.add_argument("--layers", default=DEFAULT_LAYERS,
                       help=_("comma-separated memory, redis, pubsub, each optionally :capacity (default {layers})")
                       .format(layers=DEFAULT_LAYERS))
    bench.add_argument("--no-bare", action="store_true", help=_("skip the bare websockets baseline"))
    bench.add_argument("--quiet", type=float, default=1.5,
                       help=_("seconds in which nothing arrives after which a run stops and the rest counts as lost "
                            "(default 1.5)"))
    bench.add_argument("--json", metavar="FILE", help=_("write the figures as JSON to FILE ('-' for stdout)"))
    bench.set_defaults(run=cmd_bench)
    _learner_commands_first(parser, sub)
    return parser


def add_project(command: argparse.ArgumentParser) -> None:
    command.add_argument("--project", help=_("your project tree (default: project/ or $KIT_PROJECT)"))


def add_lang(command: argparse.ArgumentParser) -> None:
    command.add_argument("--lang", choices=LANGUAGES,
                         help=_("the language of what the kit says (default: $KIT_LANG, else $LANGUAGE/$LANG, else en); "
                              "reports keep the English message and add the translation beside it"))


def _learner_commands_first(parser: argparse.ArgumentParser, sub) -> None:
    """List the learner's commands under COMMAND and the instructor's in the epilog, apart."""
    entries = {action.dest: action for action in sub._choices_actions}
    sub._choices_actions[:] = [entries[name] for name in LEARNER_COMMANDS if name in entries]
    others = [action for name, action in entries.items() if name not in LEARNER_COMMANDS]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _("commands for instructors:") + "\n" + "\n".join(
        f"  {action.dest:<11} {action.help or ''}" for action in others) + \
        "\n\n" + _("Run `kit COMMAND --help` for a command's options.")


def chosen_project(args) -> Path:
    return validate(args.project) if args.project else validate(active_project())


def known_stages(ids: list[str]) -> list[str]:
    for stage_id in ids:
        catalogue.get(stage_id)  # raises UnknownStage naming the known stages
    return ids


# -- check / status ------------------------------------------------------------
def run_grader(project: Path, stage_ids: list[str]):
    from .grader import grade

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


def cmd_check(args) -> int:
    from . import classroom, hidden

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
        from .watch import watch

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


def cmd_release(args) -> int:
    from .release import ReleaseError, build

    try:
        release = build(args.out_dir)
    except ReleaseError as exc:
        raise UsageError(str(exc)) from None
    out = Console()
    for warning in release.warnings:
        out.print(f"[yellow]{warning}[/]")
    out.print(T("Wrote the student release to {out}: {files} files, {notebooks} notebook(s) without outputs; no "
                "solutions/, no hidden checks.", out=str(release.out), files=len(release.files),
                notebooks=len(release.notebooks)).translate())
    out.print(_("Next: make it a git repository and push it as the GitHub Classroom template (docs/instructors.md)."))
    return 0


NO_SANDBOX = T("No sandbox works on this machine, so points cannot be awarded: install bubblewrap "
               "(apt-get install bubblewrap) or pass --allow-unsandboxed to mark them advisory.")


def classroom_refusal(project: Path, allow_unsandboxed: bool) -> str:
    """Why --format classroom will not grade this tree on this machine (one sentence), or ""."""
    from .project import links_leaving
    from .sandbox import detect

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


def cmd_grade_all(args) -> int:
    from .classfolder import REQUIREMENTS
    from .gradeall import GradeAllError, run

    allowed = {name.strip() for name in args.allow_missing.split(",") if name.strip()}
    unknown = sorted(allowed - set(REQUIREMENTS))
    if args.allow_unsandboxed:
        allowed.add("sandbox")
    if unknown:
        raise UsageError(T("--allow-missing takes {known}, not {unknown}.", known=", ".join(REQUIREMENTS),
                           unknown=", ".join(unknown)))
    try:
        shard = None
        if args.shard_count is not None or args.shard_index is not None:
            from .shards import index_from

            if args.shard_count is None:
                raise GradeAllError(T("--shard-index needs --shard-count, the number of shards."))
            shard = (index_from(args.shard_index, args.shard_count), args.shard_count)
        if args.jobs is not None and args.jobs < 1:
            raise GradeAllError(T("--jobs must be 1 or more, not {jobs}.", jobs=args.jobs))
        return run(args.directory, known_stages(args.stages), args.out, Console(), resume=args.resume,
                   force=args.force, allow_missing=allowed, language=args.lang, shard=shard, jobs=args.jobs)
    except GradeAllError as exc:
        raise UsageError(exc.args[0] if exc.args else str(exc)) from None


def cmd_grade_merge(args) -> int:
    from .gradeall import GradeAllError
    from .shards import merge

    try:
        merge([Path(f) for f in args.folders], Path(args.out), Console(), force=args.force)
    except GradeAllError as exc:
        raise UsageError(exc.args[0] if exc.args else str(exc)) from None
    return 0


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


def cmd_bench(args) -> int:
    from . import bench

    try:
        return bench.command(args, chosen_project(args))
    except bench.UsageError as exc:
        raise UsageError(str(exc)) from None


# -- serve -------------------------------------------------------------------------
def cmd_serve(args) -> int:
    from rich.markup import escape

    from .server import DaphneServer, ServerError

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


# -- hint ------------------------------------------------------------------------
def cmd_hint(args) -> int:
    from . import hints
    from .grader import grade

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


# -- solve / reset -------------------------------------------------------------------
def cmd_solve(args) -> int:
    from .files import solve

    if not catalogue.get(args.stage).files:
        return _nothing_to_write(args)
    return solve(catalogue.get(args.stage), chosen_project(args), force=args.force)


def cmd_reset(args) -> int:
    from .files import reset

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


if __name__ == "__main__":
    sys.exit(main())
