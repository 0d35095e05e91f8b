"""`kit release OUT_DIR`: write the student version of the kit.

What a learner gets: what the kit's git tracks, less what is the instructor's. That is
the kit package, the checkpoints, the notebooks (outputs cleared), the starter
`project/` plus a `.kit/starter/` snapshot of it (so `kit reset` works in a
repository whose history is the learner's own), the set-up files, the GitHub
Classroom workflow, a README (and README.bn.md) written for learners, and a
Makefile whose every target works in the release. What stays behind:
`solutions/` (`kit solve` then explains there are none), the instructor's hidden
checks, the kit's own tests, benchmarks and CI, the instructor guide, and every
file git does not track: a class's `submissions/` or `grades/`, a virtual
environment, notes, anything an instructor made in the checkout.

Why git's list and not the folder: an instructor grades a class inside the kit's
checkout (`kit grade-all submissions/ --out grades/`), and a release once shipped
those folders to every learner. The kit's authors already keep the list of what
the kit is: git's index. A kit that is not a git checkout (a zip download) has no
such list, so the release refuses with one sentence instead of guessing: an
allow-list of top folders would still ship whatever an instructor dropped inside
them.

The starter is `project/` as committed at the kit's git HEAD, the same
definition `kit reset` uses, so an author's experiments in project/ never ship.

The learner READMEs live in docs/release/; the blocks they share with the kit
(the stage table, troubleshooting, taking an update) are refreshed at release
time, and `python -m kit.output.release` refreshes them in docs/release/ too.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kit.course import catalogue, files, hidden
from kit.output import classroom
from kit.course.catalogue import KIT_ROOT, PROJECT_FILES
from kit.course.project import NOT_RELEASED, NOT_RELEASED_ENDINGS

# Tracked entries a learner never gets.
LEFT_OUT = {".git", ".venv", ".ci", ".kit", "solutions", "tests", "benchmarks", "build", "dist",
            "docs/instructors.md", ".github", "docs/release", "examples"}
WORKFLOW = ".github/workflows/classroom.yml"
# The learner's README and its Bengali edition replace the kit's (which is the instructor's).
LEARNER_DOCS = {"README.md": "docs/release/README.md", "README.bn.md": "docs/release/README.bn.md"}
# Blocks of the learner READMEs refreshed at release time from their one source (tests keep the copies equal):
# `<!-- NAME:begin ... -->` to `<!-- NAME:end -->`; "stages" is the catalogue's table, the others a section
# (its heading, in a file of the kit) that the kit's README shares with learners.
STAGES = "stages"
SECTIONS = {"troubleshooting": ("README.md", "Troubleshooting"),
            "update": ("README.md", "Taking a course update"),
            "update-bn": ("README.bn.md", "কোর্সের আপডেট নেওয়া"),
            "troubleshooting-bn": ("README.bn.md", "সমস্যা হলে")}
# Makefile targets that need what a release leaves out (tests/, benchmarks/): the release's Makefile has
# `make test` grade the learner's project instead, and no `make bench`.
INSTRUCTOR_TARGETS = ("test", "bench")
NOT_A_CHECKOUT = ("{root} is not a git checkout of the kit; a release holds exactly the files git tracks, so run "
                  "`kit release` in a clone of the kit (git clone), not in a downloaded or copied folder.")


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
    sources = [rel for rel in _kit_files(root, release)
               if not _excluded(rel, left_out) and not _inside(root / rel, out) and not rel.startswith("project/")
               and rel not in LEARNER_DOCS and rel != "Makefile"]
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
    for name, source in LEARNER_DOCS.items():
        (out / name).write_text(learner_readme(root, source), encoding="utf-8")
        release.files.append(name)
    (out / "Makefile").write_text(learner_makefile((root / "Makefile").read_text(encoding="utf-8")),
                                  encoding="utf-8")
    release.files.append("Makefile")
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


def _kit_files(root: Path, release: Release) -> list[str]:
    """The files committed in the kit's HEAD (as they are in the working tree); nothing staged only, untracked or
    ignored."""
    top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                         timeout=60)
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != root.resolve():
        raise ReleaseError(NOT_A_CHECKOUT.format(root=root))
    # Committed files only (HEAD's tree): a file staged but never committed (a class's grades) is not released.
    listed = subprocess.run(["git", "-C", str(root), "ls-tree", "-r", "-z", "--name-only", "--full-tree", "HEAD"],
                            capture_output=True, timeout=60)
    if listed.returncode != 0:
        raise ReleaseError(NOT_A_CHECKOUT.format(root=root))
    names = sorted({name for name in listed.stdout.decode("utf-8").split("\0") if name})
    links = [name for name in names if (root / name).is_symlink()]
    if links:   # a link could point anywhere (a class's grades): never followed into a release
        release.warnings.append("Left out, being links: " + ", ".join(links))
    edited = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", ".",
                             ":!project"], capture_output=True, text=True, timeout=60).stdout.strip()
    if edited:
        release.warnings.append("Tracked files with changes not committed go into the release as they are now:\n"
                                + edited)
    return [name for name in names if (root / name).is_file() and not (root / name).is_symlink()]


def learner_readme(root: Path, source: str) -> str:
    """A learner README from docs/release/, its shared blocks (SECTIONS, the stage table) refreshed from their source."""
    text = _refresh((root / source).read_text(encoding="utf-8"), STAGES, catalogue.markdown_table())
    for name, (where, heading) in SECTIONS.items():
        text = _refresh(text, name, section(root / where, heading))
    return text


def section(path: Path, heading: str) -> str | None:
    """The body of a `## heading` section of a Markdown file (None when it has none)."""
    found = re.search(rf"^## {re.escape(heading)}\n+(.*?)\n*(?=^## |\Z)", path.read_text(encoding="utf-8"),
                      re.S | re.M)
    return found.group(1).strip() if found else None


def _refresh(text: str, name: str, body: str | None) -> str:
    begin, end = f"<!-- {name}:begin", f"<!-- {name}:end -->"
    if body is None or begin not in text:
        return text
    head, rest = text.split(begin, 1)
    opening, _, rest = rest.partition("\n")
    _, _, tail = rest.partition(end)
    return f"{head}{begin}{opening}\n{body}\n{end}{tail}"


def learner_makefile(kit_makefile: str) -> str:
    """The kit's Makefile with the instructor's targets (INSTRUCTOR_TARGETS) replaced: every target works in a release.

    Blocks are separated by blank lines; a block that defines `test:` or `bench:` goes; `make test` grades the
    learner's project instead (as `make check` does)."""
    blocks = kit_makefile.strip("\n").split("\n\n")
    kept = []
    for block in blocks:
        defines = {line.split(":", 1)[0] for line in block.splitlines()
                   if re.match(r"^[A-Za-z][\w-]*\s*:(?!=)", line)}
        if defines & set(INSTRUCTOR_TARGETS):
            continue
        if block.startswith("#") and block is blocks[0]:   # the header speaks of the kit's own tests
            block = "\n".join(line for line in block.splitlines() if not line.startswith("#"))
            block = LEARNER_MAKEFILE_HEADER + block
        block = re.sub(r"^\.PHONY:.*$", lambda m: ".PHONY: " + " ".join(   # `test` comes back, as make check
            name for name in m.group(0).split()[1:] if name == "test" or name not in INSTRUCTOR_TARGETS),
            block, flags=re.M)
        kept.append(block)
    kept.append(LEARNER_TEST_TARGET)
    return "\n\n".join(kept) + "\n"


LEARNER_MAKEFILE_HEADER = """\
# Channels Kit, the learner's copy. `make lab` opens the course (`make lab-bn` in Bengali);
# `make check` (or `make test`) grades your project/. Both create .venv on first use.
"""
LEARNER_TEST_TARGET = """\
# In the learner's copy, `make test` grades your project/: the same as `make check`.
test: check"""


def _starter_files(root: Path, release: Release) -> dict[str, bytes]:
    """project/ at git HEAD (relative path -> bytes): the starter `kit reset` knows too."""
    archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", "HEAD", "project"],
                             capture_output=True, timeout=60)
    if archive.returncode != 0:
        raise ReleaseError(NOT_A_CHECKOUT.format(root=root))
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
    finished = set()
    for path in solutions.rglob("*"):
        if not path.is_file() or path.suffix not in (".py", ".html"):
            continue
        rel = path.relative_to(solutions).as_posix()
        # the file as it is, and every stage's state cut out of its stage regions (kit/course/regions.py)
        states = {path.read_bytes(), *(text.encode("utf-8") for stage in (None, *catalogue.STAGES)
                                       if (text := files.solution_text(rel, stage)) is not None)}
        finished |= {state for state in states
                     if state.strip()  # an empty __init__.py gives nothing away
                     and state != starter.get(rel)}
    for path in out.rglob("*"):
        if path.is_file() and path.read_bytes() in finished:
            shutil.rmtree(out)
            raise ReleaseError(f"{path.relative_to(out)} is a copy of a finished solution file; "
                               "no release was written.")


def refresh_sources(root: Path = KIT_ROOT) -> list[str]:
    """Bring docs/release/'s shared blocks up to date (`python -m kit.output.release`); the names of the files changed."""
    changed = []
    for source in LEARNER_DOCS.values():
        fresh = learner_readme(root, source)
        if fresh != (root / source).read_text(encoding="utf-8"):
            (root / source).write_text(fresh, encoding="utf-8")
            changed.append(source)
    return changed


if __name__ == "__main__":
    print("\n".join(refresh_sources()) or "docs/release/ is up to date.")
