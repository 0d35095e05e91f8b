"""Checkpoint `asgi`: myproject/asgi.py routes HTTP to Django and WebSockets through auth to a URLRouter.

Observed on a real daphne serving the tree's own myproject.asgi:application in
the tree's sandbox (kit/services/daphne_app.py), with the checker's own clients through
its forwarder: a page over HTTP, and a WebSocket to the kit's probe route,
which goes first in every URLRouter the learner's code builds (so this stage
does not wait for the routing stage's route). The probe joins a group on the
checker's Redis named for the token its path carried (URLRouter's kwargs) and
the user the session cookie logged in (AuthMiddlewareStack): the checker reads
that group there itself and sends a word of its own to it, which must come out
of its socket. The kit logs four users in itself (kit/grading/sessions.py: rows written
by the kit's own process, never by the learner's), made for this run in a random
order, and opens a probe socket with each one's cookie, in another random order:
each probe's group must name its own cookie's user, so an app learns who is
there only from the cookie, through the session. The app's shape (router keys,
wrappers), asked of the host, only explains a failure.
"""
import asyncio
import json
import random
import secrets
import time
import urllib.error
import urllib.request

import pytest

from kit.services import daphne_app
from kit.services.daphne_app import PROBE_GROUP
from kit.course.i18n import T, recall
from kit.services.server import ServerError
from support import (WAIT, Layer, LearnerCodeError, LiveSocket, checker_redis, fail, host, layer_daphne,
                     log_in_users, run, server_clue, stop_daphne)

TOKEN = secrets.token_hex(6)
USER = f"kit-{secrets.token_hex(4)}"   # made for this run: only the session cookie names it
OTHERS = {f"kit-{secrets.token_hex(4)}": secrets.token_hex(6) for _ in range(3)}   # more users: name -> token
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


async def new_probe_group(layer: Layer, seen: set) -> str | None:
    """A probe group on the checker's Redis not in seen, once it holds a channel (waited for)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for name, members in (await layer.groups()).items():
            if name.startswith(PROBE_GROUP + ".") and members and name not in seen:
                return name
        await asyncio.sleep(0.05)
    return None


class CookieSocket(LiveSocket):
    """A client carrying the session cookie the kit made (or none, when no log-in worked)."""

    def __init__(self, server, session: dict | None, *, path: str):
        super().__init__(server, "probe", user=None, path=path)
        self.session = session

    def headers(self) -> dict:
        return {"Cookie": f"{self.session['name']}={self.session['value']}"} if self.session else {}


def probe() -> dict:
    """What the probes showed, observed once: each one's group on the checker's Redis, and whether a word the
    checker sent to USER's group came out of its socket; or why no socket got through."""
    if not _probed:
        server = served()
        users = [USER, *OTHERS]
        random.shuffle(users)   # made in a random order: the newest user is nobody in particular
        try:
            sessions = log_in_users({name: "" for name in users})
        except LearnerCodeError:
            sessions = {}
        tokens = {USER: TOKEN, **OTHERS}
        random.shuffle(users)   # and connected in another

        async def scenario():
            groups, delivered, sockets = {}, False, []
            async with Layer(checker_redis()) as layer:
                for name in users:
                    sock = CookieSocket(server, sessions.get(name), path=f"/ws/kit-probe/{tokens[name]}/")
                    await sock.connect()
                    sockets.append(sock)
                    groups[name] = await new_probe_group(layer, set(groups.values()))
                    if groups[name] is None:
                        break
                if groups.get(USER) is not None:
                    await layer.layer.group_send(groups[USER], {"type": "kit.probe",
                                                                "text": json.dumps({"message": WORD})})
                    got = await sockets[users.index(USER)].receive(T("a message sent to the probe's group"))
                    delivered = got.get("message") == WORD
                for sock in sockets:
                    await sock.close()
            return groups, delivered

        try:
            groups, delivered = run(scenario)
        except LearnerCodeError as exc:
            _probed.append({"failure": shape_problem() or recall(str(exc))})
            return _probed[0]
        group = groups.get(USER)
        _, token, user = (group or "..").split(".", 2)
        strangers = {name: found for name, found in groups.items()
                     if name != USER and found != daphne_app.probe_group(tokens[name], name)}
        _probed.append({"group": group, "delivered": delivered, "token": token, "user": user,
                        "session": bool(sessions), "strangers": strangers})
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
    if found["strangers"]:   # observed: each socket's user came from its own cookie, through its session
        raise LearnerCodeError(T(
            "Sockets with {count} users' session cookies reached the kit's probe, but not every one was seen as "
            "its own cookie's user: the websocket app must take each socket's user from its session cookie "
            "(AuthMiddlewareStack(...)).", count=1 + len(OTHERS)))


def test_websocket_ends_in_url_router():
    if reached_probe()["token"] != TOKEN:
        raise LearnerCodeError(no_url_router())
