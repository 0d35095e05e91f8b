"""The `kit` command: check, status, hint, serve, solve, reset, stages; for instructors, release, grade-all, bench.

Exit codes: 0 every graded stage passes, 1 some stage fails, 2 usage error.
"""
from __future__ import annotations

import argparse
import sys


from kit.course import catalogue
from kit.course.i18n import LANGUAGES, N_, T, _, translated
from kit.course.project import NotAProjectTree
from kit.isolation.sandbox import SandboxUnavailable

from kit.commands.common import add_lang, add_project, err, LEARNER_COMMANDS, OUTPUT_FORMATS, USAGE_ERROR, UsageError
from kit.commands.instructor import cmd_bench, cmd_grade_all, cmd_grade_merge, cmd_release
from kit.commands.learner import cmd_check, cmd_hint, cmd_reset, cmd_serve, cmd_solve, cmd_stages, cmd_status


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    chosen = _lang_in(argv)
    if chosen:   # before the parser is built: its help is said in this language; the choice reaches
        import os   # everything this command starts (kit/course/i18n.py)

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

    from kit.class_grading.classfolder import HELP_EPILOG, REQUIREMENTS

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

    from kit.benchmark.bench import DEFAULT_LAYERS

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


def _learner_commands_first(parser: argparse.ArgumentParser, sub) -> None:
    """List the learner's commands under COMMAND and the instructor's in the epilog, apart."""
    entries = {action.dest: action for action in sub._choices_actions}
    sub._choices_actions[:] = [entries[name] for name in LEARNER_COMMANDS if name in entries]
    others = [action for name, action in entries.items() if name not in LEARNER_COMMANDS]
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _("commands for instructors:") + "\n" + "\n".join(
        f"  {action.dest:<11} {action.help or ''}" for action in others) + \
        "\n\n" + _("Run `kit COMMAND --help` for a command's options.")


if __name__ == "__main__":
    sys.exit(main())
