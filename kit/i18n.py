"""Which language the kit speaks: English unless Bengali (or another catalogued language) is chosen.

Order, first match wins:
1. an explicit choice (`kit check --lang bn`), then `KIT_LANG`;
2. inside a notebook kernel, the lesson's folder: a kernel working in
   notebooks/bn/ (where the Bengali lessons live; JupyterLab starts each
   kernel in its notebook's folder) speaks Bengali;
3. the usual locale variables: `LANGUAGE` (a colon-separated list), `LC_ALL`,
   `LC_MESSAGES`, `LANG` (`bn`, `bn_BD`, `bn_IN.UTF-8` all mean Bengali).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from . import catalogue

SOURCE = "en"
LANGUAGES = ("en", "bn")
LOCALE_DIR = catalogue.KIT_ROOT / "locale"


def normalise(value: str | None) -> str | None:
    """'bn_BD.UTF-8' -> 'bn'; None for an empty value, 'C', 'POSIX' or a language the kit does not have."""
    if not value:
        return None
    code = value.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else None


def notebook_language(cwd: str | os.PathLike | None = None) -> str | None:
    """The language of the lesson this kernel runs: notebooks/<lang>/ as its folder, or JupyterLab's session path."""
    folders = []
    session = os.environ.get("JPY_SESSION_NAME")   # set by jupyter_server: the notebook's path
    if session and Path(session).is_absolute():
        folders.append(Path(session).parent)
    folders.append(Path(cwd) if cwd is not None else Path.cwd())
    for folder in folders:
        try:
            folder = folder.resolve()
        except OSError:
            continue
        if folder.parent == catalogue.NOTEBOOKS_DIR.resolve() and folder.name in LANGUAGES:
            return folder.name
    return None


def language(explicit: str | None = None) -> str:
    for value in (explicit, os.environ.get("KIT_LANG")):
        if normalise(value):
            return normalise(value)
    if "ipykernel" in sys.modules:
        found = notebook_language()
        if found:
            return found
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for value in (os.environ.get(name) or "").split(":"):
            if normalise(value):
                return normalise(value)
    return SOURCE


def adopt_notebook_language() -> str | None:
    """In a kernel of a translated lesson, set KIT_LANG so this kernel and the checks it starts agree."""
    if "KIT_LANG" in os.environ or "ipykernel" not in sys.modules:
        return None
    found = notebook_language()
    if found:
        os.environ["KIT_LANG"] = found
    return found


# -- the kit's own messages (gettext) -------------------------------------------------------
# Marked with _() in kit/render.py; extracted with Babel (babel.cfg):
#   pybabel extract -F babel.cfg -o locale/kit.pot --no-location --omit-header .
#   pybabel update -i locale/kit.pot -d locale -D kit --no-fuzzy-matching   (or: init -l bn the first time)
# The .po is the source; it is compiled in memory when first needed, so no .mo is committed.
DOMAIN = "kit"
_catalogues: dict[tuple[str, float], object] = {}


def translation(lang: str | None = None):
    """The gettext translation for a language (NullTranslations for English or a missing catalogue)."""
    import gettext

    lang = language(lang)
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == SOURCE or not po.exists():
        return gettext.NullTranslations()
    key = (lang, po.stat().st_mtime)
    if key not in _catalogues:
        import io

        import polib

        catalogue_ = polib.pofile(str(po))
        for entry in catalogue_:
            if "fuzzy" in entry.flags:      # as msgfmt does: a fuzzy translation is not used
                entry.msgstr = ""
        _catalogues[key] = gettext.GNUTranslations(io.BytesIO(catalogue_.to_binary()))
    return _catalogues[key]


def _(message: str) -> str:
    """Translate one kit message into the chosen language (looked up at call time)."""
    return translation().gettext(message)
