"""A learner's archive (zip or tar) unpacked safely: no member outside the folder, no link, no device, and a
bound on members and bytes, whatever the archive claims."""
from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from pathlib import Path

from kit.class_grading.names import plain_name, plain_text
from kit.course.i18n import T
from kit.grading.scratch import MAX_DEPTH

SKIPPED_NAMES = ("__MACOSX",)     # what unzipping an archive made on a Mac leaves behind
ARCHIVE_MAX_BYTES = 500 * 1024 * 1024     # what one archive may unpack to, in all
ARCHIVE_MAX_MEMBERS = 50_000


class UnsafeArchive(ValueError):
    """An archive that cannot be unpacked safely; args[0] says why and what to do, in one sentence."""


def _safe_name(name: str, archive: Path) -> Path | None:
    """The member's relative path, None for one to pass over (a Mac's __MACOSX); UnsafeArchive for a way out."""
    parts = Path(name.replace("\\", "/")).parts
    if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
        raise UnsafeArchive(T("Refused: {archive} holds a path outside itself ({name}). Unpack it yourself, check "
                              "it, and grade again.", archive=plain_name(archive.name), name=plain_name(name)))
    if len(parts) > MAX_DEPTH + 4:
        raise UnsafeArchive(T("Refused: {archive} holds folders more than {limit} levels deep. Unpack it yourself, "
                              "remove them, and grade again.", archive=plain_name(archive.name), limit=MAX_DEPTH))
    if not parts or parts[0] in SKIPPED_NAMES:
        return None
    return Path(*parts)


def _too_big(archive: Path) -> UnsafeArchive:
    return UnsafeArchive(T("Refused: {archive} unpacks to more than {limit} MB or {members} files. Unpack it "
                           "yourself, remove what is not the project, and grade again.", archive=plain_name(archive.name),
                           limit=ARCHIVE_MAX_BYTES // 2**20, members=ARCHIVE_MAX_MEMBERS))


def unpack(archive: Path, dest: Path) -> Path:
    """Unpack regular files and folders only (links and devices are passed over), bounded; returns dest."""
    dest.mkdir(parents=True, exist_ok=False)
    total = 0
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as packed:
                members = packed.infolist()
                if len(members) > ARCHIVE_MAX_MEMBERS:
                    raise _too_big(archive)
                for info in members:
                    relative = _safe_name(info.filename, archive)
                    mode = info.external_attr >> 16
                    if relative is None or stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):   # a link, a device
                        continue
                    if info.is_dir():
                        (dest / relative).mkdir(parents=True, exist_ok=True)
                        continue
                    with packed.open(info) as source:
                        total = _write(source, dest / relative, total, archive)
        else:
            with tarfile.open(archive) as packed:
                count = 0
                for info in packed:
                    count += 1
                    if count > ARCHIVE_MAX_MEMBERS:
                        raise _too_big(archive)
                    relative = _safe_name(info.name, archive)
                    if relative is None or not (info.isreg() or info.isdir()):
                        continue
                    if info.isdir():
                        (dest / relative).mkdir(parents=True, exist_ok=True)
                        continue
                    source = packed.extractfile(info)
                    if source is not None:
                        total = _write(source, dest / relative, total, archive)
    except Exception as exc:  # zlib.error, a damaged member, anything: one sentence for this archive
        if isinstance(exc, UnsafeArchive):
            raise
        raise UnsafeArchive(T("Refused: {archive} could not be unpacked ({error}). Unpack it yourself into a "
                              "folder of its own and grade again.", archive=plain_name(archive.name),
                              error=plain_text(f"{type(exc).__name__}: {exc}")[:300])) from None
    return dest


def _write(source, target: Path, total: int, archive: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.parent.is_symlink() or target.is_symlink():
        raise _too_big(archive)
    with open(target, "wb") as out:
        while chunk := source.read(1 << 20):
            total += len(chunk)
            if total > ARCHIVE_MAX_BYTES:
                raise _too_big(archive)
            out.write(chunk)
    os.chmod(target, 0o644)
    return total
