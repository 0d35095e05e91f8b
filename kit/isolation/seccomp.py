"""The seccomp filter every learner sandbox runs under: no kernel keyrings.

Keyrings are the one kernel store bubblewrap's namespaces leave shared. Every sandbox runs as the same real
user, and the kernel lists in /proc/keys every key that user may view, whichever namespace made it. The
fifth review used them to carry a hidden check's question from the checking process's host to a live
stage's daphne, and to let a `testing` suite count which run it was in. Python, Django and daphne never use
keyrings: add_key, request_key and keyctl fail with EPERM.

The program is classic BPF, as bubblewrap's `--seccomp FD` reads it (libseccomp's export format): check the
architecture, then the syscall number. Another ABI on the same machine (i386 through int 0x80, x32) gets
EPERM for every call, as those numbers differ.
"""
from __future__ import annotations

import errno
import os
import platform
import struct

# (AUDIT_ARCH, numbers of add_key, request_key, keyctl) for the machines the kit grades on.
_ARCHES = {"x86_64": (0xC000003E, (248, 249, 250)), "aarch64": (0xC00000B7, (217, 218, 219))}
_X32_BIT = 0x40000000
_LD_W_ABS, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x15, 0x35, 0x06
_ALLOW, _EPERM = 0x7FFF0000, 0x00050000 | errno.EPERM
_ARCH_OFFSET, _NR_OFFSET = 4, 0   # struct seccomp_data


def program(machine: str | None = None) -> bytes | None:
    """The filter for this machine, or None on an architecture the kit has no numbers for."""
    known = _ARCHES.get(machine or platform.machine())
    if known is None:
        return None
    arch, numbers = known
    denied = [(_JGE_K, _X32_BIT), *((_JEQ_K, n) for n in numbers)]
    last = 4 + len(denied) + 1                       # index of the final "return EPERM"
    steps = [(_LD_W_ABS, 0, 0, _ARCH_OFFSET), (_JEQ_K, 1, 0, arch), (_RET_K, 0, 0, _EPERM),
             (_LD_W_ABS, 0, 0, _NR_OFFSET)]
    for code, value in denied:
        steps.append((code, last - (len(steps) + 1), 0, value))
    steps += [(_RET_K, 0, 0, _ALLOW), (_RET_K, 0, 0, _EPERM)]
    return b"".join(struct.pack("=HBBI", *step) for step in steps)


def open_program() -> int | None:
    """A file descriptor holding the program, for one bubblewrap to read (the caller closes it after)."""
    code = program()
    if code is None or not hasattr(os, "memfd_create"):
        return None
    fd = os.memfd_create("kit-seccomp", 0)
    os.write(fd, code)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
