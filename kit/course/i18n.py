"""Which language the kit speaks: English unless Bengali (or another catalogued language) is chosen.

Order, first match wins:
1. an explicit choice (`kit check --lang bn`), then `KIT_LANG`;
2. inside a notebook kernel, the lesson's folder: a kernel working in
   notebooks/bn/ (where the Bengali lessons live; JupyterLab starts each
   kernel in its notebook's folder) speaks Bengali;
3. the lab's language: `make lab-bn` passes KIT_LAB_LANG=bn to JupyterLab, whose kernels and terminals
   inherit it (an English lesson still speaks English there: its folder comes first);
4. the usual locale variables: `LANGUAGE` (a colon-separated list), `LC_ALL`,
   `LC_MESSAGES`, `LANG` (`bn`, `bn_BD`, `bn_IN.UTF-8` all mean Bengali).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from kit.course.paths import LOCALE_DIR, NOTEBOOKS_DIR

SOURCE = "en"
LANGUAGES = ("en", "bn")


def normalise(value: str | None) -> str | None:
    """'bn_BD.UTF-8' -> 'bn'; None for an empty value, 'C', 'POSIX' or a language the kit does not have."""
    if not value:
        return None
    code = value.split(".")[0].split("@")[0].replace("-", "_").split("_")[0].lower()
    return code if code in LANGUAGES else None


def notebook_language(cwd: str | os.PathLike | None = None, *, source: bool = False) -> str | None:
    """The language of the lesson this kernel runs: notebooks/<lang>/ as its folder, or JupyterLab's session path.
    With source=True an English lesson (notebooks/ itself) answers SOURCE instead of None."""
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
        if folder.parent == NOTEBOOKS_DIR.resolve() and folder.name in LANGUAGES:
            return folder.name
        if source and folder == NOTEBOOKS_DIR.resolve():
            return SOURCE
    return None


DIGITS = {"bn": "০১২৩৪৫৬৭৮৯"}


def numeral(number: int, lang: str | None = None) -> str:
    """A number said in prose ("stage 10"), in the language's own digits (locale/bn/glossary.md: ধাপ ১০).
    A value the kit prints as code (a port, a score, a line) keeps Latin digits."""
    digits = DIGITS.get(language(lang))
    text = str(number)
    return text.translate(str.maketrans("0123456789", digits)) if digits else text


def language(explicit: str | None = None) -> str:
    for value in (explicit, os.environ.get("KIT_LANG")):
        if normalise(value):
            return normalise(value)
    in_kernel = "ipykernel" in sys.modules
    if in_kernel:
        found = notebook_language()
        if found:
            return found
    lab = normalise(os.environ.get("KIT_LAB_LANG"))
    # `make lab-bn`: its kernels, wherever the notebook lies, except an English lesson's
    if lab and lab != SOURCE and not (in_kernel and notebook_language(source=True) == SOURCE):
        return lab
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
    lab = normalise(os.environ.get("KIT_LAB_LANG"))
    if not found and lab and lab != SOURCE and notebook_language(source=True) == SOURCE:
        found = SOURCE   # an English lesson in `make lab-bn`: its `!kit` commands speak English too
    if found:
        os.environ["KIT_LANG"] = found
    return found


# -- the kit's own messages (gettext) -------------------------------------------------------
# Static messages are marked with _() (translated where they are said) or N_() (marked only,
# translated where they are shown); messages built at run time with T() (below); hint ladders and
# stage titles and hints are plain data, read by the extractors (kit/course/extractors.py). Babel extracts
# them all (babel.cfg):
#   pybabel extract -F babel.cfg -o locale/kit.pot --no-location --omit-header .
#   pybabel update -i locale/kit.pot -d locale -D kit -l bn --ignore-obsolete   (init -l bn the first time)
# then translate locale/bn/LC_MESSAGES/kit.po (a changed English entry comes back fuzzy, with the old
# translation to start from; remove the fuzzy flag when done) and run tests/test_kit_messages_bn.py.
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


def N_(message: str) -> str:
    """Mark a static English message for extraction; it is translated where it is shown (with _())."""
    return message


def gettext_in(lang: str | None, message: str) -> str:
    """A static message in the given (or chosen) language; English when no translation exists."""
    return translation(lang).gettext(message) if message else message


# -- messages built at run time: T ----------------------------------------------------------
# A check's message is built at run time from a template and values:
#     fail(T("A socket in room '{room}' waited {wait:.0f} s for {what} and got nothing.",
#            room=self.room, wait=WAIT, what=T("its own message back")))
# T is a str: it *is* the English sentence (tests and the JSON's "message" read it unchanged), and it
# keeps its template and values, so the sentence can be said again in another language. The template
# is the msgid (Babel extracts T(...) like _()); the values are never translated, except a value that
# is itself a T (or a join() of them), which is translated too. A T with no values is a literal: its
# braces are text. Templates and values cross process boundaries as data (T.data(), revive()).
class T(str):
    template: str
    params: dict

    def __new__(cls, template: str, /, **params):
        self = super().__new__(cls, template.format(**params) if params else template)
        self.template, self.params = template, params
        _remember(self)
        return self

    def __reduce__(self):
        return (_rebuild, (self.data(),))

    def data(self) -> dict:
        """The template and values as JSON data (a nested T becomes data too)."""
        return {"template": self.template, "params": {k: _data(v) for k, v in self.params.items()}}

    def translate(self, lang: str | None = None) -> str:
        """This sentence in the given (or chosen) language; the English sentence when the catalogue lacks it."""
        tr = translation(lang)
        template = tr.gettext(self.template)
        if not self.params:
            return template
        params = {k: (v.translate(lang) if isinstance(v, T) else v) for k, v in self.params.items()}
        try:
            return template.format(**params)
        except (KeyError, IndexError, ValueError):   # a broken translation: say it in English
            return self.template.format(**params)


class Joined(T):
    """Several sentences said one after another (a check's message plus what the host noticed)."""

    def __new__(cls, parts, sep: str = " ", lower_first: bool = False):
        parts = [p if isinstance(p, str) else str(p) for p in parts]
        text = sep.join(parts)
        if lower_first and text:
            text = text[0].lower() + text[1:]
        self = str.__new__(cls, text)
        self.template, self.params = "", {}
        self.parts, self.sep, self.lower_first = parts, sep, lower_first
        _remember(self)
        return self

    def data(self) -> dict:
        return {"join": self.sep, "parts": [_data(p) for p in self.parts], "lower_first": self.lower_first}

    def translate(self, lang: str | None = None) -> str:
        text = self.sep.join(p.translate(lang) if isinstance(p, T) else p for p in self.parts)
        return text[0].lower() + text[1:] if self.lower_first and text else text


def join(parts, sep: str = " ") -> str:
    """Sentences joined by sep, each translatable on its own."""
    return Joined(parts, sep)


def lower_first(text: str) -> str:
    """'Loading x' -> 'loading x', in every language (a no-op in Bengali)."""
    return Joined([text], "", lower_first=True)


def _data(value):
    if isinstance(value, T):
        return {"t": value.data()}
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return str(value)


def _rebuild(data: dict) -> str:
    return from_data(data)


def _value(value):
    return from_data(value["t"]) if isinstance(value, dict) and "t" in value else value


def from_data(data: dict) -> str:
    """A T (or joined T) again, from T.data()."""
    if "join" in data:
        return Joined([_value(p) for p in data["parts"]], data["join"], data.get("lower_first", False))
    return T(data["template"], **{k: _value(v) for k, v in data.get("params", {}).items()})


_known: set[str] | None = None


def known_template(data) -> bool:
    """Is every template in data one of the kit's own (locale/kit.pot)? Data from another process (the
    host runs the learner's code) may only name those: no format string of theirs is ever applied."""
    global _known
    if _known is None:
        import polib

        pot = LOCALE_DIR / "kit.pot"
        _known = {e.msgid for e in polib.pofile(str(pot))} if pot.exists() else set()
    if not isinstance(data, dict):
        return False
    if "join" in data:
        return all(known_template(p["t"]) if isinstance(p, dict) and "t" in p else isinstance(p, str)
                   for p in data.get("parts", []))
    params = data.get("params", {})
    return (data.get("template") in _known and isinstance(params, dict)
            and all(known_template(v["t"]) if isinstance(v, dict) and "t" in v
                    else isinstance(v, (str, int, float, bool)) or v is None for v in params.values()))


def revive(text, data, *, known_only: bool = True) -> str:
    """text as a T when data rebuilds exactly that English sentence from the kit's own templates; text otherwise.

    known_only=False is for data from a trusted sender (the checks' requests to the host, which runs in a
    sandbox that may not see locale/)."""
    if not isinstance(text, str) or not isinstance(data, dict) or (known_only and not known_template(data)):
        return text
    try:
        made = from_data(data)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return text
    return made if made == text else text


def pack(message: dict) -> dict:
    """Before a dict crosses a process boundary as JSON: its T values' templates ride along under "i18n"."""
    extra = {}
    for key, value in message.items():
        if isinstance(value, T):
            extra[key] = value.data()
        elif isinstance(value, list) and any(isinstance(v, T) for v in value):
            extra[key] = [v.data() if isinstance(v, T) else None for v in value]
    return dict(message, i18n=extra) if extra else message


def unpack(message: dict, *, known_only: bool = True) -> dict:
    """After: the T values again (pack's inverse); a dict without "i18n" is returned as it is."""
    extra = message.pop("i18n", None)
    if not isinstance(extra, dict):
        return message
    for key, data in extra.items():
        value = message.get(key)
        if isinstance(value, list) and isinstance(data, list):
            message[key] = [revive(v, d, known_only=known_only) for v, d in zip(value, data)] + value[len(data):]
        else:
            message[key] = revive(value, data, known_only=known_only)
    return message


# The English sentences made lately in this process, so a T that reached pytest only as its text
# (an assert's message, str(exc)) is found again by that text.
_made: dict[str, T] = {}


def _remember(made: T) -> None:
    _made[str.__str__(made)] = made
    if len(_made) > 512:
        del _made[next(iter(_made))]


def recall(text) -> str:
    """The T whose English is text, if one was made in this process; else text."""
    if isinstance(text, T):
        return text
    return _made.get(text, text) if isinstance(text, str) else text


def message_data(text) -> dict | None:
    """The template and values of a message, or None for a plain string."""
    found = recall(text)
    return found.data() if isinstance(found, T) else None


def translated(text, lang: str | None = None) -> str:
    """Any kit message in the given (or chosen) language: a T by its template, a plain string by the catalogue."""
    found = recall(text)
    if isinstance(found, T):
        return found.translate(lang)
    return gettext_in(lang, text) if isinstance(text, str) else text
