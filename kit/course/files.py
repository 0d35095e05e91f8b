"""`kit solve` and `kit reset`: copy a stage's files in, never losing the learner's work.

A stage's solution is the state of its files right after that stage, not the
finished course: `kit solve consumer` writes the tutorial's consumer, and only
`kit solve hardening` the hardened one. solutions/ is the finished tree (the
state after the last stage); a file several stages change holds each stage's
lines in marked stage regions (kit/course/regions.py), so every line is written once,
and solution_text() cuts out the state of any stage, markers dropped. `kit reset
STAGE` puts back the files as that stage starts: the previous stages' solution
where one touched the file, else the starter.

Stages share files (settings.py grows in the settings, redis and hardening
stages). A file the learner has edited that also holds their work for another
stage (an earlier stage's part, or names a later stage's solution brings:
stages_with_work_in) is left alone unless --force; the starter's TODOs for later
stages are not the learner's work. A file that holds one of the kit's own versions
(the starter, a stage's solution, or what an earlier solve/reset wrote, listed
in <project>/.kit/written.json) is not the learner's work. Every run that
replaces a file first copies it to a folder of its own under
<project>/.kit-backups/.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from kit.course import catalogue, regions
from kit.course.catalogue import KIT_ROOT, Stage, stages_for_file
from kit.course.i18n import T, _
from kit.course.project import linked_inside, read_inside, read_text_inside

SOLUTIONS = KIT_ROOT / "solutions"
STATES = KIT_ROOT / ".kit" / "solutions"        # a stage's state of a file, cut out for a learner to read
STARTER_SNAPSHOT = KIT_ROOT / ".kit" / "starter"   # written by `kit release`
WRITTEN = Path(".kit") / "written.json"            # in the project: what solve/reset wrote there
MAX_FILE = 64 * 2**20                              # a project file solve/reset reads, at most
out = Console()


def starter_text(relpath: str) -> str | None:
    """The file as the kit hands it out: a release's snapshot, else project/ at the kit's git HEAD."""
    snapshot = STARTER_SNAPSHOT / relpath
    if snapshot.is_file():
        return snapshot.read_text(encoding="utf-8")
    try:
        shown = subprocess.run(["git", "-C", str(KIT_ROOT), "show", f"HEAD:project/{relpath}"],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return shown.stdout if shown.returncode == 0 else None


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def solution_source(relpath: str, stage: Stage | None = None) -> Path | None:
    """The solution file holding the file's state right after `stage` (the finished tree when stage is None),
    with its stage regions. None when no stage up to `stage` touches the file: it is still the starter then.
    """
    if stage is None:
        return SOLUTIONS / relpath
    done = catalogue.STAGES[:catalogue.STAGES.index(stage) + 1]
    return SOLUTIONS / relpath if any(relpath in s.files for s in done) else None


def solution_text(relpath: str, stage: Stage | None = None) -> str | None:
    """The file as it stands right after `stage` (the finished course when stage is None)."""
    source = solution_source(relpath, stage)
    if source is None:
        return starter_text(relpath)
    text = _read(source)
    return None if text is None else regions.cut(text, relpath, stage.id if stage else None)


def write_state_after(stage: Stage, tree: Path, *, commands: bool = False) -> Path:
    """Every project file of tree as it stands right after `stage` (a starter copy becomes the tree a learner
    holds then: the kit's tests and benchmarks grade such trees); with commands, also the files the learner
    made by then with a command (MADE_BY_COMMANDS: makemigrations)."""
    for relpath in catalogue.PROJECT_FILES + (catalogue.MADE_BY_COMMANDS if commands else ()):
        text = solution_text(relpath, stage)
        if text is not None:
            (tree / relpath).parent.mkdir(parents=True, exist_ok=True)
            (tree / relpath).write_text(text, encoding="utf-8")
    return tree


def solution_copy(relpath: str, stage: Stage) -> Path | None:
    """A file a learner may open that holds the stage's solution of relpath, markers cut out: the solution
    file itself when it has no stage regions, else a copy under .kit/solutions/<stage>/. None if none can be."""
    source = solution_source(relpath, stage)
    text = _read(source) if source is not None else None
    if text is None or not regions.has_regions(text, relpath):
        return source if text is not None else None
    copy = STATES / stage.id / relpath
    try:
        wanted = regions.cut(text, relpath, stage.id)
        if _read(copy) != wanted:
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.write_text(wanted, encoding="utf-8")
    except OSError:
        return None
    return copy


def before_text(relpath: str, stage: Stage) -> str | None:
    """The file as `stage` starts: the previous stage's solution of it, else the starter."""
    index = catalogue.STAGES.index(stage)
    if index == 0 or solution_source(relpath, catalogue.STAGES[index - 1]) is None:
        return starter_text(relpath)
    return solution_text(relpath, catalogue.STAGES[index - 1])


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _written(project: Path) -> dict[str, list[str]]:
    try:
        data = json.loads(read_text_inside(project, str(WRITTEN)) or "")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _record(project: Path, relpath: str, text: str) -> None:
    data = _written(project)
    hashes = [h for h in data.get(relpath, []) if isinstance(h, str)]
    if _digest(text) not in hashes:
        hashes.append(_digest(text))
    data[relpath] = hashes[-20:]
    path = project / WRITTEN
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def kit_versions(relpath: str) -> set[str]:
    """Every version of the file the kit itself provides: the starter, each stage's solution, and the
    solution file as it is (a copy of solutions/ holds it with its stage regions)."""
    versions = {starter_text(relpath)}
    if SOLUTIONS.is_dir():
        versions.update(solution_text(relpath, stage) for stage in catalogue.STAGES)
        versions.add(_read(SOLUTIONS / relpath))
    versions.discard(None)
    return versions


def is_learners_work(project: Path, relpath: str, text: str) -> bool:
    return text not in kit_versions(relpath) and _digest(text) not in _written(project).get(relpath, [])


IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _names(text: str | None) -> set[str]:
    """The names of a text that say what code does: with an inner underscore or capital, or all capitals
    (group_send, RateLimit, HISTORY_LENGTH, chatSocket); plain words of prose are left out."""
    return {w for w in IDENTIFIER.findall(text or "")
            if "_" in w.strip("_") or any(c.isupper() for c in w[1:])}


COMMENTS = {
    ".py": re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|#[^\n]*'),
    ".html": re.compile(r"<!--[\s\S]*?-->|\{#[\s\S]*?#\}|/\*[\s\S]*?\*/|(?<![:\\])//[^\n]*"),
}


def _code(relpath: str, text: str | None) -> str:
    """The text without its comments and docstrings, where the starter's TODOs live."""
    pattern = COMMENTS.get(Path(relpath).suffix)
    return pattern.sub(" ", text or "") if pattern else text or ""


def stages_with_work_in(relpath: str, stage: Stage, current: str) -> list[str]:
    """The other stages whose part of the file the learner's text holds work for.

    An earlier stage's part is the learner's as soon as they edited the file. A later stage's part is
    theirs only when their text brings names that stage's own solution brings to the file (REDIS_URL,
    is_authenticated, database_sync_to_async ...) and that neither this stage's starting text nor its
    solution has: the starter's TODOs for later stages, still in the file, are not the learner's work."""
    index = catalogue.STAGES.index(stage)
    mine = (_names(_code(relpath, current)) - _names(_code(relpath, before_text(relpath, stage)))
            - _names(solution_text(relpath, stage)))
    found = []
    for other in stages_for_file(relpath):
        position = catalogue.STAGES.index(other)
        if position < index:
            found.append(other.id)
        elif position > index:
            theirs = _names(solution_text(relpath, other)) - _names(before_text(relpath, other))
            if mine & theirs:
                found.append(other.id)
    return found


def solve(stage: Stage, project: Path, *, force: bool = False) -> int:
    if not SOLUTIONS.is_dir():
        out.print("[yellow]" + _("This copy of the kit has no solutions: ask your instructor, or read the hints "
                                 "with `kit hint`.") + "[/]")
        return 1
    return _replace(stage, project, lambda relpath: solution_text(relpath, stage),
                    T("stage {id} solution", id=stage.id), "solve", force)


def reset(stage: Stage, project: Path, *, force: bool = False) -> int:
    return _replace(stage, project, lambda relpath: before_text(relpath, stage),
                    T("as stage {id} starts", id=stage.id), "reset", force)


class _Backup:
    """This run's own backup folder, made when the first file is saved: two runs never share one."""

    def __init__(self, project: Path, action: str, stage: Stage):
        self.project, self.prefix, self.folder = project, f"{time.strftime('%Y%m%d-%H%M%S')}-{action}-{stage.id}-", None

    def save(self, relpath: str, text: str) -> Path:
        if self.folder is None:
            root = self.project / ".kit-backups"
            root.mkdir(parents=True, exist_ok=True)
            self.folder = Path(tempfile.mkdtemp(prefix=self.prefix, dir=root))
        copy = self.folder / relpath
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_text(text, encoding="utf-8")
        return copy.relative_to(self.project)


def _replace(stage: Stage, project: Path, source, label: str, action: str, force: bool) -> int:
    if not stage.files:
        out.print(T("Stage {id} has no files of its own: it checks the earlier stages' files. "
                    "Solve or reset those stages instead.", id=stage.id).translate())
        return 1
    wanted_texts = {relpath: source(relpath) for relpath in stage.files}
    # A file a command makes (a migration) has no copy before its stage: reset takes it away instead.
    missing = [relpath for relpath, text in wanted_texts.items()
               if text is None and not (action == "reset" and relpath in catalogue.MADE_BY_COMMANDS)]
    if missing:
        out.print("[red]" + T("No copy of {files} {label} is available.", files=", ".join(missing),
                              label=label).translate() + "[/]")
        return 1
    # A link planted in the tree is never followed: reading it would copy what it points at (a hidden check,
    # solutions/) into the backups, writing through it would change a file outside the tree.
    linked = [relpath for relpath in [*wanted_texts, ".kit-backups", str(WRITTEN)]
              if linked_inside(project, relpath) or (relpath in wanted_texts and os.path.lexists(project / relpath)
                                                      and read_inside(project, relpath, MAX_FILE) is None)]
    if linked:
        out.print("[red]" + escape(T("Nothing was written: {file} is a symbolic link, or lies inside one, or is not "
                                     "a regular file, and kit never follows links. Replace it with a regular file "
                                     "and run again.", file=linked[0]).translate()) + "[/]", soft_wrap=True)
        return 1
    backup, refused, wrote, todo = _Backup(project, action, stage), [], 0, []
    for relpath, wanted in wanted_texts.items():
        target = project / relpath
        data = read_inside(project, relpath, MAX_FILE)
        current = data.decode("utf-8", errors="replace") if data is not None else None
        if current == wanted:
            out.print("  " + T("{file}: already {label}", file=relpath, label=label).translate())
            continue
        if current is not None and not force and is_learners_work(project, relpath, current):
            others = stages_with_work_in(relpath, stage, current)
            if others:
                refused.append((relpath, others))
        todo.append((relpath, wanted, target, current))
    # A stage's files work together (the hardened consumer reads settings only hardening adds):
    # half a solution would break stages that pass now, so one refusal leaves every file alone.
    for relpath, wanted, target, current in ([] if refused else todo):
        if wanted is None:  # made by a command, not there before this stage (current is not None here)
            out.print("  " + T("{file}: removed, {label} (yours saved in {backup})", file=relpath, label=label,
                               backup=backup.save(relpath, current).as_posix()).translate(), soft_wrap=True)
            target.unlink()
            wrote += 1
            continue
        saved = (T("{file}: written, {label} (yours saved in {backup})", file=relpath, label=label,
                   backup=backup.save(relpath, current).as_posix()) if current is not None
                 else T("{file}: written, {label}", file=relpath, label=label))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(wanted, encoding="utf-8")
        _record(project, relpath, wanted)
        wrote += 1
        out.print("  " + saved.translate(), soft_wrap=True)
    for relpath, others in refused:
        where = solution_copy(relpath, stage) if action == "solve" else None
        said = (T("{file}: left alone. You edited it, and it also holds your work for stage(s) {stages}. Add --force "
                  "to replace it anyway (a backup is kept), or copy the part you need from {source}.", file=relpath,
                  stages=", ".join(others), source=where.relative_to(KIT_ROOT).as_posix())
                if where is not None and where.is_file() else
                T("{file}: left alone. You edited it, and it also holds your work for stage(s) {stages}. Add --force "
                  "to replace it anyway (a backup is kept).", file=relpath, stages=", ".join(others)))
        out.print("[yellow]  " + said.translate() + "[/]", soft_wrap=True)
    if refused and len(todo) > len(refused):
        out.print(_("Nothing was written: this stage's files work together, so they are replaced all at once "
                    "or not at all."), soft_wrap=True)
    if wrote:
        out.print(_("daphne does not reload code: restart `kit serve` or the notebook's server to use it."),
                  soft_wrap=True)
        # JupyterLab's editor keeps the text it opened, and saving it there would undo this run.
        out.print("[bold]" + _("If one of these files is open in JupyterLab's editor, reload it there first "
                               "(File menu: Reload … from Disk): saving the editor's old text would undo this.")
                  + "[/]", soft_wrap=True)
    return 1 if refused else 0
