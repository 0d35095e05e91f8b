"""One feedback file per learner, in the language of their notebooks, named so that no two learners share one."""
from __future__ import annotations

import json
import os
import re
import stat
from collections import Counter
from pathlib import Path

from kit.course import catalogue
from kit.class_grading.classfolder import Submission
from kit.grading.report import ADVISORY
from kit.course.i18n import N_, SOURCE, numeral, recall, translated
from kit.class_grading.grades import advisory, atomic_write, clean, is_not_graded, learner_max, Meta, note, now, reasons


# -- feedback for each learner ------------------------------------------------------------------------
SAFE_NAME = re.compile(r'[<>:"/\\|?*\x00-\x1f]')


NAME_BYTES = 80                   # of a feedback file's name before its hash and .md


def _tag(learner: str, length: int = 8) -> str:
    import hashlib

    return hashlib.sha256(learner.encode("utf-8", "replace")).hexdigest()[:length]


def feedback_name(learner: str) -> str:
    """The learner's feedback file name (without .md): safe, at most ~100 bytes; when making it safe or short
    changed the name, a short hash of the real name keeps two learners (ann_lee, ann|lee) apart."""
    safe = SAFE_NAME.sub("_", clean(learner)).lstrip(".") or "_"
    cut = safe
    while len(cut.encode("utf-8")) > NAME_BYTES:
        cut = cut[:-1]
    return cut if cut == learner else f"{cut}-{_tag(learner)}"


def feedback_names(submissions: list[Submission]) -> dict[int, str]:
    """id(submission) -> its feedback file name, unique in the class (ignoring case, as some disks do)."""
    names = {id(s): feedback_name(s.learner) for s in submissions}
    for length in (8, 16, 64):
        seen = Counter(name.lower() for name in names.values())
        clashing = [s for s in submissions if seen[names[id(s)].lower()] > 1]
        if not clashing:
            break
        for sub in clashing:
            names[id(sub)] = f"{feedback_name(sub.learner)}-{_tag(sub.learner, length)}"
    for number, sub in enumerate(submissions):   # same names (a resumed row twice): numbered, last resort
        if sum(1 for other in names.values() if other.lower() == names[id(sub)].lower()) > 1:
            names[id(sub)] = f"{names[id(sub)]}-{number}"
    return names


NOTEBOOK_BYTES = 20 * 2**20


def _regular_bytes(folder_fd: int, name: str, limit: int) -> bytes | None:
    """A regular file's bytes (None for a link, a pipe, a device, a folder or one over limit); never blocks."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(limit + 1)[:limit]
    except OSError:
        return None
    finally:
        os.close(fd)


def _open_folder(base: Path, parts) -> int | None:
    """A descriptor of base/parts..., opened one component at a time, no link followed; None otherwise."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    try:
        fd = os.open(base, flags)
    except OSError:
        return None
    for part in parts:
        try:
            inner = os.open(part, flags, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = inner
    return fd


NOTEBOOKS_BYTES = 64 * 2**20     # read in all, per learner, to guess their language


def learner_language(sub: Submission) -> str:
    """The language the learner worked in, when their repository shows it: the lessons they ran (a notebook
    under notebooks/<lang>/ with outputs) in a language other than English; English otherwise. Whatever their
    notebooks hold (nesting deep enough to exhaust the parser, anything), only this guess is lost."""
    try:
        return _learner_language(sub)
    except Exception:  # noqa: BLE001 (a learner's file costs only their language guess)
        return SOURCE


def _learner_language(sub: Submission) -> str:
    if sub.tree is None:
        return SOURCE
    from kit.course.i18n import LANGUAGES

    # Only inside the learner's own folder (never the class folder above it), no link followed, regular files
    # only (a named pipe would block the batch), each read bounded.
    home = sub.home or (sub.folder if sub.folder.is_dir() else sub.tree)
    try:
        inside = sub.tree.relative_to(home).parts
    except ValueError:
        return SOURCE
    budget = NOTEBOOKS_BYTES
    for parts in (inside, inside[:-1]) if inside else (inside,):
        for lang in (lang for lang in LANGUAGES if lang != SOURCE):
            fd = _open_folder(home, (*parts, "notebooks", lang))
            if fd is None:
                continue
            try:
                names = sorted(name for name in os.listdir(fd) if name.endswith(".ipynb"))[:40]
                for name in names:
                    data = _regular_bytes(fd, name, min(NOTEBOOK_BYTES, budget))
                    if data is None:
                        continue
                    budget -= len(data)
                    try:
                        cells = json.loads(data.decode("utf-8")).get("cells", [])
                    except Exception:  # noqa: BLE001 (not JSON, too deep (RecursionError), not a notebook)
                        continue
                    if isinstance(cells, list) and any(isinstance(c, dict) and c.get("execution_count")
                                                       for c in cells):
                        return lang
            except OSError:
                continue
            finally:
                os.close(fd)
    return SOURCE


def feedback_text(sub: Submission, meta: Meta, lang: str) -> str:
    from kit.course.i18n import translation

    say = translation(lang).gettext
    stage_ids = meta.stages
    heading = say(N_("Channels Kit: feedback for {learner}")).format(learner=clean(sub.learner))
    lines = ["# " + heading, ""]
    score = say(N_("Score: {score} of {max_score}. Graded {when} with kit {commit}."))
    lines += [score.format(score=numeral(sub.total, lang), max_score=numeral(learner_max(sub, stage_ids), lang),
                           when=meta.updated or now(),
                           commit=meta.kit_commit), ""]
    if advisory(sub):
        lines += [say(ADVISORY), ""]
    if sub.error or sub.report is None:
        lines += ["## " + say(N_("What to do next")), "", clean(reasons(sub, stage_ids, lang)[0][1]), ""]
        return "\n".join(lines)
    results = [r for r in (sub.result(s) for s in stage_ids) if r is not None]
    passed = [r for r in results if r.passed]
    failing = [r for r in results if not r.passed and not is_not_graded(r)]
    skipped = [r for r in results if is_not_graded(r)]
    lines += ["## " + say(N_("What passed")), ""]
    nothing = ["- " + say(N_("Nothing yet."))]
    lines += [f"- {r.id} ({say(r.title)}): {r.points}/{r.max_points}" for r in passed] or nothing
    lines.append("")
    if failing:
        from kit.output.render import said

        first = failing[0]
        message, hint = said(first.failures[0], lang) if first.failures else ("", "")
        stage = catalogue.get(first.id)
        where = say(N_("Stage {number} {id} ({title}), notebooks/{notebook}:"))
        lines += ["## " + say(N_("What to fix next")), "",
                  where.format(number=numeral(stage.number, lang), id=stage.id, title=say(stage.title),
                               notebook=stage.notebook if lang == SOURCE else f"{lang}/{stage.notebook}"), "",
                  "- " + clean(message), "- " + say(N_("hint: {hint}")).format(hint=clean(hint)), ""]
        if len(failing) > 1:
            lines += ["## " + say(N_("Not passed yet")), ""]
            lines += [f"- {r.id} ({say(r.title)}): 0/{r.max_points}" for r in failing[1:]]
            lines.append("")
    else:
        lines += [say(N_("Every stage that was graded passes. Well done!")), ""]
    if skipped:
        lines += ["## " + say(N_("Not graded")), "",
                  say(N_("The grading machine could not grade these stages; they do not count against you.")), ""]
        lines += [f"- {r.id}: {clean(translated(recall(r.skipped[0]), lang))}" for r in skipped]
        lines.append("")
    return "\n".join(lines)


def plain_feedback(sub: Submission, meta: Meta) -> str:
    """The score and the gradebook's note, in English: what a learner gets when their full feedback fails."""
    lines = ["# " + N_("Channels Kit: feedback for {learner}").format(learner=clean(sub.learner)), "",
             N_("Score: {score} of {max_score}. Graded {when} with kit {commit}.").format(
                 score=sub.total, max_score=learner_max(sub, meta.stages), when=meta.updated or now(),
                 commit=meta.kit_commit), ""]
    return "\n".join([*lines, note(sub, meta.stages), ""])


def write_feedback(folder: Path, sub: Submission, meta: Meta, name: str | None = None) -> Path:
    path = folder / f"{name or feedback_name(sub.learner)}.md"
    lang = meta.language or learner_language(sub)
    try:
        text = feedback_text(sub, meta, lang)
    except Exception:  # noqa: BLE001 (one learner's odd report still gets them their score)
        text = plain_feedback(sub, meta)
    atomic_write(path, text.encode("utf-8", "replace"))
    return path
