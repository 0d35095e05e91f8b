"""`kit release OUT_DIR`: write the student version of the kit.

What a learner gets: the kit package, the checkpoints, the notebooks (outputs
cleared), the starter `project/` plus a `.kit/starter/` snapshot of it (so
`kit reset` works in a repository whose history is the learner's own), the
set-up files and the GitHub Classroom workflow. What stays behind: `solutions/`
(`kit solve` then explains there are none), the instructor's hidden checks,
the kit's own tests, benchmarks and CI, and the instructor guide.

The starter is `project/` as committed at the kit's git HEAD, the same
definition `kit reset` uses, so an author's experiments in project/ never ship.
"""
from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import classroom, hidden
from .catalogue import KIT_ROOT, PROJECT_FILES
from .project import NOT_RELEASED, NOT_RELEASED_ENDINGS

# Top-level entries a learner never gets.
LEFT_OUT = {".git", ".venv", ".ci", ".kit", "solutions", "tests", "benchmarks", "build", "dist",
            "docs/instructors.md", ".github"}
WORKFLOW = ".github/workflows/classroom.yml"


class ReleaseError(ValueError):
    """The release cannot be written where asked, or would leak a solution."""


@dataclass
class Release:
    out: Path
    files: list[str] = field(default_factory=list)
    notebooks: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def build(out_dir: str | Path, root: Path = KIT_ROOT) -> Release:
    out = Path(out_dir).expanduser().resolve()
    _check_destination(out, root)
    release = Release(out=out)
    left_out = LEFT_OUT | _hidden_folders(root)
    sources = [rel for rel in _kit_files(root)
               if not _excluded(rel, left_out) and not _inside(root / rel, out) and not rel.startswith("project/")]
    starter = _starter_files(root, release)

    out.mkdir(parents=True, exist_ok=True)
    for rel in sources:
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel.endswith(".ipynb"):
            target.write_text(_without_outputs(root / rel), encoding="utf-8")
            release.notebooks.append(rel)
        elif rel == ".gitignore":
            target.write_text(_gitignore_keeping_snapshot(root / rel), encoding="utf-8")
        else:
            shutil.copy2(root / rel, target)
        release.files.append(rel)
    for rel, data in starter.items():
        for base in ("project", ".kit/starter"):
            target = out / base / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        release.files.append(f"project/{rel}")
    (out / WORKFLOW).parent.mkdir(parents=True, exist_ok=True)
    (out / WORKFLOW).write_text(classroom.workflow_yaml(), encoding="utf-8")
    release.files.append(WORKFLOW)
    _refuse_leaks(out, root, starter)
    return release


def _check_destination(out: Path, root: Path) -> None:
    if out == root or _inside(root, out):
        raise ReleaseError(f"{out} holds the kit itself; choose a new, empty folder for the release.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ReleaseError(f"{out} already exists and is not empty; choose a new folder "
                           "(the release never overwrites files).")


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder)


def _hidden_folders(root: Path) -> set[str]:
    """The hidden-checks folders as paths relative to the kit (those outside it cannot be copied anyway)."""
    found = {"exercises/hidden"}
    try:
        place = hidden.folder()
    except hidden.HiddenChecksError:
        place = None
    if place and _inside(place, root.resolve()):
        found.add(place.resolve().relative_to(root.resolve()).as_posix())
    return found


def _excluded(rel: str, left_out: set[str]) -> bool:
    path = PurePosixPath(rel)
    if any(rel == entry or rel.startswith(entry + "/") for entry in left_out):
        return True
    return any(part in NOT_RELEASED or part.endswith(NOT_RELEASED_ENDINGS) for part in path.parts)


def _kit_files(root: Path) -> list[str]:
    """Files of the kit's working tree: git's view (tracked or new, not ignored) when it has one."""
    if (root / ".git").exists():
        listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                                 "--exclude-standard"], capture_output=True, timeout=60)
        if listed.returncode == 0:
            names = {name for name in listed.stdout.decode("utf-8").split("\0") if name}
            return sorted(name for name in names if (root / name).is_file())
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*")
                  if path.is_file() and not _excluded(path.relative_to(root).as_posix(), {".git", ".venv"}))


def _starter_files(root: Path, release: Release) -> dict[str, bytes]:
    """project/ at git HEAD (relative path -> bytes); the working tree when the kit is not a git checkout."""
    if (root / ".git").exists():
        archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", "HEAD", "project"],
                                 capture_output=True, timeout=60)
        if archive.returncode == 0:
            files = {}
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                for member in tar.getmembers():
                    if member.isfile():
                        files[member.name.removeprefix("project/")] = tar.extractfile(member).read()
            edited = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "project"],
                                    capture_output=True, text=True, timeout=60).stdout.strip()
            if edited:
                release.warnings.append("project/ has changes not committed; the release holds the committed "
                                        "starter:\n" + edited)
            return _checked_starter(files)
    files = {path.relative_to(root / "project").as_posix(): path.read_bytes()
             for path in (root / "project").rglob("*")
             if path.is_file() and not _excluded(path.relative_to(root).as_posix(), set())}
    return _checked_starter(files)


def _checked_starter(files: dict[str, bytes]) -> dict[str, bytes]:
    missing = [name for name in PROJECT_FILES if name not in files]
    if missing:
        raise ReleaseError(f"The starter project/ is missing {', '.join(missing)}; the release would not run.")
    return files


def _without_outputs(path: Path) -> str:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("widgets", None)
    return nbformat.writes(notebook) + "\n"


def _gitignore_keeping_snapshot(path: Path) -> str:
    """The kit ignores .kit/, but a learner's repository must commit .kit/starter/ for `kit reset`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if line.strip().rstrip("/") not in (".kit", "/.kit")) + "\n"


def _refuse_leaks(out: Path, root: Path, starter: dict[str, bytes]) -> None:
    """Last guard: no file of the release may equal a finished file that differs from its starter."""
    solutions = root / "solutions"
    if (out / "solutions").exists():
        raise ReleaseError("solutions/ ended up in the release.")
    if not solutions.is_dir():
        return
    finished = {path.read_bytes() for path in solutions.rglob("*")
                if path.is_file() and path.suffix in (".py", ".html")
                and path.read_bytes().strip()  # an empty __init__.py gives nothing away
                and path.read_bytes() != starter.get(path.relative_to(solutions).as_posix())}
    for path in out.rglob("*"):
        if path.is_file() and path.read_bytes() in finished:
            shutil.rmtree(out)
            raise ReleaseError(f"{path.relative_to(out)} is a copy of a finished solution file; "
                               "no release was written.")
