"""Questions about the tree, and the checks' own HTTP client for the apps the host serves."""
from __future__ import annotations

import asyncio
from urllib.parse import quote

from kit.course.i18n import T

from .base import fail, LINE_LIMIT, WAIT
from .host import _with_limit, host


def django_setup() -> None:
    host().call("setup", doing=T("Loading myproject/settings.py"), limit=WAIT * 4)


def setting_values(*names: str) -> dict:
    """The named settings that exist, as data."""
    return host().call("settings", names=list(names), doing=T("Reading the settings"), limit=WAIT * 4)["values"]


class App:
    """An ASGI app the host serves on its listening socket; the checks' clients name it by X-Kit-App."""

    def __init__(self, kind: str, doing: str = T("Loading your project")):
        self.host = host()
        self.kind = kind
        self.number = self.host.call("app", kind=kind, doing=doing, limit=WAIT * 4)["app"]


def project_app() -> App:
    """The learner's myproject.asgi.application."""
    return App("project")


def consumer_app(any_room: bool = False) -> App:
    """The learner's ChatConsumer behind a router of the kit's (ws/chat/<room_name>/)."""
    return App("any-room" if any_room else "consumer")


def layer_app() -> App:
    """The kit's broadcaster over the default channel layer exactly as the settings make it."""
    return App("layer", T("Trying the default channel layer"))


_numbers = iter(range(1, 1 << 30))   # names each connection to the host (X-Kit-Socket), to ask how it crashed


def get_page(app: App, path: str, *, doing: str, headers: dict | None = None) -> tuple[int, str]:
    """GET path from app over the host's socket, as a browser would: (status, body as text).

    A crash is explained by the host; a body is read up to LINE_LIMIT bytes."""
    return asyncio.run(_with_limit(lambda: _get(app, path, doing, headers or {}), 4 * WAIT))


async def _get(app: App, path: str, doing: str, headers: dict) -> tuple[int, str]:
    number = next(_numbers)
    lines = [f"GET {quote(path, safe='/?=&')} HTTP/1.1", "Host: 127.0.0.1", f"X-Kit-App: {app.number}",
             f"X-Kit-Socket: {number}", "Connection: close", *(f"{k}: {v}" for k, v in headers.items())]
    data = b""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(app.host.address), WAIT)
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        while len(data) <= LINE_LIMIT and (chunk := await asyncio.wait_for(reader.read(1 << 16), 2 * WAIT)):
            data += chunk
        writer.close()
    except (OSError, asyncio.TimeoutError, TimeoutError):
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[1].isdigit():
        fail(app.host.why(number, doing) or T("GET {path} got no HTTP answer in {wait:.0f} s.", path=path,
                                              wait=2 * WAIT))
    if int(status[1]) >= 500:
        why = app.host.why(number, doing)
        if why:
            fail(why)
    return int(status[1]), body[:LINE_LIMIT].decode("utf-8", errors="replace")
