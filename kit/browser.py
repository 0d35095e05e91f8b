"""A headless Chromium for the browser checks: Playwright's own build, else a system Chromium.

    from kit import browser

    browser.why_unavailable()       # None when a browser can start, else one plain sentence
    with browser.chromium() as b:   # a playwright.sync_api.Browser: headless, fresh profile
        page = b.new_page()
        page.goto(server.url + "/chat/lobby/")

    browser.require()               # first line of a browser checkpoint (see below)

    sockets = browser.PageSockets(page)     # before goto: the page's WebSockets as Chromium reports them
    browser.shown_lines(page, "#chat-log")  # what an element shows, read in Playwright's isolated world

A check judges a page only by what the browser reports of it (DESIGN.md, "Trust"): never by an
object the page's own scripts can write, nor by code evaluated in the page's main world, whose
functions the page can redefine.

Discovery: Playwright's own Chromium when it is installed
(`playwright install chromium`), else the first of chromium, chromium-browser,
google-chrome, google-chrome-stable on PATH, else KIT_BROWSER if it names an
executable. `require()` skips the calling test with the reason when there is no
browser (the grader counts a skipped check as "not graded", never as a pass),
and fails it instead under KIT_REQUIRE_BROWSER=1, as CI sets.

Every launch gets a fresh temporary profile (Playwright makes one per launch and
deletes it on close) and the flags a closed network needs, so Chromium never
tries to phone home. A check that shows a learner's page passes `only=server`:
its pages then reach that server alone (see Confined). A root grader runs
Chromium as the learner user (kit/learner.py), in Chromium's own sandbox. The browser is a child of Playwright's driver, which is a
child of this process: closing the context manager, or this process dying,
ends both. Playwright's sync API refuses to run inside a running asyncio loop
(a notebook kernel): use it from pytest, a script or a thread there.
"""
from __future__ import annotations

import contextlib
import functools
import os
import shutil
from pathlib import Path

FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",  # containers often have a tiny /dev/shm; Chromium then crashes tabs
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",  # no UDP of a page's own past the proxy
)
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LAUNCH_TIMEOUT_MS = 60_000  # a cold Chromium on a busy 2-core machine can take several seconds


class BrowserUnavailable(RuntimeError):
    """No Chromium can be started; the message says what to install."""


def _playwright_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("the playwright package is not installed: run `make lab` (or `pip install -e .`) "
                "to install the kit's dependencies")
    return None


@functools.lru_cache(maxsize=1)
def _playwright_own_chromium() -> str | None:
    """The path of Playwright's downloaded Chromium, when that download exists."""
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:
        return None
    return path if path and Path(path).is_file() else None


def system_chromium() -> str | None:
    """A Chromium on PATH, or the executable KIT_BROWSER names."""
    for name in SYSTEM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    named = os.environ.get("KIT_BROWSER")
    if named and shutil.which(named):
        return shutil.which(named)
    return None


def find() -> str | None:
    """The executable to launch: None means Playwright's own Chromium. Raises BrowserUnavailable."""
    missing = _playwright_missing()
    if missing:
        raise BrowserUnavailable(f"No browser for the browser checks: {missing}.")
    if _playwright_own_chromium():
        return None
    system = system_chromium()
    if system:
        return system
    raise BrowserUnavailable(
        "No browser for the browser checks: install Playwright's Chromium "
        "(`.venv/bin/playwright install chromium`) or a system Chromium (Debian/Ubuntu: "
        "`apt-get install chromium`), or set KIT_BROWSER to a Chromium executable.")


def why_unavailable() -> str | None:
    """None when a browser can be launched; otherwise the reason, in one sentence."""
    try:
        find()
    except BrowserUnavailable as exc:
        return str(exc)
    return None


def required() -> bool:
    """True under KIT_REQUIRE_BROWSER=1: a missing browser is then a failure, not a skip."""
    return os.environ.get("KIT_REQUIRE_BROWSER", "") not in ("", "0")


def require() -> None:
    """For a pytest check: skip with the reason when no browser exists, or fail under KIT_REQUIRE_BROWSER=1."""
    import pytest

    reason = why_unavailable()
    if reason is None:
        return
    if required():
        pytest.fail(f"{reason} (KIT_REQUIRE_BROWSER=1: browser checks must run here)", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def chromium(*, slow_mo: float = 0, only=None):
    """A headless playwright.sync_api.Browser, closed (with its driver) on exit.

    only: a server (anything with a .url) or a URL. Its pages may then reach that origin alone (see Confined):
    what a check passes when the page is the learner's."""
    from playwright.sync_api import sync_playwright

    executable = find()
    with sync_playwright() as p, _dead_end() as dead, _as_learner(executable or p.chromium.executable_path) as own:
        try:
            browser = None
            if own:   # as the learner user, in Chromium's own sandbox; without it (no user namespaces) still so
                with contextlib.suppress(Exception):
                    browser = p.chromium.launch(executable_path=own, headless=True, chromium_sandbox=True,
                                                args=[flag for flag in FLAGS if flag != "--no-sandbox"],
                                                timeout=LAUNCH_TIMEOUT_MS, slow_mo=slow_mo)
            if browser is None:
                browser = p.chromium.launch(executable_path=own or executable, headless=True, args=list(FLAGS),
                                            timeout=LAUNCH_TIMEOUT_MS, slow_mo=slow_mo)
        except Exception as exc:
            raise BrowserUnavailable(
                f"Chromium ({executable or 'Playwright’s own'}) did not start: "
                f"{str(exc).strip().splitlines()[0]}") from exc
        try:
            yield browser if only is None else Confined(browser, only, dead)
        finally:
            browser.close()


# -- where a learner's page may go: its own server, nowhere else ---------------------------------
# The grader's Chromium runs on the grading machine, outside the sandbox that holds learner Python: a
# page's script could fetch any 127.0.0.1 service (a CORS-enabled answer is read back) or dial its
# WebSockets. Every context of a confined browser sends everything through a proxy that refuses all
# connections, bypassed for the server's own host:port only (WebSockets included: Playwright's routes
# never see them, and its route_web_socket would replace the page's WebSocket with its own, which
# Chromium then no longer reports over CDP). Routes abort any other request before it leaves as well.
class Confined:
    """A Browser whose contexts reach only the server's origin (as 127.0.0.1 and as localhost, same port)."""

    def __init__(self, browser, only, dead: str):
        self._browser, self._only, self._dead = browser, only, dead

    def origins(self) -> set[tuple[str, str]]:
        url = getattr(self._only, "url", self._only)
        return {(urlsplit(url).scheme, host_of(url)), (urlsplit(url).scheme, host_of(on_host(url, "localhost")))}

    def allows(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        return (parts.scheme, parts.netloc) in self.origins()

    def new_context(self, **options):
        hosts = sorted({host for _, host in self.origins()})
        # "<-loopback>" first: Chromium otherwise never proxies 127.0.0.1/localhost, whatever the list says.
        options["proxy"] = {"server": self._dead, "bypass": ",".join(["<-loopback>", *hosts])}
        options.setdefault("service_workers", "block")   # a worker's fetches would not pass the routes
        context = self._browser.new_context(**options)
        context.route("**/*", self._route)
        return context

    def new_page(self, **options):
        return self.new_context(**options).new_page()

    def _route(self, route) -> None:
        if self.allows(route.request.url):
            route.fallback()
        else:
            route.abort("blockedbyclient")

    def __getattr__(self, name):
        return getattr(self._browser, name)


# -- who renders a learner's page: never root -------------------------------------------------------
# A root grader (CI, Classroom) would render learner HTML in a root renderer with --no-sandbox. Instead
# Chromium is started through a wrapper that hands Playwright's fresh profile to the learner user
# (kit/learner.py), drops to that user and executes the real Chromium, which then runs its own sandbox.
WRAPPER = """import os, sys
uid, gid, real = {uid}, {gid}, {real!r}
args = sys.argv[1:]
profile = next((a.split("=", 1)[1] for a in args if a.startswith("--user-data-dir=")), None)
if profile:
    for folder, _, files, fd in os.fwalk(profile, follow_symlinks=False):
        os.chown(fd, uid, gid)
        for name in files:
            os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
    os.environ["HOME"] = profile
os.environ.pop("XDG_CONFIG_HOME", None)
os.environ.pop("XDG_CACHE_HOME", None)
os.setgroups([])
os.setgid(gid)
os.setuid(uid)
os.execv(real, [real, *args])
"""


@contextlib.contextmanager
def _as_learner(executable: str | None):
    """The wrapper to launch as root (None when not root, or no executable is known)."""
    import sys
    import tempfile

    from . import learner

    who = learner.account()
    if who is None or not executable:
        yield None
        return
    real = shutil.which(executable) or executable
    learner.reach(Path(real).resolve().parent)
    learner.reach(Path(tempfile.gettempdir()))       # where Playwright makes the profile
    folder = tempfile.mkdtemp(prefix="kit-chromium-")
    try:
        wrapper = Path(folder) / "chromium"
        wrapper.write_text(f"#!{sys.executable} -I\n" + WRAPPER.format(uid=who.uid, gid=who.gid, real=real))
        wrapper.chmod(0o700)
        yield str(wrapper)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _dead_end():
    """A proxy address that refuses every connection: a 127.0.0.1 port this process holds and never listens on
    (no one else can take it while the browser lives)."""
    import socket

    held = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"
    finally:
        held.close()


# -- what a page's own scripts did wrong -------------------------------------------------
# Observed through the browser (Playwright's pageerror and console events, which come
# from Chromium over CDP), never asked of the page: a page cannot write these.
import re  # noqa: E402
import time  # noqa: E402

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
        blocking, bounded (kit.project.read_inside). No root given: walked from the file system's root."""
        from .nofollow import read_text_inside

        path = Path(self.template[1]).absolute()
        root = Path(self.root).absolute() if self.root is not None else Path(path.anchor)
        try:
            relative = path.relative_to(root)
        except ValueError:
            return None
        return read_text_inside(root, str(relative), limit=MAX_TEMPLATE)

    def place(self, entry: dict) -> str:
        from .i18n import T

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
        from .i18n import T, join

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
from urllib.parse import urlsplit  # noqa: E402

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
