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

from kit.course.catalogue import PROJECT_FILES
from kit.course.i18n import N_, T
from kit.course.project import read_text_inside

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
        if not filename or str(filename).startswith("<"):  # <frozen importlib._bootstrap>, <string>: no file
            return False
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

    def _indents(self, exc: SyntaxError) -> tuple[int, int] | None:
        """For an indentation error in the tree: the spaces before its line and before the code line above it."""
        if not isinstance(exc, IndentationError) or not exc.text or not exc.lineno or not self.contains(exc.filename):
            return None
        relpath = Path(exc.filename).resolve().relative_to(self.root).as_posix()
        text = read_text_inside(self.root, relpath)   # never through a link planted in the tree
        lines = (text or "").splitlines()[:exc.lineno - 1]
        above = next((line for line in reversed(lines) if line.strip() and not line.lstrip().startswith("#")), None)
        if above is None or "\t" in exc.text or "\t" in above:
            return None
        spaces = len(exc.text) - len(exc.text.lstrip(" "))
        return spaces, len(above) - len(above.lstrip(" "))

    def explain(self, exc: BaseException, doing: str) -> str:
        """One paragraph: what we were doing, what went wrong, where, and a known cause if any."""
        if isinstance(exc, SyntaxError):
            indents = self._indents(exc)
            if indents:   # a pasted block one level too deep looks right once the message strips its spaces
                return T("{doing}: syntax error in {place}: {error}. That line starts with {spaces} spaces, the code "
                         "line above it with {above}: the lines of one block start with the same number (in a "
                         "class, a method's def with 4 and its body with 8). Pasted code? Put the cursor at the "
                         "very start of an empty line before you paste: the editor may have indented that line "
                         "already. The line, a dot for each space:\n    {code}", doing=doing, place=self.where(exc),
                         error=exc.msg, spaces=indents[0], above=indents[1],
                         code="·" * indents[0] + exc.text.strip()[:200])
            if exc.text:
                return T("{doing}: syntax error in {place}: {error}\n    {code}", doing=doing, place=self.where(exc),
                         error=exc.msg, code=exc.text.strip())
            return T("{doing}: syntax error in {place}: {error}", doing=doing, place=self.where(exc), error=exc.msg)
        detail = f"{type(exc).__name__}: {exc}".strip().rstrip(":").rstrip(".")
        place = self.where(exc)
        cause = likely_cause(str(exc))
        missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
        unhandled = re.search(r"No handler for message type (\S+)", str(exc))
        if not place and unhandled:  # the event's type has no method: the line that sends that type
            place = self.naming(unhandled.group(1), module=False)
        if not place and missing:  # an app or module named in a setting (INSTALLED_APPS): the line naming it
            place = self.naming(missing)
            if place:
                cause = T("that line names the module '{name}', which Python cannot find: check its spelling "
                          "(the apps are 'daphne', 'channels' and 'myapp').", name=missing.split(".")[0])
        if place:
            return (T("{doing}: {error} at {place}. Likely cause: {cause}", doing=doing, error=detail, place=place,
                      cause=cause) if cause else T("{doing}: {error} at {place}.", doing=doing, error=detail, place=place))
        return (T("{doing}: {error}. Likely cause: {cause}", doing=doing, error=detail, cause=cause) if cause
                else T("{doing}: {error}.", doing=doing, error=detail))

    def naming(self, name: str, *, module: bool = True) -> str:
        """Where a file of the tree has the name as a string: a module ("channel", 'channel.apps.X'), else the
        exact text ("chat_mesage"); 'file, line n'. Read as text, never imported; settings first."""
        tail = r"""(\.[\w.]*)?""" if module else ""
        quoted = re.compile(r"""(["'])""" + re.escape(name.split(".")[0] if module else name) + tail + r"""\1""")
        ordered = sorted((p for p in PROJECT_FILES if p.endswith(".py")), key=lambda p: not p.endswith("settings.py"))
        for relpath in ordered:
            text = read_text_inside(self.root, relpath)   # never through a link planted in the tree
            if text is None:
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if quoted.search(line.split("#")[0]):
                    return self.relative(str(self.root / relpath), number)
        return ""

    def server_clue(self, log: str) -> str:
        """The first error in a daphne log, in one line with its place in the tree, or nothing."""
        lines = log.splitlines()
        for index, line in enumerate(lines):
            if "Traceback" not in line and "Exception inside application" not in line:
                continue
            block = [line]
            for entry in lines[index + 1:]:
                if (entry[:1].isdigit() and block[-1][:1] not in (" ", "T")) or ACCESS_LINE.match(entry):
                    break  # the next log or access line (a client on a Unix socket is logged as "None")
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
        warned = NEVER_AWAITED_LOG.search(log)
        if warned:  # no traceback, only Python's warning (and its tracemalloc advice, which is not for learners)
            return self.never_awaited(warned.group(0), warned.group(1), int(warned.group(2)))
        return ""

    def never_awaited(self, text: str, filename: str | None = None, lineno: int | None = None) -> str:
        """A 'coroutine ... was never awaited' warning, said as the fix: `await` in an async method,
        async_to_sync(...) in a sync one (the warning's tracemalloc advice is for Python's authors, not ours)."""
        named = re.search(r"coroutine '([^']+)'", text)
        name = named.group(1).split(".")[-1] if named else "a coroutine"
        frames = [(f, int(n), where) for f, n, where in FRAME.findall(text)]
        if not frames and filename and lineno:
            frames = [(filename, int(lineno), "?")]
        inside = [f for f in frames if self.contains(f[0])]
        if not inside:
            return T("{name}() was called without await: put `await` before that call.", name=name)
        file, line, function = inside[-1]
        found = enclosing_function(file, line, self.root)
        if found:
            function = found[0]
        place = T("{place} (in {function})", place=self.relative(file, line), function=function)
        if found and not found[1]:
            call = f"self.channel_layer.{name}" if name in LAYER_CALLS else name
            return T("{place}: coroutine {name}() was never awaited. {function}() is a sync method (def), where "
                     "await cannot be used: call it as async_to_sync({call})(...), with "
                     "from asgiref.sync import async_to_sync.", place=place, name=name, function=function, call=call)
        return T("{place}: {name}() is a coroutine, called without await: put `await` before that call.",
                 place=place, name=name)


FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
ACCESS_LINE = re.compile(r"\S+ - - \[")  # daphne's access log: client, then "- - [date]"
NEVER_AWAITED_LOG = re.compile(r"^(\S+\.py):(\d+): RuntimeWarning: coroutine '[^']+' was never awaited", re.M)
LAYER_CALLS = {"group_send", "group_add", "group_discard", "send", "receive", "new_channel", "flush"}
DEF = re.compile(r"^(\s*)(async\s+)?def\s+(\w+)")
CLOSED_SOCKET = "Attempt to send on a closed protocol"   # autobahn's Disconnected, as daphne logs it


def log_errors(log: str) -> list[str]:
    """The errors a daphne log holds, each its exception's line, less autobahn's Disconnected: a frame on its way
    to a client that had just closed (a sync consumer's self.send cannot catch it), caused by that client."""
    lines = log.splitlines()
    errors = []
    for index, line in enumerate(lines):
        if "Traceback (most recent call last)" in line:
            error = next((e for e in lines[index + 1:] if e.strip() and not e.startswith((" ", "Traceback"))), line)
        elif "Exception inside application" in line:
            error = line
        else:
            continue
        if CLOSED_SOCKET not in error:
            errors.append(error)
    return errors


def enclosing_function(filename: str, lineno: int, root: Path | None = None) -> tuple[str, bool] | None:
    """(name, is_async) of the function a line of a file of the tree at root is in, read as text (never
    imported), no link followed."""
    path = Path(filename)
    if root is None:
        root, path = path.parent, Path(path.name)
    try:
        relpath = path.resolve().relative_to(Path(root).resolve()) if path.is_absolute() else path
    except (ValueError, OSError):
        return None
    text = read_text_inside(Path(root), str(relpath))
    if text is None:
        return None
    lines = text.splitlines()[:lineno]
    if not lines:
        return None
    target = lines[-1]
    indent = len(target) - len(target.lstrip())
    for text in reversed(lines[:-1]):
        found = DEF.match(text)
        if found and len(found.group(1)) < indent:
            return found.group(3), bool(found.group(2))
    return None


EXIT_CALL = re.compile(r"^[^#]*\b(sys\.exit|os\._exit|os\.abort|exit|quit)\s*\(")


def exit_calls(root: Path) -> list[str]:
    """Where the learner's files call sys.exit/os._exit: the likely reason a process vanished.

    Read as text, never imported."""
    found = []
    for relpath in PROJECT_FILES:
        if not relpath.endswith(".py") or relpath == "manage.py":
            continue
        text = read_text_inside(Path(root), relpath)   # never through a link planted in the tree
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            match = EXIT_CALL.search(line)
            if match:
                found.append(T("{file}, line {line} calls {call}()", file=relpath, line=number, call=match.group(1)))
    return found
