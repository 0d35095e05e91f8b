"""The Python kernel of `make lab` (kit/lab/kernels/python3/): IPython's kernel, except that in a lesson it
says the language_info the lesson already carries.

Why: when a kernel connects, JupyterLab copies the kernel's language_info into the notebook's metadata.
IPython's names the exact Python version ("3.11.7"), which no committed lesson can know (each learner's
Python differs), so every lesson opened "modified", and autosave then wrote it back into the tracked file.
Kept in the lesson as written (a language_info that names no version), the metadata does not change and
JupyterLab leaves the lesson clean. Any other notebook gets IPython's language_info, as usual.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from ipykernel.ipkernel import IPythonKernel

from kit.course.paths import NOTEBOOKS_DIR


def lesson_language_info(session: str | None = None, cwd: str | os.PathLike | None = None) -> dict | None:
    """The language_info a lesson carries, when this kernel runs a lesson of the kit (else None).

    jupyter_server names the notebook in JPY_SESSION_NAME (a path, absolute or relative to the
    kernel's folder, which is the notebook's)."""
    session = session if session is not None else os.environ.get("JPY_SESSION_NAME")
    if not session:
        return None
    path = Path(session)
    if not path.is_absolute():
        path = Path(cwd if cwd is not None else Path.cwd()) / path.name
    try:
        path = path.resolve()
        if path.suffix != ".ipynb" or not path.is_relative_to(NOTEBOOKS_DIR.resolve()):
            return None
        info = json.loads(path.read_text(encoding="utf-8"))["metadata"]["language_info"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return info if isinstance(info, dict) and info.get("name") == "python" else None


class LessonKernel(IPythonKernel):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.language_info = lesson_language_info() or dict(IPythonKernel.language_info)
