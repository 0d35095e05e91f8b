"""A headless Chromium for the browser checks: Playwright's own build, else a system Chromium.

    from kit.services import browser

    browser.why_unavailable()       # None when a browser can start, else one plain sentence
    with browser.chromium() as b:   # a playwright.sync_api.Browser: headless, fresh profile
        page = b.new_page()
        page.goto(server.url + "/chat/lobby/")

    browser.require()               # first line of a browser checkpoint (see below)

What a page did (its errors, its sockets, what it shows) is kit/services/page.py.

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
Chromium as the learner user (kit/isolation/learner.py), in Chromium's own sandbox. The browser is a child of Playwright's driver, which is a
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
from urllib.parse import urlsplit

from kit.services.page import host_of, on_host

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
# (kit/isolation/learner.py), drops to that user and executes the real Chromium, which then runs its own sandbox.
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

    from kit.isolation import learner

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
