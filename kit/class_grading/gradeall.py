"""`kit grade-all DIR`: grade every learner's project tree under DIR, then write the class's gradebook.

DIR holds one folder (or archive) per learner; kit/class_grading/classfolder.py finds each
learner's tree in the layouts a release and `gh classroom clone` produce.
Trees are graded with the real grader (each stage in its own process, as `kit
check` does), `--jobs` learners at a time, each in a grading process of its own
(kit/class_grading/gradejobs.py); whatever a submission holds (a syntax error, an infinite
loop, no tree at all, a tree too big), it gets its row with the reason, and the
batch goes on. A learner the machine failed is "not graded, re-run", never 0.

Before it starts, grade-all checks that this machine can grade every stage
asked for: the sandbox, and a browser for the stages that drive one. Without
one it refuses, unless told to go on without it (`--allow-missing
browser,sandbox`): then the stages it cannot grade are "not graded" in every
report, never 0, and points without a sandbox are marked advisory.

The gradebook (kit/class_grading/gradebook.py) is written after every learner, atomically;
SIGINT, SIGTERM or SIGHUP (a dropped SSH session) stop the batch and leave it
marked partial, and `--resume` grades only the learners it lacks. A second run
into the same --out refuses without --force or --resume.
"""
from __future__ import annotations

import shutil
import signal
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from kit.course import catalogue
from kit.class_grading import gradejobs
from kit.class_grading.classfolder import (GRADED, HELP_EPILOG, REFUSED, REQUIREMENTS, GradeAllError,  # noqa: F401 (API)
                          Submission, find_submissions, looks_like_tree)
from kit.class_grading.classsummary import rerun_line, summary_tables
from kit.class_grading.grades import (FEEDBACK, FILES, MACHINE, Meta, clean, is_not_graded, kit_commit, learner_max, max_score,
                     now, reasons, short)
from kit.class_grading.gradebook import load, write_all
from kit.class_grading.gradebook import write_csv as _write_csv
from kit.course.i18n import T, _, numeral

NO_BROWSER = T("no browser on the grading machine")
SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class Interrupted(KeyboardInterrupt):
    """A signal stopped the batch; args[0] names it."""


def write_csv(path: Path, submissions: list[Submission], stage_ids: list[str]) -> None:
    _write_csv(path, submissions, stage_ids)


# -- what this machine can grade -----------------------------------------------------------------------
def browser_stages(stage_ids: list[str]) -> list[str]:
    """The stages whose checks drive a browser (their checkpoint calls browser.require())."""
    return [s for s in stage_ids if "browser.require()" in catalogue.get(s).checkpoint.read_text(encoding="utf-8")]


def preflight(stage_ids: list[str], allow_missing: set[str]):
    """(the isolation, {stage: why it cannot be graded here}); GradeAllError when something needed is missing."""
    from kit.services import browser
    from kit.isolation import sandbox

    isolation = sandbox.detect()
    missing, not_graded, machine_why = [], {}, ""
    if not isolation.sandboxed and "sandbox" not in allow_missing:
        missing.append(("sandbox", T("no sandbox ({detail})", detail=isolation.detail)))
    needing = browser_stages(stage_ids)
    why = browser.why_unavailable() if needing else None
    if why:
        if "browser" in allow_missing:
            not_graded = {stage_id: NO_BROWSER for stage_id in needing}
            machine_why = why
        else:
            missing.append(("browser", T("no browser for stage(s) {stages} ({why})", stages=", ".join(needing),
                                         why=why)))
    if [name for name, _ in missing] == ["sandbox"]:
        raise GradeAllError(T("No sandbox works on this machine ({detail}), so grade-all will not award points: "
                              "install bubblewrap (apt-get install bubblewrap), or run again with "
                              "--allow-unsandboxed (the same as --allow-missing sandbox) to mark every point "
                              "advisory.", detail=isolation.detail))
    if missing:
        raise GradeAllError(T("This machine cannot grade every stage asked for: {missing}. Install what is missing, "
                              "or run again with --allow-missing {names} to grade without it (those stages are "
                              "then 'not graded', and points without a sandbox are advisory).",
                              missing="; ".join(str(m) for _, m in missing),
                              names=",".join(name for name, _ in missing)))
    return isolation, not_graded, machine_why


# -- grading -----------------------------------------------------------------------------------------------
class Say:
    """The console, until it is gone (a dropped SSH session): then printing stops, grading does not."""

    def __init__(self, console: Console):
        self.console, self.alive = console, True

    def __call__(self, *things, **options) -> None:
        if not self.alive:
            return
        try:
            self.console.print(*things, **options)
        except (OSError, ValueError):
            self.alive = False


def learner_line(sub: Submission, stage_ids: list[str]) -> str:
    verdict = f"{sub.total}/{learner_max(sub, stage_ids)}"
    found = reasons(sub, stage_ids, None) if (sub.error or sub.total < learner_max(sub, stage_ids)
                                              or any(is_not_graded(sub.result(s)) for s in stage_ids)) else []
    why = ""
    if found:
        stage, text = found[0]
        more = T(" (+{count} more)", count=numeral(len(found) - 1)).translate() if len(found) > 1 else ""
        why = f"  [{'red' if sub.counted else 'yellow'}]{escape(short((stage + ': ' if stage else '') + text, 160))}" \
              f"{escape(more)}[/]"
    took = f"  [dim]({sub.seconds:.1f} s)[/]" if sub.seconds else ""
    return f"  {escape(clean(sub.learner))}: {verdict}{why}{took}"


def _signal_name(exc: KeyboardInterrupt) -> str:
    said = exc.args[0] if exc.args else ""
    return said if said in SIGNALS else "SIGINT"


def _catch_signals():
    """SIGINT, SIGTERM and SIGHUP stop the batch the way Ctrl-C does; a SIGHUP ignored (nohup) stays ignored."""
    previous = {}

    def stop(signum, frame):
        raise Interrupted(signal.Signals(signum).name)

    for name in SIGNALS:
        number = getattr(signal, name, None)
        if number is None or (name == "SIGHUP" and signal.getsignal(number) == signal.SIG_IGN):
            continue
        previous[number] = signal.signal(number, stop)
    return previous


def run(directory: str | Path, stage_ids: list[str], out_dir: str | Path | None, console: Console, *,
        resume: bool = False, force: bool = False, allow_missing: set[str] | None = None,
        language: str | None = None, shard: tuple[int, int] | None = None, jobs: int | None = None) -> int:
    """The whole command: check, find, grade (writing the gradebook after each learner); the exit code.
    shard=(index, count): only that shard's learners, and a manifest once complete (kit/class_grading/shards.py);
    jobs: learners graded at once (kit/class_grading/gradejobs.py; None: what fits the machine)."""
    allow_missing = set(allow_missing or ())
    root = Path(directory).expanduser().absolute()
    out = Path(out_dir).expanduser().resolve() if out_dir else Path.cwd().resolve() / f"{root.name}-grades"
    waiting = [s for s in stage_ids if not catalogue.get(s).available]
    if waiting:
        raise GradeAllError(T("stage(s) {stages} have no checkpoint in this kit yet, so cannot be graded.",
                              stages=", ".join(waiting)))
    stage_ids = stage_ids or [s.id for s in catalogue.STAGES if s.available]
    if resume and force:
        raise GradeAllError(T("choose --resume (continue the gradebook in {out}) or --force (replace it), not both.",
                              out=str(out)))
    kept = [out / name for name in (*FILES, FEEDBACK) if (out / name).exists()]
    if kept and not (resume or force):
        raise GradeAllError(T("{out} already holds a gradebook. Run with --resume to finish it, --force to replace "
                              "it, or choose another --out.", out=str(out)))
    if resume and not (out / "grades.json").is_file():
        raise GradeAllError(T("--resume: {out} holds no gradebook (grades.json) to continue.", out=str(out)))
    previous = load(out / "grades.json") if resume else None
    if previous and previous[0].get("stages") != stage_ids:
        raise GradeAllError(T("--resume: the gradebook in {out} graded stages {theirs}; resume it with the same "
                              "stages.", out=str(out), theirs=", ".join(previous[0].get("stages", []))))
    from kit.isolation import sandbox

    if seen := sandbox.shown_whole(root, out):
        raise GradeAllError(T("{place} lies under {tops}, which every sandbox shows whole: one learner's code could "
                              "read another learner's tree or the gradebook there. Move the class folder and --out "
                              "elsewhere, say /srv.", place=seen, tops=", ".join(sandbox.SYSTEM_TOPS)))
    say = Say(console)
    isolation, machine_not_graded, machine_why = preflight(stage_ids, allow_missing)
    from kit.course import hidden

    orphans = [path.name for path in hidden.orphans()]
    with tempfile.TemporaryDirectory(prefix="kit-unpacked-") as unpacked:
        submissions = find_submissions(root, skip=(out,), unpack_into=Path(unpacked))
        if not any(s.tree is not None or s.status == REFUSED or s.folder.is_file() for s in submissions):
            raise GradeAllError(T("{root} is not a class folder: none of its folders holds a project tree "
                                  "(manage.py, myproject/, myapp/) up to two levels down. Give grade-all the folder "
                                  "that holds one folder per learner.", root=str(root.resolve())))
        if shard:
            from kit.class_grading import shards

            whole, submissions = shards.pick(submissions, *shard)
            attempt = shards.unfinish(out)
        meta = Meta(directory=str(root.resolve()), stages=stage_ids, isolation=isolation.describe(),
                    kit_commit=kit_commit(), started=now(),
                    machine_not_graded={s: machine_why or why for s, why in machine_not_graded.items()},
                    hidden_orphans=orphans, language=language or "")
        if previous:
            data, done = previous
            meta.started = data.get("started") or meta.started
            # Graded learners are kept, matched by their folder (never by a shown name two folders may share); a
            # row refused before (too big, two trees) is looked at afresh.
            # A learner the machine failed is graded again.
            graded = {key: sub for key, sub in done.items() if sub.report is not None and sub.status != MACHINE}
            submissions = [graded.get(s.key, s) if s.status == GRADED else s for s in submissions]
            keys, names = {s.key for s in submissions}, {s.learner for s in submissions}
            submissions += [s for key, s in graded.items() if key not in keys and s.learner not in names]
            submissions.sort(key=lambda s: s.learner.lower())
        if force:
            for name in FILES:
                (out / name).unlink(missing_ok=True)
            shutil.rmtree(out / FEEDBACK, ignore_errors=True)
        code = _batch(submissions, stage_ids, out, meta, say, machine_not_graded, jobs or gradejobs.default_jobs())
        if shard and code == 0:   # last: only a complete shard gets the manifest the merge asks for
            shards.finish(out, whole, *shard, meta, attempt, submissions)
        return code


def _batch(submissions: list[Submission], stage_ids: list[str], out: Path, meta: Meta, say: Say,
           machine_not_graded: dict, jobs: int = 1) -> int:
    todo = [s for s in submissions if not s.done]
    say(T("Grading {count} submission(s) in {root}: stages {stages}", count=numeral(len(todo)),
          root=meta.directory, stages=", ".join(stage_ids)).translate(), soft_wrap=True)
    resumed = sum(1 for s in submissions if s.done and s.status in (GRADED, REFUSED) and s.report is not None)
    if resumed:
        say(T("Resuming: {count} learner(s) were graded before and are kept.", count=numeral(resumed)).translate())
    say(T("Isolation: {isolation}", isolation=meta.isolation).translate(), soft_wrap=True)
    if not meta.isolation.startswith("bubblewrap"):
        say("[bold yellow]" + escape(_("Graded without a sandbox: these points are advisory.")) + "[/]")
    for stage_id, why in meta.machine_not_graded.items():
        say("[yellow]" + escape(T("Stage {stage} will not be graded on this machine: {why}", stage=stage_id,
                                  why=why).translate()) + "[/]", soft_wrap=True)
    for orphan in meta.hidden_orphans:
        say("[yellow]" + escape(T("The hidden check {check} names no stage (name it test_<stage>_<what>.py); it "
                                  "will not be run.", check=orphan).translate()) + "[/]", soft_wrap=True)
    previous = _catch_signals()
    out.mkdir(parents=True, exist_ok=True)
    try:
        write_all(out, meta, submissions, chart=False)
        for sub in submissions:   # refused and tree-less rows are said once, before the grading
            if sub.done and sub.report is None and sub.error:
                say(learner_line(sub, stage_ids), soft_wrap=True)
        count = {"started": 0, "finished": 0}

        def started(sub: Submission) -> None:
            count["started"] += 1
            say(f"[dim]{numeral(count['started'])}/{numeral(len(todo))}[/] {escape(clean(sub.learner))} ...",
                soft_wrap=True)

        def finished(sub: Submission) -> None:   # in the order they end; the gradebook keeps the class's order
            count["finished"] += 1
            write_all(out, meta, submissions, chart=False, feedback=[sub])
            done = T("{done}/{total} done", done=numeral(count["finished"]), total=numeral(len(todo))).translate()
            say(learner_line(sub, stage_ids) + (f"  [dim]{escape(done)}[/]" if jobs > 1 else ""), soft_wrap=True)

        def again(subs: list[Submission]) -> None:
            count["started"] -= len(subs)
            say("[yellow]" + escape(T("Grading {count} learner(s) again, alone: the machine failed their grading "
                                      "while others were graded ({names}).", count=numeral(len(subs)),
                                      names=", ".join(clean(s.learner) for s in subs)).translate()) + "[/]",
                soft_wrap=True)

        if todo and jobs > 1:
            say(T("{jobs} learners at a time.", jobs=numeral(jobs)).translate())
        gradejobs.grade_all(todo, stage_ids, machine_not_graded, jobs, started, finished, again)
        meta.status = "complete"
        write_all(out, meta, submissions, feedback=[])
    except KeyboardInterrupt as exc:
        for number in previous:    # a second signal must not cut the last write short
            signal.signal(number, signal.SIG_IGN)
        meta.status, meta.interrupted = "partial", _signal_name(exc)
        write_all(out, meta, submissions, feedback=[])
        left = sum(1 for s in submissions if not s.done)
        say("[yellow]" + escape(T("Interrupted by {signal}: the gradebook in {out} is partial ({left} learner(s) not "
                                  "graded). Run the same command with --resume to finish it.",
                                  signal=meta.interrupted, out=str(out), left=left).translate()) + "[/]",
            soft_wrap=True)
        return 128 + getattr(signal, meta.interrupted, signal.SIGINT)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    for grid in summary_tables(submissions, stage_ids):
        say(grid)
    again = rerun_line(submissions)
    if again:
        say("[yellow]" + escape(again + " " + T("Run the same command with --resume to grade them again.")
                                .translate()) + "[/]", soft_wrap=True)
    say(T("Wrote {csv}, {html}, {json} and one feedback file per learner in {feedback}", csv=str(out / "grades.csv"),
          html=str(out / "report.html"), json=str(out / "grades.json"), feedback=str(out / FEEDBACK)).translate(),
        soft_wrap=True)
    return 0
