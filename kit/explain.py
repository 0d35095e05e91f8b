"""One explainer for the learner's mistakes: what went wrong, where in their tree, and the likely cause.

The host (which runs the learner's code) uses it to describe an exception as
plain data; the checks use it to read daphne's log. Both say the same thing
the same way.
"""
from __future__ import annotations

import os
import re
import traceback
from pathlib import Path

from .catalogue import PROJECT_FILES
from .i18n import N_, T

KNOWN_CAUSES = (
    ("No handler for message type", N_("the event's 'type' names a method: 'chat.message' calls chat_message(self, event). "
                                    "Check the spelling on both sides.")),
    ("No route found for path", N_("no pattern in websocket_urlpatterns matches this path: patterns start with 'ws/chat/' "
                                "(no leading slash), capture room_name and end with a slash.")),
    ("'url_route'", N_("the consumer was reached without URLRouter: wrap the patterns in URLRouter(...).")),
    ("room_name", N_("the route must capture a keyword argument named room_name.")),
    ("You cannot call this from an async context", N_("a synchronous call (ORM, async_to_sync) ran inside an async "
                                                   "method: await the async version instead.")),
    ("Group name must be", N_("group names allow only ASCII letters, digits, hyphens, underscores and periods, "
                           "under 100 characters.")),
    ("Channel layer", N_("CHANNEL_LAYERS is missing or wrong in settings.py.")),
    ("can only handle ASGI/HTTP connections", N_("asgi.py sends WebSockets to Django's HTTP handler: make application "
                                              "a ProtocolTypeRouter with a 'websocket' entry.")),
    ("Connection refused", N_("a service the settings name (Redis?) is not running: set REDIS_URL to a running Redis "
                           "or use the in-memory layer.")),
    ("Error 111", N_("a service the settings name (Redis?) is not running: without REDIS_URL, keep the in-memory layer.")),
)


def likely_cause(text: str) -> str:
    return next((T(cause) for needle, cause in KNOWN_CAUSES if needle in text), "")


def sentence(text: str) -> str:
    """End a sentence with exactly one full stop."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", ":")) else text + "."


class Places:
    """Paths of one project tree, said the way the learner sees them: 'myapp/consumers.py, line 12'."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def contains(self, filename: str) -> bool:
        try:
            Path(filename).resolve().relative_to(self.root)
            return True
        except (ValueError, OSError):
            return False

    def relative(self, filename: str, lineno: int | None = None) -> str:
        try:
            name = Path(filename).resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError):
            name = filename
        return T("{file}, line {line}", file=name, line=lineno) if lineno else name

    def frame_place(self, frames) -> str:
        """The deepest frame of the tree among (filename, lineno, name) triples."""
        inside = [f for f in frames if self.contains(f[0])]
        if not inside:
            return ""
        filename, lineno, name = inside[-1][:3]
        return T("{place} (in {function})", place=self.relative(filename, lineno), function=name)

    def where(self, exc: BaseException) -> str:
        if isinstance(exc, SyntaxError) and exc.filename:
            return self.relative(exc.filename, exc.lineno)
        frames = [(f.filename, f.lineno, f.name) for f in traceback.extract_tb(exc.__traceback__)]
        place = self.frame_place(frames)
        if place:
            return place
        if exc.__cause__ or exc.__context__:
            return self.where(exc.__cause__ or exc.__context__)
        return ""

    def explain(self, exc: BaseException, doing: str) -> str:
        """One paragraph: what we were doing, what went wrong, where, and a known cause if any."""
        if isinstance(exc, SyntaxError):
            if exc.text:
                return T("{doing}: syntax error in {place}: {error}\n    {code}", doing=doing, place=self.where(exc),
                         error=exc.msg, code=exc.text.strip())
            return T("{doing}: syntax error in {place}: {error}", doing=doing, place=self.where(exc), error=exc.msg)
        detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":").rstrip(".")
        place = self.where(exc)
        cause = likely_cause(str(exc))
        if place:
            return (T("{doing}: {error} at {place}. Likely cause: {cause}", doing=doing, error=detail, place=place,
                      cause=cause) if cause else T("{doing}: {error} at {place}.", doing=doing, error=detail, place=place))
        return (T("{doing}: {error}. Likely cause: {cause}", doing=doing, error=detail, cause=cause) if cause
                else T("{doing}: {error}.", doing=doing, error=detail))

    def server_clue(self, log: str) -> str:
        """The first error in a daphne log, in one line with its place in the tree, or nothing."""
        lines = log.splitlines()
        for index, line in enumerate(lines):
            if "Traceback" not in line and "Exception inside application" not in line:
                continue
            block = [line]
            for entry in lines[index + 1:]:
                if entry[:1].isdigit() and block[-1][:1] not in (" ", "T"):
                    break  # the next log or access line
                block.append(entry)
            error = next((e for e in reversed(block) if e.strip() and not e.startswith(" ")), line)
            error = error.split("Exception inside application: ")[-1].rstrip(".")
            frames = [e.strip() for e in block if e.strip().startswith("File ") and str(self.root) in e]
            place = frames[-1].replace(str(self.root) + os.sep, "") if frames else ""
            cause = likely_cause(error)
            if place:
                return (T("daphne's log says: {error} ({place}). Likely cause: {cause}", error=error, place=place,
                          cause=cause) if cause else T("daphne's log says: {error} ({place}).", error=error, place=place))
            return (T("daphne's log says: {error}. Likely cause: {cause}", error=error, cause=cause) if cause
                    else T("daphne's log says: {error}.", error=error))
        return ""


EXIT_CALL = re.compile(r"^[^#]*\b(sys\.exit|os\._exit|os\.abort|exit|quit)\s*\(")


def exit_calls(root: Path) -> list[str]:
    """Where the learner's files call sys.exit/os._exit: the likely reason a process vanished.

    Read as text, never imported."""
    found = []
    for relpath in PROJECT_FILES:
        if not relpath.endswith(".py") or relpath == "manage.py":
            continue
        try:
            lines = (Path(root) / relpath).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for number, line in enumerate(lines, 1):
            match = EXIT_CALL.search(line)
            if match:
                found.append(T("{file}, line {line} calls {call}()", file=relpath, line=number, call=match.group(1)))
    return found
