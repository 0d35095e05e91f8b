"""Checkpoint `asgi`: myproject/asgi.py routes HTTP to Django and WebSockets through auth to a URLRouter.

Observed on a real daphne serving the tree's own myproject.asgi:application in
the tree's sandbox (kit/daphne_app.py), with the checker's own clients through
its forwarder: a page over HTTP, and a WebSocket to the kit's probe route,
which goes first in every URLRouter the learner's code builds (so this stage
does not wait for the routing stage's route). The probe joins a group on the
checker's Redis named for the token its path carried (URLRouter's kwargs) and
the user the session cookie logged in (AuthMiddlewareStack): the checker reads
that group there itself and sends a word of its own to it, which must come out
of its socket. The user is made for this run, so no code knows the name before
the cookie tells it. The app's shape (router keys, wrappers), asked of the
host, only explains a failure.
"""
import asyncio
import json
import secrets
import time
import urllib.error
import urllib.request

import pytest

from kit.daphne_app import PROBE_GROUP
from kit.i18n import T, recall
from kit.server import ServerError
from support import (WAIT, Layer, LearnerCodeError, LiveSocket, checker_redis, fail, host, layer_daphne,
                     login, run, server_clue, stop_daphne)

TOKEN = secrets.token_hex(6)
USER = f"kit-{secrets.token_hex(4)}"   # made for this run: only the session cookie names it
WORD = secrets.token_hex(8)            # what the checker sends to the probe's group
_served: list = []
_probed: list = []


@pytest.fixture(scope="module", autouse=True)
def daphne_stops_with_the_module():
    yield
    if _served and not isinstance(_served[0], str):
        stop_daphne(_served[0])


def served():
    """The module's daphne, started at the first check that needs it; a plain failure when it cannot start."""
    if not _served:
        server = layer_daphne(probe=True)
        try:
            _served.append(server.start())
        except ServerError as exc:
            clue = server_clue(server)
            _served.append(T("daphne could not serve myproject.asgi:application. {clue}", clue=clue) if clue else
                           T("daphne could not serve myproject.asgi:application: {error}",
                             error=str(exc).splitlines()[0]))
    if isinstance(_served[0], str):
        fail(_served[0])
    return _served[0]


def asgi():
    """The app's shape, as the host reports it: type, router keys, websocket wrappers from outside in."""
    return host().call("asgi", doing=T("Loading myproject/asgi.py"), limit=20)


def chain_text(info) -> str:
    return " > ".join(info["chain"]) or T("nothing")


def article(name: str) -> str:
    return T("an {name}", name=name) if name[:1].lower() in "aeiou" else T("a {name}", name=name)


def shape_problem() -> str | None:
    """What the app's shape lacks for sockets, in the learner's terms (asked: it only explains)."""
    info = asgi()
    if not info["router"]:
        return T("myproject.asgi.application is {kind}, not a ProtocolTypeRouter: wrap it as "
                 "ProtocolTypeRouter({{'http': ..., 'websocket': ...}}).", kind=article(info['type']))
    if "websocket" not in info["keys"]:
        return T("The ProtocolTypeRouter has no 'websocket' key.")
    return None


def no_url_router() -> str:
    return T("The websocket app is {chain}: route sockets with URLRouter(websocket_urlpatterns).",
             chain=chain_text(asgi()))


async def probe_group(layer: Layer) -> str | None:
    """The probe's group on the checker's Redis, once it holds a channel (waited for)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for name, members in (await layer.groups()).items():
            if name.startswith(PROBE_GROUP + ".") and members:
                return name
        await asyncio.sleep(0.05)
    return None


def probe() -> dict:
    """What the probe showed, observed once: its group's name on the checker's Redis, and whether a word the
    checker sent to that group came out of the socket; or why no socket got through."""
    if not _probed:
        server = served()
        session = login(USER, required=False)

        async def scenario():
            async with Layer(checker_redis()) as layer:
                sock = LiveSocket(server, "probe", user=USER, path=f"/ws/kit-probe/{TOKEN}/")
                await sock.connect()
                group = await probe_group(layer)
                delivered = False
                if group is not None:
                    await layer.layer.group_send(group, {"type": "kit.probe", "text": json.dumps({"message": WORD})})
                    got = await sock.receive(T("a message sent to the probe's group"))
                    delivered = got.get("message") == WORD
                await sock.close()
                return group, delivered

        try:
            group, delivered = run(scenario)
        except LearnerCodeError as exc:
            _probed.append({"failure": shape_problem() or recall(str(exc))})
            return _probed[0]
        _, token, user = (group or "..").split(".", 2)
        _probed.append({"group": group, "delivered": delivered, "token": token, "user": user, "session": session})
    return _probed[0]


def reached_probe() -> dict:
    """The probe, reached through the learner's app: its group holds the socket and delivered the checker's word."""
    found = probe()
    if "failure" in found:
        fail(found["failure"])
    if found["group"] is None:
        fail(shape_problem() or no_url_router())
    if not found["delivered"]:
        fail(T("The kit's probe route was reached, but a message sent to its group on the channel layer never "
               "came out of the socket: does something around URLRouter drop what the app sends?"))
    return found


def test_asgi_imports():
    served()   # observed: daphne imported the application and listens


def test_protocol_type_router():
    reached_probe()  # observed: a socket through the application reaches the kit's route


def test_http_still_served():
    server = served()
    try:
        with urllib.request.urlopen(server.url + "/chat/", timeout=4 * WAIT) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        fail(T("GET /chat/ through the ASGI app got no answer: {error}. {clue}", error=str(exc),
               clue=server_clue(server)))
    assert status == 200, T("GET /chat/ through the ASGI app answered {status}, not 200. {clue}", status=status,
                            clue=server_clue(server))


def test_websocket_goes_through_auth():
    found = reached_probe()
    if not found["session"]:   # without a log-in, "anonymous" would pass for a middleware nobody wrote
        fail(T("The kit could not log a user in on your project, so what the WebSocket app makes of a session "
               "cannot be checked: keep django.contrib.auth and django.contrib.sessions in INSTALLED_APPS and "
               "SessionMiddleware in MIDDLEWARE, as Django's project template has them."))
    if found["user"] in ("no-user", "") or found["user"] != USER:
        raise LearnerCodeError(T(
            "The websocket app is {chain}: wrap it in AuthMiddlewareStack(...) so consumers see "
            "scope['user'].", chain=chain_text(asgi())))


def test_websocket_ends_in_url_router():
    if reached_probe()["token"] != TOKEN:
        raise LearnerCodeError(no_url_router())
