"""The instructor's commands: release, grade-all, grade-merge and bench."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console

from kit.course.i18n import T, _
from kit.commands.common import chosen_project, known_stages, UsageError


def cmd_release(args) -> int:
    from kit.output.release import ReleaseError, build

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


def cmd_grade_all(args) -> int:
    from kit.class_grading.classfolder import REQUIREMENTS
    from kit.class_grading.gradeall import GradeAllError, run

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
            from kit.class_grading.shards import index_from

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
    from kit.class_grading.gradeall import GradeAllError
    from kit.class_grading.shards import merge

    try:
        merge([Path(f) for f in args.folders], Path(args.out), Console(), force=args.force)
    except GradeAllError as exc:
        raise UsageError(exc.args[0] if exc.args else str(exc)) from None
    return 0


def cmd_bench(args) -> int:
    from kit.benchmark import bench

    try:
        return bench.command(args, chosen_project(args))
    except bench.UsageError as exc:
        raise UsageError(str(exc)) from None
