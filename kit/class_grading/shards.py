"""A class graded in shards (`kit grade-all ... --shard-index I --shard-count N`) and merged (`kit grade-merge`).

The shard key: every learner folder or archive of the class (kit/class_grading/classfolder.py's rows, those without a
tree too) sorted by its name NFC-normalised, in code-point order (a name typed on a Mac sorts as on Linux),
ties broken by the name's bytes; the k-th learner (from 0) goes to shard k mod N. Every shard lists the
whole class, so the merge can tell a learner missing, graded twice or in the wrong shard.

A shard's folder is an ordinary gradebook (kit/class_grading/gradebook.py) for its learners plus shard.json, the manifest:
written last, atomically, once the gradebook is complete, and deleted before a shard starts writing. A
killed shard therefore has no manifest, and the merge refuses it. The merge writes the class's gradebook
with gradebook.py's own writers, rows in the order an unsharded run gives them.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import unicodedata
from pathlib import Path

from kit.class_grading.classfolder import GradeAllError, Submission
from kit.class_grading.names import plain_name
from kit.class_grading.grades import FEEDBACK, FILES, Meta, atomic_write, now
from kit.class_grading.feedback import feedback_names
from kit.class_grading.gradebook import load, write_all
from kit.course.i18n import N_, T

MANIFEST = "shard.json"
FORMAT = "channels-kit shard 1"
ENVIRONMENT = ("SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX")   # a Slurm job array, a Kubernetes Indexed Job
SAME = {"stages": N_("stages"), "kit_version": N_("kit version"), "kit_commit": N_("kit commit"),
        "hidden_checks": N_("hidden checks")}   # what every shard of one class must share


def shard_key(sub: Submission) -> tuple[str, str]:
    """A learner's place in the shard order: their folder's (or archive's) name in NFC, then its bytes."""
    return unicodedata.normalize("NFC", plain_name(sub.folder.name)), sub.key


def share(keys_in_shard_order: list[str], index: int, count: int) -> list[str]:
    return keys_in_shard_order[index::count]


def index_from(index: int | None, count: int, environ=os.environ) -> int:
    """The shard to grade: --shard-index, else the engine's array index; GradeAllError in one sentence."""
    if count < 1:
        raise GradeAllError(T("--shard-count must be 1 or more, not {count}.", count=count))
    if index is None:
        found = {name: environ[name].strip() for name in ENVIRONMENT if environ.get(name, "").strip()}
        if len(set(found.values())) > 1:
            raise GradeAllError(T("SLURM_ARRAY_TASK_ID ({slurm}) and JOB_COMPLETION_INDEX ({k8s}) are both set and "
                                  "differ: give --shard-index to say which shard this is.",
                                  slurm=found[ENVIRONMENT[0]], k8s=found[ENVIRONMENT[1]]))
        if not found:
            raise GradeAllError(T("--shard-count needs --shard-index, or SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX "
                                  "set by the job's engine, to know which shard to grade."))
        name, value = next(iter(found.items()))
        try:
            index = int(value)
        except ValueError:
            raise GradeAllError(T("{name} is {value}, not a shard number.", name=name, value=value)) from None
    if not 0 <= index < count:
        raise GradeAllError(T("shard index {index} is out of range: with --shard-count {count} it is 0 to {last}.",
                              index=index, count=count, last=count - 1))
    return index


def hidden_fingerprint() -> str:
    """The hidden checks in use, by name and content: shards graded with other hidden checks never merge."""
    from kit.course import hidden

    digest = hashlib.sha256()
    for path in hidden.modules():
        digest.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def kit_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("channels-kit")
    except PackageNotFoundError:
        return "unknown"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- a shard -----------------------------------------------------------------------------------------------
def pick(submissions: list[Submission], index: int, count: int) -> tuple[dict, list[Submission]]:
    """(what the manifest says of the class, this shard's learners in the order an unsharded run lists them)."""
    ordered = sorted(submissions, key=shard_key)
    mine = set(share([s.key for s in ordered], index, count))
    listed = [s.key for s in submissions]
    whole = {"learners": [s.key for s in ordered], "order": listed,
             "class_sha256": hashlib.sha256("\n".join(s.key for s in ordered).encode()).hexdigest()}
    return whole, [s for s in submissions if s.key in mine]


def unfinish(out: Path) -> int:
    """Before a shard writes anything: its old manifest goes (a killed re-run is then never taken for
    finished); the attempt number this run gets."""
    path = out / MANIFEST
    try:
        attempt = int(json.loads(path.read_text(encoding="utf-8")).get("attempt", 0)) + 1
    except (OSError, ValueError, AttributeError):
        attempt = 1
    path.unlink(missing_ok=True)
    return attempt


def finish(out: Path, whole: dict, index: int, count: int, meta: Meta, attempt: int,
           graded: list[Submission]) -> None:
    manifest = {"format": FORMAT, "shard_index": index, "shard_count": count, "attempt": attempt,
                "finished": now(), "stages": meta.stages, "kit_version": kit_version(),
                "kit_commit": meta.kit_commit, "hidden_checks": hidden_fingerprint(),
                "shard_learners": [s.key for s in graded], **whole,
                "files": {name: _sha256(out / name) for name in FILES}}
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))


# -- the merge ---------------------------------------------------------------------------------------------
def _read(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        assert manifest["format"] == FORMAT and isinstance(manifest["shard_index"], int)
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        raise GradeAllError(T("{folder} is not a finished shard (no readable {manifest}: it was stopped, is still "
                              "running, or is no shard): run that shard again.", folder=str(folder),
                              manifest=MANIFEST)) from None
    for name, digest in manifest.get("files", {}).items():
        if not (folder / name).is_file() or _sha256(folder / name) != digest:
            raise GradeAllError(T("Shard {index} in {folder} changed after it finished ({name} is not the file its "
                                  "manifest records): run that shard again.", index=manifest["shard_index"],
                                  folder=str(folder), name=name))
    manifest["folder"] = folder
    return manifest


def _rows(folder: Path) -> list[tuple]:
    """What two copies of one shard must agree on: each learner's status, reasons and points per stage."""
    data = json.loads((folder / "grades.json").read_text(encoding="utf-8"))
    return [(e["key"], e["status"], e["total"], e["max_score"], e["note"],
             [(s["id"], s["points"]) for s in (e["report"] or {}).get("stages", [])]) for e in data["learners"]]


def check(folders: list[Path]) -> list[dict]:
    """One manifest per shard 0..N-1, all of one class, stages, kit and hidden checks; GradeAllError otherwise."""
    manifests = sorted((_read(Path(f).expanduser().resolve()) for f in folders),
                       key=lambda m: (m["shard_index"], -int(m.get("attempt", 0))))
    first = manifests[0]
    for m in manifests:
        said = dict(index=m["shard_index"], folder=str(m["folder"]), first=first["shard_index"])
        if m["shard_count"] != first["shard_count"]:
            raise GradeAllError(T("Shard {index} in {folder} is one of {theirs} shards, shard {first} one of {ours}: "
                                  "merge the shards of one run.", theirs=m["shard_count"],
                                  ours=first["shard_count"], **said))
        if m["class_sha256"] != first["class_sha256"]:
            raise GradeAllError(T("Shard {index} in {folder} graded another class than shard {first} (its list of "
                                  "learners differs): grade every shard from the same class folder.", **said))
        for what in SAME:
            if m[what] != first[what]:
                raise GradeAllError(T("Shard {index} in {folder} was graded with other {what} than shard {first} "
                                      "({theirs}, not {ours}): grade every shard with the same kit, stages and "
                                      "hidden checks.", what=T(SAME[what]), theirs=_short(m[what]),
                                      ours=_short(first[what]), **said))
    count, chosen = first["shard_count"], {}
    for m in manifests:
        kept = chosen.setdefault(m["shard_index"], m)
        if kept is not m and _rows(kept["folder"]) != _rows(m["folder"]):
            raise GradeAllError(T("Shard {index} was given twice, in {first} and {second}, with different results: "
                                  "keep the copy to trust and merge again.", index=m["shard_index"],
                                  first=str(kept["folder"]), second=str(m["folder"])))
    missing = [str(i) for i in range(count) if i not in chosen]
    if missing:
        raise GradeAllError(T("Shard(s) {missing} of {count} are missing: run them again (--shard-index {missing}) "
                              "and merge with them.", missing=", ".join(missing), count=count))
    for index, m in sorted(chosen.items()):
        _check_learners(m, share(m["learners"], index, count))
    return [chosen[i] for i in range(count)]


def _short(value) -> str:
    return ", ".join(value) if isinstance(value, list) else str(value)[:16]


def _check_learners(manifest: dict, due: list[str]) -> None:
    keys = [e["key"] for e in json.loads((manifest["folder"] / "grades.json").read_text(encoding="utf-8"))["learners"]]
    said = dict(index=manifest["shard_index"], folder=str(manifest["folder"]))
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise GradeAllError(T("Shard {index} in {folder} holds learner {learner} twice: run that shard again.",
                              learner=_name(twice[0]), **said))
    extra = [k for k in keys if k not in due]
    if extra:
        raise GradeAllError(T("Shard {index} in {folder} holds learner {learner}, who is not in its share of the "
                              "class: run that shard again.", learner=_name(extra[0]), **said))
    lacking = [k for k in due if k not in keys]
    if lacking:
        raise GradeAllError(T("Shard {index} in {folder} lacks learner {learner} of its share of the class: run "
                              "that shard again.", learner=_name(lacking[0]), **said))


def _name(key: str) -> str:
    return os.fsdecode(bytes.fromhex(key))


def merge(folders: list[Path], out: Path, console=None, force: bool = False) -> tuple[Meta, list[Submission]]:
    """The class's gradebook in out, from its shards; nothing is written unless every check passes. With a
    console, the summary grade-all prints."""
    shards = check(folders)
    out = Path(out).expanduser().resolve()
    if any((out / name).exists() for name in (*FILES, FEEDBACK)) and not force:
        raise GradeAllError(T("{out} already holds a gradebook. Run with --force to replace it, or choose another "
                              "--out.", out=str(out)))
    by_key, metas, feedback = {}, [], {}
    for m in shards:
        data, done = load(m["folder"] / "grades.json")
        metas.append(data)
        names = feedback_names(list(done.values()))
        for key, sub in done.items():
            by_key[key] = sub
            feedback[key] = m["folder"] / FEEDBACK / f"{names[id(sub)]}.md"
    submissions = [by_key[key] for key in shards[0]["order"]]
    isolations = [d["isolation"] for d in metas]
    meta = Meta(directory=metas[0]["directory"], stages=shards[0]["stages"], kit_commit=shards[0]["kit_commit"],
                isolation=next((i for i in isolations if not i.startswith("bubblewrap")), isolations[0]),
                started=min(d["started"] for d in metas), status="complete",
                machine_not_graded={k: v for d in metas for k, v in d.get("machine_not_graded", {}).items()},
                hidden_orphans=sorted({o for d in metas for o in d.get("hidden_orphans", [])}))
    if force:
        shutil.rmtree(out / FEEDBACK, ignore_errors=True)
    write_all(out, meta, submissions, feedback=[])
    # Each learner's feedback was written where their tree was (their language guessed from it): copied under
    # the name an unsharded run gives it.
    names = feedback_names(submissions)
    for sub in submissions:
        if feedback[sub.key].is_file():
            atomic_write(out / FEEDBACK / f"{names[id(sub)]}.md", feedback[sub.key].read_bytes())
    if console is not None:
        from rich.markup import escape

        from kit.class_grading.classsummary import rerun_line, summary_tables
        from kit.class_grading.grades import MACHINE
        from kit.course.i18n import numeral

        for grid in summary_tables(submissions, meta.stages):
            console.print(grid)
        again = rerun_line(submissions)
        if again:   # whose shard to grade again: the learners the machine failed, never merged as 0
            failed = {s.key for s in submissions if s.status == MACHINE}
            which = [str(m["shard_index"]) for m in shards if failed & set(m["shard_learners"])]
            console.print("[yellow]" + escape(again + " " + T(
                "Grade shard(s) {shards} again with --resume into the same --out, then merge again.",
                shards=", ".join(which)).translate()) + "[/]", soft_wrap=True)
        console.print(T("Merged {count} shard(s): wrote {csv}, {html}, {json} and the feedback files in {feedback}",
                        count=numeral(len(shards)), csv=str(out / "grades.csv"), html=str(out / "report.html"),
                        json=str(out / "grades.json"), feedback=str(out / FEEDBACK)).translate(), soft_wrap=True)
    return meta, submissions


def names_in_shard(names: list[str], index: int, count: int) -> list[str]:
    """The folder names of shard index of count, chosen as grade-all chooses (pick): for an engine that fetches
    only its own learners' work (examples/github-actions/grade-class.yml)."""
    subs = [Submission(name, Path(name), None) for name in names]
    return [s.folder.name for s in pick(subs, index, count)[1]]


if __name__ == "__main__":   # python -m kit.class_grading.shards COUNT INDEX < names: this shard's names, one a line
    import sys

    wanted = [line.strip() for line in sys.stdin if line.strip()]
    print("\n".join(names_in_shard(wanted, int(sys.argv[2]), int(sys.argv[1]))))
