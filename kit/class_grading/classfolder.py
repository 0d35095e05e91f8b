"""What a class folder holds: one submission per learner, found in every layout a class is collected in.

A learner's project tree (a folder holding manage.py, myproject/ and myapp/) is
looked for in the learner's folder and up to two levels below it, which covers
what `kit release` and `gh classroom clone` produce:

    DIR/<learner>/manage.py                  DIR/<learner>/project/manage.py
    DIR/<learner>/<repo>/manage.py           DIR/<learner>/<repo>/project/manage.py

A folder with two trees is refused for that learner (never graded twice). An
archive in DIR (leo.zip, leo.tar.gz) is unpacked safely into a scratch folder
(no links, no path out of it, bounded in size) and graded as learner "leo", or
gets a row saying what to do. A linked submission is refused, never followed.
Every folder and archive gets a row; a folder with no tree is kept out of the
class's mean and median.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from kit.course.i18n import T
from kit.course.project import NOT_GRADED, is_virtualenv, links_leaving
from kit.class_grading.archives import SKIPPED_NAMES, UnsafeArchive, unpack
from kit.class_grading.names import folder_key, looks, plain_name, plain_text
from kit.grading.scratch import LIMITS, TreeTooBig, measure

ARCHIVE_ENDINGS = (".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar")
# What a kit checkout or a repository has at its top, and a class folder has not.
NOT_A_CLASS = ("pyproject.toml", "kit", ".git", "setup.py")

# Each submission's state: graded (or waiting to be), refused (counted as 0 with its reason), or no part of the
# class's numbers (no tree, an archive beside its own folder).
GRADED, REFUSED, NO_TREE, DUPLICATE = "graded", "refused", "no tree", "duplicate"
COUNTED = (GRADED, REFUSED)
# What grade-all needs from the machine, each of which --allow-missing may waive.
REQUIREMENTS = ("browser", "sandbox")
HELP_EPILOG = (
    "Layouts: a learner's tree is found in DIR/<learner>/, DIR/<learner>/project/, DIR/<learner>/<repo>/ or "
    "DIR/<learner>/<repo>/project/; a folder holding two trees is refused; an archive (leo.zip, leo.tar.gz) is "
    "unpacked into a scratch folder (no links, no paths out, bounded) and graded as 'leo'; links are never "
    "followed. Limits: " + LIMITS + " The gradebook (grades.csv, grades.json, report.html, feedback/) is written "
    "after every learner; an interrupted run (Ctrl-C, SIGTERM, SIGHUP) leaves it marked partial: run the same "
    "command with --resume to finish it. To keep a long run alive after you log out, run it under nohup, tmux or "
    "screen.")


class GradeAllError(ValueError):
    """DIR cannot be graded as a class: missing, empty, a single tree, a kit checkout."""


@dataclass
class Submission:
    learner: str
    folder: Path                   # the learner's folder (or archive) under DIR
    tree: Path | None              # the project tree inside it, None when there is none
    report: object | None = None   # kit.grading.report.Report once graded
    error: str = ""
    seconds: float = 0.0
    status: str = GRADED
    not_graded: dict = field(default_factory=dict)   # stage id -> why this machine could not grade it
    done: bool = False             # graded (or refused) in this run or a resumed one
    home: Path | None = None       # the learner's own folder (an archive's unpacked copy): nothing above it is theirs
    key: str = ""                  # folder_key(folder): unique per folder, what --resume matches rows by

    def __post_init__(self):
        self.learner = plain_name(self.learner)
        self.key = self.key or folder_key(self.folder)

    def result(self, stage_id: str):
        return next((s for s in self.report.stages if s.id == stage_id), None) if self.report else None

    def points(self, stage_id: str) -> int:
        result = self.result(stage_id)
        return result.points if result is not None else 0

    @property
    def total(self) -> int:
        return self.report.score if self.report else 0

    @property
    def counted(self) -> bool:
        return self.status in COUNTED


def looks_like_tree(folder: Path) -> bool:
    return (folder / "manage.py").is_file() and (folder / "myproject").is_dir() and (folder / "myapp").is_dir()


def _children(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name.lower())
    except OSError:
        return []
    return [p for p in entries if not p.name.startswith(".") and p.name not in NOT_GRADED
            and p.name not in SKIPPED_NAMES and (p.is_symlink() or (p.is_dir() and not is_virtualenv(p)))]


def find_trees(folder: Path) -> tuple[list[Path], list[Path]]:
    """(the trees in folder, at most two levels down; the links met on the way that lead to a tree)."""
    if looks_like_tree(folder):
        return [folder], []
    trees, links = [], []
    for child in _children(folder):
        if child.is_symlink():
            links += [child] if looks_like_tree(child) or child.is_dir() else []
            continue
        if looks_like_tree(child):
            trees.append(child)
            continue
        for grandchild in _children(child):
            if grandchild.is_symlink():
                links += [grandchild] if looks_like_tree(grandchild) else []
            elif looks_like_tree(grandchild):
                trees.append(grandchild)
    return trees, links


def archive_stem(name: str) -> str | None:
    lowered = name.lower()
    for ending in ARCHIVE_ENDINGS:
        if lowered.endswith(ending) and len(name) > len(ending):
            return name[: -len(ending)]
    return None


def check_class_folder(root: Path) -> None:
    if not root.exists():
        raise GradeAllError(T("{root} does not exist.", root=str(root)))
    if not root.is_dir():
        raise GradeAllError(T("{root} is a file; give the folder that holds one folder per learner.", root=str(root)))
    if looks_like_tree(root):
        raise GradeAllError(T("{root} is itself one project tree: grade it with `kit check --project {root}`, or "
                              "give grade-all the folder that holds one folder per learner.", root=str(root)))
    marks = [name for name in NOT_A_CLASS if (root / name).exists()]
    if marks:
        raise GradeAllError(T("{root} is not a class folder: it has {marks} at its top, as a kit checkout or a "
                              "repository has. Give grade-all the folder that holds one folder per learner "
                              "(for example submissions/).", root=str(root), marks=", ".join(marks)))


def find_submissions(directory: str | Path, *, skip: tuple[Path, ...] | Path | None = None,
                     unpack_into: Path | None = None) -> list[Submission]:
    """One submission per learner folder or archive in directory; unpack_into=None leaves archives packed."""
    root = Path(directory).expanduser().absolute()
    check_class_folder(root)
    root = root.resolve()
    skips = tuple(p.resolve() for p in ((skip,) if isinstance(skip, Path) else (skip or ())))
    # Only this run's --out (resolved) is passed over: a file a learner writes (grades.json) never hides them.
    entries = sorted((p for p in root.iterdir() if not p.name.startswith(".") and p.name not in SKIPPED_NAMES
                      and p.absolute() not in skips),
                     key=lambda p: p.name.lower())
    folders = [p for p in entries if p.is_dir() or (p.is_symlink() and not archive_stem(p.name))]
    archives = [p for p in entries if archive_stem(p.name) and (p.is_file() or p.is_symlink())]
    if not folders and not archives:
        raise GradeAllError(T("{root} holds no learner folders. Put each learner's work in a folder of its own "
                              "(DIR/<learner>/manage.py or DIR/<learner>/<repo>/manage.py) and run again.",
                              root=str(root)))
    submissions = [_guarded(plain_name(p.name), p, lambda p=p: submission(plain_name(p.name), p)) for p in folders]
    names = {p.name for p in folders}
    taken = {s.learner.lower() for s in submissions}
    for number, archive in enumerate(archives):
        stem = archive_stem(archive.name)
        # Two archives of one stem (bob.zip, bob.ZIP, x.tar, x.tar.gz): the first is graded as the stem, the
        # next under its whole file name; never one learner's work under another's name.
        learner = plain_name(stem)
        if learner.lower() in taken and stem not in names:
            learner = plain_name(archive.name)
        if learner.lower() in taken and stem not in names:   # a folder named as this archive: numbered
            learner = f"{plain_name(archive.name)} ({number + 1})"
        if archive.is_symlink():
            submissions.append(refused(plain_name(archive.name), archive, linked(plain_name(archive.name))))
        elif stem in names:
            submissions.append(Submission(archive.name, archive, None, status=DUPLICATE, done=True,
                                          error=T("Not unpacked: the folder {folder}/ is here too and is graded "
                                                  "as that learner. Remove the archive or the folder.",
                                                  folder=plain_name(stem))))
        elif unpack_into is None:
            submissions.append(Submission(learner, archive, None, status=NO_TREE, done=True,
                                          error=T("{archive} is an archive: unpack it into a folder of its own "
                                                  "here and grade again.", archive=plain_name(archive.name))))
        else:
            submissions.append(_guarded(learner, archive, lambda: _unpacked(learner, archive,
                                                                             unpack_into / str(number))))
        taken.add(submissions[-1].learner.lower())
    one_learner_per_tree(submissions)
    one_name_per_learner(submissions)
    return sorted(submissions, key=lambda s: s.learner.lower())


def _unpacked(learner: str, archive: Path, dest: Path) -> Submission:
    try:
        place = unpack(archive, dest)
    except UnsafeArchive as exc:
        return refused(learner, archive, exc.args[0])
    sub = submission(learner, place)
    sub.folder, sub.home = archive, place
    return sub


def _guarded(learner: str, folder: Path, find) -> Submission:
    """find() for one submission; whatever it raises is that learner's row (one sentence), never the batch's end."""
    try:
        return find()
    except Exception as exc:  # a class must survive anything one submission holds
        what = (T("Refused: {archive} could not be unpacked ({error}). Unpack it yourself into a folder of its own "
                  "and grade again.", archive=plain_name(folder.name), error=plain_text(type(exc).__name__))
                if archive_stem(folder.name) and not folder.is_dir() else
                T("Grading failed: {error}", error=plain_text(f"{type(exc).__name__}: {exc}")[:300]))
        return refused(learner, folder, what)


def linked(name: str) -> str:
    return T("Refused: {name} is a symbolic link, and grading never follows links. Copy the learner's work in "
             "as a folder and grade again.", name=name)


def refused(learner: str, folder: Path, why: str) -> Submission:
    return Submission(learner, folder, None, error=why, status=REFUSED, done=True)


def submission(learner: str, folder: Path) -> Submission:
    """The learner's row: the one tree in folder, measured, or the reason there is none to grade."""
    if folder.is_symlink():
        return refused(learner, folder, linked(folder.name))
    trees, links = find_trees(folder)
    if len(trees) > 1:
        return refused(learner, folder, T("Refused: this folder holds {count} project trees ({trees}); keep the "
                                          "one to grade and grade again.", count=len(trees),
                                          trees=", ".join(str(t.relative_to(folder)) for t in trees)))
    if not trees and links:
        return refused(learner, folder, linked(str(links[0].relative_to(folder))))
    if not trees:
        return Submission(learner, folder, None, status=NO_TREE, done=True,
                          error=T("No project tree found: no folder here holds manage.py, myproject/ and myapp/."))
    leaving = links_leaving(trees[0])
    if leaving:   # another learner's files, solutions/, a hidden check: never read through a link
        return refused(learner, folder, T("Refused: {link} in this tree is a symbolic link that leads out of it, "
                                          "and grading never follows links. Replace it with the file itself and "
                                          "grade again.", link=str((trees[0] / leaving[0]).relative_to(folder))))
    try:
        measure(trees[0])
    except TreeTooBig as exc:
        return Submission(learner, folder, trees[0], error=exc.args[0], status=REFUSED, done=True)
    return Submission(learner, folder, trees[0], home=folder)


def one_learner_per_tree(submissions: list[Submission]) -> None:
    """A tree reached from two learners' folders (a bind mount, a folder shared some other way) is refused
    for each of them: one tree is never graded for two learners."""
    by_tree: dict[tuple[int, int], list[Submission]] = {}
    for sub in submissions:
        if sub.tree is None or sub.status != GRADED:
            continue
        try:
            info = os.stat(sub.tree)
        except OSError:
            continue
        by_tree.setdefault((info.st_dev, info.st_ino), []).append(sub)
    for shared in by_tree.values():
        if len(shared) < 2:
            continue
        for sub in shared:
            others = ", ".join(other.learner for other in shared if other is not sub)
            sub.error, sub.status, sub.done = T("Refused: this tree is also the one found for {others}, and one "
                                                "tree is never graded for two learners. Give each learner their "
                                                "own copy and grade again.", others=others), REFUSED, True


# Characters a screen shows as nothing: Unicode's default-ignorable code points (zero-width spaces and joiners,
# direction marks, the combining grapheme joiner, variation selectors, Hangul fillers, tags) and the blank
# braille pattern (thirteenth review: 'alice' + U+034F read as 'alice').
def one_name_per_learner(submissions: list[Submission]) -> None:
    """Two folders shown as one name (b'a\\xfe' and a folder literally named 'a\\xfe'; 'José' typed two ways;
    'bob' with a zero-width space) are refused for both: a row, a feedback file or a resumed score is never one
    learner's under another's name."""
    by_name: dict[str, list[Submission]] = {}
    for sub in submissions:
        by_name.setdefault(looks(sub.learner), []).append(sub)
    for same in by_name.values():
        if len(same) < 2:
            continue
        for sub in same:
            sub.error, sub.status, sub.done = T("Refused: {count} folders here show as the same name {name}, and "
                                                "two learners are never graded under one name. Rename one of them "
                                                "and grade again.", count=len(same), name=sub.learner), REFUSED, True
            sub.tree = None
