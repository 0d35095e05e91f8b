"""A headless Chromium for the browser checks: Playwright's own build, else a system Chromium.

    from kit import browser

    browser.why_unavailable()       # None when a browser can start, else one plain sentence
    with browser.chromium() as b:   # a playwright.sync_api.Browser: headless, fresh profile
        page = b.new_page()
        page.goto(server.url + "/chat/lobby/")

    browser.require()               # first line of a browser checkpoint (see below)

Discovery: Playwright's own Chromium when it is installed
(`playwright install chromium`), else the first of chromium, chromium-browser,
google-chrome, google-chrome-stable on PATH, else KIT_BROWSER if it names an
executable. `require()` skips the calling test with the reason when there is no
browser (the grader counts a skipped check as "not graded", never as a pass),
and fails it instead under KIT_REQUIRE_BROWSER=1, as CI sets.

Every launch gets a fresh temporary profile (Playwright makes one per launch and
deletes it on close) and the flags a closed network needs, so Chromium never
tries to phone home. The browser is a child of Playwright's driver, which is a
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
def chromium(*, slow_mo: float = 0):
    """A headless playwright.sync_api.Browser, closed (with its driver) on exit."""
    from playwright.sync_api import sync_playwright

    executable = find()
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=executable, headless=True, args=list(FLAGS),
                                        timeout=LAUNCH_TIMEOUT_MS, slow_mo=slow_mo)
        except Exception as exc:
            raise BrowserUnavailable(
                f"Chromium ({executable or 'Playwright’s own'}) did not start: "
                f"{str(exc).strip().splitlines()[0]}") from exc
        try:
            yield browser
        finally:
            browser.close()
