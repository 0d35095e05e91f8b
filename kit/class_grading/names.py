"""A learner's name as the kit shows and compares it: text any writer can encode (plain_name, plain_text),
what a resumed gradebook knows a folder by (folder_key), and what a name looks like on a screen (looks)."""
from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path


def plain_name(name) -> str:
    """A file name as text that any writer can encode: bytes not valid UTF-8 are shown escaped (b'a\\xfe' is
    'a\\xfe'), so two folders never read as one name the way two U+FFFD would."""
    if isinstance(name, bytes):
        return name.decode("utf-8", "backslashreplace")
    try:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    except UnicodeError:
        return plain_text(name)


def folder_key(folder: Path) -> str:
    """What a resumed gradebook knows a learner by: their folder's (or archive's) name, byte for byte, in hex;
    unique in the class folder, whatever the names it shows."""
    return os.fsencode(folder.name).hex()


def plain_text(text) -> str:
    """Learner-derived text (a message, a member's name) with lone surrogates replaced, encodable as UTF-8."""
    return str(text).encode("utf-8", "surrogatepass").decode("utf-8", "replace")


UNSEEN = re.compile("[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
                    "\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0\U0001bca0-\U0001bca3"
                    "\U0001d173-\U0001d17a\U000e0000-\U000e0fff]")


def looks(name: str) -> str:
    """What a name looks like on a screen: its compatibility form (NFKC: 'é' typed as one character or two),
    without what shows nothing (control and format characters, UNSEEN), its spaces as one. Two names that
    look alike are one name to a reader (twelfth and thirteenth reviews)."""
    shown = "".join(c for c in unicodedata.normalize("NFKC", name) if unicodedata.category(c) not in ("Cc", "Cf"))
    return " ".join(UNSEEN.sub("", shown).split())
