"""Checkpoint `asgi`: myproject/asgi.py routes HTTP to Django and WebSockets through auth to a URLRouter.

Observed with the checks' own clients on the host's socket: a page of the
learner's application over HTTP, and a WebSocket through it to the kit's probe
route, which the host puts first in the learner's websocket_urlpatterns (so
this stage does not wait for the routing stage's route): the probe answers
with the token its path carried (the URLRouter passed it on) and who the
session cookie logged in (AuthMiddlewareStack ran). The app's shape (router
keys, wrappers), asked of the host, only explains a failure.
"""
import json
import secrets

from kit.i18n import T, recall
from support import LEARNER, LearnerCodeError, Socket, get_page, host, login, probe_app, project_app, run

TOKEN = secrets.token_hex(6)
_probed: list = []


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


def probe() -> dict:
    """The probe's frame, observed once: a socket through the learner's app to ws/kit-probe/<token>/."""
    if not _probed:
        session = login(required=False)
        app = probe_app()

        async def scenario():
            sock = Socket(app, "probe", path=f"/ws/kit-probe/{TOKEN}/")
            await sock.connect()
            output = await sock.receive_output(T("the kit's probe answer"))
            await sock.close()
            return output

        try:
            output = run(scenario)
        except LearnerCodeError as exc:
            _probed.append({"failure": shape_problem() or recall(str(exc))})
            return _probed[0]
        try:
            frame = json.loads(output["text"]) if output and output.get("text") else {}
        except ValueError:
            frame = {}
        _probed.append({"frame": frame if isinstance(frame, dict) else {}, "session": session})
    return _probed[0]


def reached_probe() -> dict:
    found = probe()
    if "failure" in found:
        raise LearnerCodeError(found["failure"])
    return found


def test_asgi_imports():
    asgi()


def test_protocol_type_router():
    info = asgi()
    assert info["router"], T("myproject.asgi.application is {kind}, not a ProtocolTypeRouter.",
                             kind=article(info['type']))
    missing = sorted({"http", "websocket"} - set(info["keys"]))
    assert not missing, (T("The ProtocolTypeRouter has no {key} key.", key=missing[0]) if len(missing) == 1 else
                         T("The ProtocolTypeRouter has no {key} and no {other} key.", key=missing[0], other=missing[1]))
    reached_probe()  # observed: a socket through the application reaches the kit's route


def test_http_still_served():
    status, _ = get_page(project_app(), "/chat/", doing=T("Getting /chat/ through the ASGI app"))
    assert status == 200, T("GET /chat/ through the ASGI app answered {status}, not 200.", status=status)


def test_websocket_goes_through_auth():
    found = reached_probe()
    frame, session = found["frame"], found["session"]
    through_auth = frame.get("has_user") is True and (session is None or frame.get("user") == LEARNER)
    if not through_auth:
        info = asgi()
        raise LearnerCodeError(T(
            "The websocket app is {chain}: wrap it in AuthMiddlewareStack(...) so consumers see "
            "scope['user'].", chain=chain_text(info)))


def test_websocket_ends_in_url_router():
    frame = reached_probe()["frame"]
    if frame.get("token") != TOKEN:
        raise LearnerCodeError(T(
            "The websocket app is {chain}: route sockets with URLRouter(websocket_urlpatterns).",
            chain=chain_text(asgi())))
