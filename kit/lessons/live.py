"""A lesson's live pieces: one background daphne per tree (serve, stop), and `websockets` clients in cells
(open_client, inbox, show_received) whose failures are explained from daphne's log.

    from kit.notebook import serve, stop
    server = serve()                   # re-running the cell reuses the running server
"""
from __future__ import annotations

import asyncio
import atexit
import json
from pathlib import Path

from kit.course import i18n
from kit.course.i18n import T, _
from kit.course.project import validate
from kit.lessons.notebook import LessonError, active_tree
from kit.lessons.speaking import HISTORY_MARK, said_in_lesson_language

_servers: dict[Path, "object"] = {}


# -- a background daphne ---------------------------------------------------------
def serve(project=None, *, restart: bool = False, **options):
    """The background daphne for this project: started once, reused when the cell runs again."""
    from kit.services.server import DaphneServer, ServerError

    root = active_tree(project)
    server = _servers.get(root)
    if server is not None and server.running and not restart:
        print(T("daphne is already running at {url}/chat/ (serve(restart=True) after editing files)",
                url=server.url).translate())
        return server
    # A restart keeps the port: the chat pages already open in the browser reconnect to the same address.
    keep = {"port": server.port} if server is not None and server.port and "port" not in options else {}
    if server is not None:
        server.stop()
    try:
        try:
            server = DaphneServer(root, **options, **keep).start()
        except ServerError:
            if not keep:
                raise
            server = DaphneServer(root, **options).start()   # the old port was taken meanwhile: a free one
    except ServerError as exc:
        raise LessonError(T("daphne did not start: {error}", error=i18n.translated(str(exc))).translate()) from None
    _servers[root] = server
    # the same sentence as `kit serve`'s, so it has one translation
    print(T("daphne is serving {project} at {url}/chat/ (ready in {seconds:.1f} s)", project=f"{root.name}/",
            url=server.url, seconds=server.started_in).translate())
    return server


def stop(project=None) -> None:
    """Stop the background daphne (all of them when no project is named)."""
    roots = [validate(project)] if project else list(_servers)
    for root in roots:
        server = _servers.pop(root, None)
        if server is not None:
            server.stop()
            print(T("daphne for {project} stopped", project=f"{root.name}/").translate())


atexit.register(stop)


# -- WebSocket clients in cells ---------------------------------------------------
async def open_client(server, room: str):
    """A `websockets` client in one room of the running daphne, sending a page's Origin as a browser does.

    The same as `await websockets.asyncio.client.connect(server.ws_url(room), origin=server.origin)`,
    but a refused handshake is explained from daphne's log instead of shown as a traceback.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    try:
        ws = await connect(server.ws_url(room), origin=server.origin, open_timeout=10)
    except InvalidStatus as exc:
        clue = _server_clue(server)
        raise LessonError(T("daphne refused the socket for room {room} with HTTP {status}. {clue}Stages 1 to 4 "
                            "should pass first: check('settings', 'asgi', 'consumer', 'routing').",
                            room=repr(room), status=exc.response.status_code,
                            clue=clue + " " if clue else "").translate()) from None
    except (OSError, asyncio.TimeoutError, TimeoutError) as exc:
        raise LessonError(T("Could not reach daphne at {url}: {error}. Is it running? Run serve() again.",
                            url=server.url, error=str(exc) or type(exc).__name__).translate()) from None
    _client_servers[id(ws)] = server   # inbox() then explains a crash from this server's log
    return ws


_client_servers: dict[int, object] = {}


def _server_clue(server) -> str:
    """daphne's first error, said as the checkpoints say it (kit/grading/explain.py): place in the tree, likely cause."""
    from kit.grading.explain import Places

    try:
        log = server.log_text()
        clue = Places(server.project).server_clue(log)
    except Exception:  # noqa: BLE001 - a clue is a help, never a second failure
        return ""
    if clue:
        return clue.translate() if isinstance(clue, T) else clue
    last = _last_error(log)
    return T("daphne's log says: {error}.", error=last).translate() if last else ""


def _last_error(log: str) -> str:
    """The last exception line in daphne's log ('ValueError: No route found ...'), or ''."""
    lines = [line.strip() for line in log.splitlines()]
    errors = [line for line in lines if line and not line.startswith(("File ", "Traceback", "^"))
              and ("Error" in line.split(":")[0] or "Exception" in line.split(":")[0])]
    return errors[-1].rstrip(".") if errors else ""


async def inbox(ws, *, quiet: float = 0.5, limit: float = 10.0) -> list[str]:
    """The messages that reach one client until it has been quiet for `quiet` seconds.

    Good for showing what arrived; checkpoints prove "nothing arrived" by message order instead.
    """
    from websockets.exceptions import ConnectionClosed

    got: list[str] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while loop.time() < deadline:
        try:
            frame = await asyncio.wait_for(ws.recv(), quiet)
        except (asyncio.TimeoutError, TimeoutError):
            break
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            got.append(_("(closed by the server, code {code})").format(code=code if code is not None else 'none'))
            server = _client_servers.get(id(ws))
            if code == 1011 and server is not None:  # 1011: the consumer crashed; say why, as a checkpoint does
                clue = _server_clue(server)
                if clue:
                    got.append(clue)
            break
        got.append(_message_of(frame))
    return got


def _message_of(frame) -> str:
    try:
        data = json.loads(frame)
    except (TypeError, ValueError):
        return repr(frame)
    return data["message"] if isinstance(data, dict) and "message" in data else frame


def show_received(received: dict[str, list[str]], rooms: dict[str, str] | None = None,
                  title: str = i18n.N_("Who received what")) -> None:
    """A small table: one row per client, the messages it received in order (headings in the lesson's language)."""
    from rich.console import Console
    from rich.table import Table

    grid = Table(title=_(title))
    grid.add_column(_("client"), style="bold")
    if rooms:
        grid.add_column(_("room"))
    grid.add_column(_("received, in order"))
    from rich.markup import escape

    from kit.grading.report import as_data

    def data(text) -> str:   # what a learner's server sent: shown as text, never as markup or escapes
        text = str(text)
        if text.endswith(HISTORY_MARK):   # a lesson's own marker, not the server's words
            return escape(as_data(text[:-len(HISTORY_MARK)])) + "   " + escape(_("(history)"))
        return escape(as_data(text))

    for name, messages in received.items():
        shown = "\n".join(data(m) for m in messages) if messages else "[dim]" + _("(nothing)") + "[/dim]"
        # a client's name is the lesson's label ("bob, after a restart"): said in the lesson's language
        grid.add_row(data(said_in_lesson_language(name)), *([data(rooms.get(name, ""))] if rooms else []), shown)
    Console().print(grid)
