"""What a page did, as the browser reports it (DESIGN.md, "Trust"): the errors its own scripts threw, the
WebSockets it opened and the frames they carried, and what an element shows, read in Playwright's isolated
world. Never an object the page's own scripts can write, nor code evaluated in the page's main world.

    sockets = PageSockets(page)     # before goto: the page's WebSockets as Chromium reports them
    shown_lines(page, "#chat-log")  # what an element shows
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from urllib.parse import urlsplit


# -- what a page's own scripts did wrong -------------------------------------------------
# Observed through the browser (Playwright's pageerror and console events, which come
# from Chromium over CDP), never asked of the page: a page cannot write these.

STACK_PLACE = re.compile(r"((?:https?|file)://[^\s()]+?):(\d+):(\d+)\)?\s*$", re.M)
MAX_ERRORS = 20        # a page that throws in a loop is bounded (DESIGN.md, "Bounded")
MAX_TEXT = 300         # characters kept of one error's text
MAX_TEMPLATE = 2**20   # bytes read of the template to say a line of it: a larger one gets no line
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
IGNORED_CONSOLE = ("Failed to load resource", "WebSocket connection to")  # explained by the checks themselves


def _clean(text: str) -> str:
    text = CONTROL.sub(" ", str(text or "")).strip()
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT - 1] + "…"


class PageErrors:
    """Every uncaught exception and console error of the pages it watches, with where it happened.

        errors = PageErrors(template=("room.html", path_of_the_template))
        errors.watch(page)                       # before page.goto(...)
        errors.remember_source(url, html)        # the document as served: maps its lines to the template
        errors.lead()                            # None, or "Your page's script stopped at room.html line 27: ..."

    A line of the page is the line of the served document (what the browser knows).
    When the template renders line for line (or the line's text occurs once in it),
    the place is said as the template's file and line; otherwise as the page's line.
    """

    def __init__(self, template: tuple[str, os.PathLike] | None = None, root: os.PathLike | None = None):
        self.template = template
        self.root = root   # the tree the template is in: read from there, one folder at a time
        self.errors: list[dict] = []
        self.sources: dict[str, str] = {}

    def watch(self, page) -> None:
        page.on("pageerror", self._uncaught)
        page.on("console", self._console)

    def remember_source(self, url: str, text: str) -> None:
        self.sources[url.split("#")[0]] = text

    def _add(self, entry: dict) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(entry)

    def _uncaught(self, error) -> None:
        name = _clean(getattr(error, "name", "") or "Error")
        message = _clean(getattr(error, "message", "") or str(error))
        url, line = "", None
        for match in STACK_PLACE.finditer(getattr(error, "stack", "") or ""):
            url, line = match.group(1), int(match.group(2))
            break
        self._add({"kind": "uncaught", "name": name, "text": message, "url": url, "line": line,
                   "at": time.monotonic()})

    def _console(self, message) -> None:
        try:
            if message.type != "error":
                return
            text = _clean(message.text)
            location = message.location or {}
        except Exception:  # noqa: BLE001 - a closed page: nothing more to learn
            return
        if not text or text.startswith(IGNORED_CONSOLE):
            return
        line = location.get("lineNumber")
        self._add({"kind": "console", "name": "", "text": text, "url": location.get("url") or "",
                   "line": line + 1 if isinstance(line, int) and line >= 0 else None})

    def close_name(self, entry: dict) -> tuple[str, str] | None:
        """For "ReferenceError: mesageInput is not defined": (the undefined name, the closest name the page's
        own source (as the browser fetched it) holds), when one is close enough to be a likely misspelling."""
        import difflib

        found = re.match(r"([A-Za-z_$][\w$]*) is not defined", entry.get("text", ""))
        if not found:
            return None
        missing = found.group(1)
        words = set()
        for text in self.sources.values():
            words.update(re.findall(r"[A-Za-z_$][\w$]*", text[:500_000]))
        words.discard(missing)
        close = difflib.get_close_matches(missing, sorted(words), n=1, cutoff=0.8)
        return (missing, close[0]) if close else None

    # -- saying where --------------------------------------------------------------
    def template_line(self, url: str, line: int) -> int | None:
        """The template's line for line `line` of the document served at url, when that is plain."""
        source = self.sources.get(url.split("#")[0])
        if source is None or not self.template:
            return None
        text = self._template_text()
        if text is None:
            return None
        lines = text.splitlines()
        served = source.splitlines()
        if not 0 < line <= len(served):
            return None
        wanted = served[line - 1].strip()
        if not wanted:
            return None
        if line <= len(lines) and lines[line - 1].strip() == wanted:
            return line
        same = [n for n, text in enumerate(lines, 1) if text.strip() == wanted]
        return min(same, key=lambda n: abs(n - line)) if same else None

    def _template_text(self) -> str | None:
        """The template as it is now, or None. Learner code runs while the checker reads it (daphne's views can
        swap it for a link to /etc/shadow or a named pipe): a regular file only, no link followed, never
        blocking, bounded (kit.course.project.read_inside). No root given: walked from the file system's root."""
        from kit.course.nofollow import read_text_inside

        path = Path(self.template[1]).absolute()
        root = Path(self.root).absolute() if self.root is not None else Path(path.anchor)
        try:
            relative = path.relative_to(root)
        except ValueError:
            return None
        return read_text_inside(root, str(relative), limit=MAX_TEMPLATE)

    def place(self, entry: dict) -> str:
        from kit.course.i18n import T

        url, line = entry["url"], entry["line"]
        if not line:
            return T("the room page") if url in self.sources or not url else _clean(url)
        if url in self.sources or url.split("#")[0] in self.sources:
            found = self.template_line(url, line)
            if found:
                return T("{file} line {line}", file=self.template[0], line=found)
            return T("line {line} of the page as served", line=line)
        path = re.sub(r"^[a-z]+://[^/]+", "", url) or url
        return T("{file} line {line}", file=_clean(path), line=line)

    def stopped_for(self) -> float:
        """Seconds since the pages' first uncaught exception; 0 when none happened."""
        uncaught = [e for e in self.errors if e["kind"] == "uncaught"]
        return time.monotonic() - uncaught[0]["at"] if uncaught else 0.0

    def first(self) -> dict | None:
        """The error to lead with: the first uncaught exception, else the first console error."""
        uncaught = [e for e in self.errors if e["kind"] == "uncaught"]
        return (uncaught or self.errors or [None])[0]

    def lead(self) -> str | None:
        """One sentence about the page's own first error, or None when it had none."""
        from kit.course.i18n import T, join

        entry = self.first()
        if entry is None:
            return None
        place = self.place(entry)
        if entry["kind"] == "console":
            return T("Your page's script logged an error at {place}: {error}.", place=place,
                     error=entry["text"].rstrip("."))
        error = f"{entry['name']}: {entry['text']}".rstrip(".")
        advice = {
            "ReferenceError": T("A name used on that line is not defined where the line runs: a const made inside "
                                "a function, or only in a comment, is not seen outside it. Define it once near the "
                                "top of the script, before anything uses it."),
            "TypeError": T("A value on that line is not what the code expects (often null: a querySelector that "
                           "found no element, or a name used before it was given a value)."),
            "SyntaxError": T("The browser could not read the script at all: look for a bracket, quote or brace "
                             "left open near that line."),
        }.get(entry["name"], T("The browser stops a script at its first uncaught error: nothing after it ran."))
        close = self.close_name(entry) if entry["name"] == "ReferenceError" else None
        if close:
            advice = join([T("Is {missing} a misspelling of {defined}, which your script defines?",
                             missing=close[0], defined=close[1]), advice])
        return T("Your page's script stopped at {place}: {error}. {advice}", place=place, error=error, advice=advice)


# -- what a page's sockets did, and what it shows -------------------------------------------
# Observed through the browser, never asked of the page (DESIGN.md, "Trust"): Chromium reports each
# WebSocket over CDP (a socket is listed only when the browser really dialled it, open only when a
# server answered its handshake with 101), and Playwright reads the DOM in its own isolated world,
# where the page's scripts cannot redefine what it calls. An object the page writes proves nothing.

MAX_SOCKETS = 50       # a page that dials in a loop is bounded too
MAX_FRAMES = 1000      # frames kept per direction of one page
MAX_FRAME = 20_000     # characters kept of one frame


class PageSockets:
    """Every WebSocket one page dials, as Chromium reports it (CDP Network events).

        sockets = PageSockets(page)      # before page.goto(...)
        sockets.urls()                   # every URL the browser dialled, in order
        sockets.open()                   # a socket whose handshake the server answered with 101, not closed
        sockets.sent(), sockets.received()   # the text frames, in order
        sockets.received_holding("hi")   # did a frame holding this text reach the page's socket?
    """

    def __init__(self, page):
        self.page = page
        self.sockets: dict[str, dict] = {}
        self.frames_sent: list[str] = []
        self.frames_received: list[str] = []
        session = page.context.new_cdp_session(page)
        session.on("Network.webSocketCreated", self._created)
        session.on("Network.webSocketHandshakeResponseReceived", self._answered)
        session.on("Network.webSocketFrameSent", lambda event: self._frame(event, self.frames_sent))
        session.on("Network.webSocketFrameReceived", lambda event: self._frame(event, self.frames_received))
        session.on("Network.webSocketClosed", self._closed)
        session.on("Network.webSocketFrameError", self._closed)
        session.send("Network.enable")

    def _created(self, event: dict) -> None:
        if len(self.sockets) < MAX_SOCKETS:
            self.sockets[event["requestId"]] = {"url": str(event.get("url", ""))[:2000], "status": None,
                                                "closed": False}

    def _answered(self, event: dict) -> None:
        socket = self.sockets.get(event.get("requestId"))
        if socket is not None:
            socket["status"] = (event.get("response") or {}).get("status")

    def _closed(self, event: dict) -> None:
        socket = self.sockets.get(event.get("requestId"))
        if socket is not None:
            socket["closed"] = True

    def _frame(self, event: dict, frames: list[str]) -> None:
        if event.get("requestId") not in self.sockets or len(frames) >= MAX_FRAMES:
            return
        response = event.get("response") or {}
        frames.append(str(response.get("payloadData", ""))[:MAX_FRAME] if response.get("opcode") == 1
                      else "[binary data]")

    def urls(self) -> list[str]:
        return [socket["url"] for socket in self.sockets.values()]

    def open(self) -> bool:
        return any(socket["status"] == 101 and not socket["closed"] for socket in self.sockets.values())

    def sent(self) -> list[str]:
        return list(self.frames_sent)

    def received(self) -> list[str]:
        return list(self.frames_received)

    def received_holding(self, text: str) -> bool:
        return any(holds(frame, text) for frame in self.frames_received)


def holds(frame: str, text: str) -> bool:
    """Does a frame carry text: in its raw form, or in any string of its JSON (where quotes come escaped)?"""
    import json

    if text in frame:
        return True
    try:
        data = json.loads(frame)
    except ValueError:
        return False
    values = list(data.values()) if isinstance(data, dict) else data if isinstance(data, list) else [data]
    return any(isinstance(value, str) and text in value for value in values)


def host_of(url: str) -> str:
    """The host:port a URL names (urlsplit's netloc)."""
    try:
        return urlsplit(url).netloc
    except ValueError:
        return ""


def on_host(url: str, host: str) -> str:
    """The same URL with its host name replaced (its port kept): a page served as localhost as well."""
    parts = urlsplit(url)
    return parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host).geturl()


def shown_text(page, selector: str) -> str | None:
    """What the first element matching a CSS id/class selector shows: a form field's value, else its rendered
    text. Read by Playwright in its isolated world; None when there is no such element."""
    from playwright.sync_api import Error

    try:
        element = page.locator(selector).first
        if element.count() == 0:
            return None
        field = page.locator(f"textarea{selector}, input{selector}").first
        if field.count():
            return field.input_value(timeout=5000)
        return element.inner_text(timeout=5000)
    except Error:   # the page navigated or closed meanwhile: it shows nothing we can read
        return None


def shown_lines(page, selector: str = "#chat-log") -> list[str]:
    """The non-empty lines an element shows (a line may carry more than a message: an author, a time)."""
    return [line.strip() for line in (shown_text(page, selector) or "").split("\n") if line.strip()]


def wait_until(page, condition, timeout: float, step: float = 0.1) -> bool:
    """Poll a condition the checker judges (events, DOM reads) for up to timeout seconds, letting Playwright
    deliver the browser's events between polls. True as soon as it holds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        page.wait_for_timeout(step * 1000)
