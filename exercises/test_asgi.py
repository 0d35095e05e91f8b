"""Checkpoint `asgi`: myproject/asgi.py routes HTTP to Django and WebSockets through auth to a URLRouter."""
from kit.i18n import T
from support import host


def asgi():
    """The app's shape, as the host reports it: type, router keys, websocket wrappers from outside in."""
    return host().call("asgi", doing=T("Loading myproject/asgi.py"), limit=20)


def chain_text(info) -> str:
    return " > ".join(info["chain"]) or T("nothing")


def websocket_chain():
    info = asgi()
    assert info["router"], T(
        "myproject.asgi.application is {kind}, not a ProtocolTypeRouter: "
        "wrap it as ProtocolTypeRouter({{'http': ..., 'websocket': ...}}).", kind=article(info['type']))
    assert "websocket" in info["keys"], T("The ProtocolTypeRouter has no 'websocket' key.")
    return info


def article(name: str) -> str:
    return T("an {name}", name=name) if name[:1].lower() in "aeiou" else T("a {name}", name=name)


def test_asgi_imports():
    asgi()


def test_protocol_type_router():
    info = asgi()
    assert info["router"], T("myproject.asgi.application is {kind}, not a ProtocolTypeRouter.",
                             kind=article(info['type']))
    missing = sorted({"http", "websocket"} - set(info["keys"]))
    assert not missing, (T("The ProtocolTypeRouter has no {key} key.", key=missing[0]) if len(missing) == 1 else
                         T("The ProtocolTypeRouter has no {key} and no {other} key.", key=missing[0], other=missing[1]))


def test_http_still_served():
    status = host().call("http", path="/chat/", doing=T("Getting /chat/ through the ASGI app"), limit=15)["status"]
    assert status == 200, T("GET /chat/ through the ASGI app answered {status}, not 200.", status=status)


def test_websocket_goes_through_auth():
    info = websocket_chain()
    assert "AuthMiddleware" in info["chain"], T(
        "The websocket app is {chain}: wrap it in AuthMiddlewareStack(...) so consumers see "
        "scope['user'].", chain=chain_text(info))


def test_websocket_ends_in_url_router():
    info = websocket_chain()
    assert "URLRouter" in info["chain"], T(
        "The websocket app is {chain}: route sockets with URLRouter(websocket_urlpatterns).", chain=chain_text(info))
