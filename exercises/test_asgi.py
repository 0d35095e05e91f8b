"""Checkpoint `asgi`: myproject/asgi.py routes HTTP to Django and WebSockets through auth to a URLRouter."""
import pytest

from support import host


def asgi():
    """The app's shape, as the host reports it: type, router keys, websocket wrappers from outside in."""
    return host().call("asgi", doing="Loading myproject/asgi.py", limit=20)


def chain_text(info) -> str:
    return " > ".join(info["chain"]) or "nothing"


def websocket_chain():
    info = asgi()
    assert info["router"], (
        f"myproject.asgi.application is {article(info['type'])}, not a ProtocolTypeRouter: "
        "wrap it as ProtocolTypeRouter({'http': ..., 'websocket': ...}).")
    assert "websocket" in info["keys"], "The ProtocolTypeRouter has no 'websocket' key."
    return info


def article(name: str) -> str:
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


@pytest.mark.hint("asgi.py must import cleanly: fix the error shown.")
def test_asgi_imports():
    asgi()


@pytest.mark.hint("application = ProtocolTypeRouter({'http': django_asgi_app, 'websocket': ...})")
def test_protocol_type_router():
    info = asgi()
    assert info["router"], f"myproject.asgi.application is {article(info['type'])}, not a ProtocolTypeRouter."
    missing = {"http", "websocket"} - set(info["keys"])
    assert not missing, f"The ProtocolTypeRouter has no {' and no '.join(sorted(missing))} key."


@pytest.mark.hint("'http' should stay get_asgi_application(), called before importing the routing.")
def test_http_still_served():
    status = host().call("http", path="/chat/", doing="Getting /chat/ through the ASGI app", limit=15)["status"]
    assert status == 200, f"GET /chat/ through the ASGI app answered {status}, not 200."


@pytest.mark.hint("'websocket': AuthMiddlewareStack(URLRouter(websocket_urlpatterns))")
def test_websocket_goes_through_auth():
    info = websocket_chain()
    assert "AuthMiddleware" in info["chain"], (
        f"The websocket app is {chain_text(info)}: wrap it in AuthMiddlewareStack(...) so consumers see "
        "scope['user'].")


@pytest.mark.hint("Inside AuthMiddlewareStack goes URLRouter(myapp.routing.websocket_urlpatterns).")
def test_websocket_ends_in_url_router():
    info = websocket_chain()
    assert "URLRouter" in info["chain"], (
        f"The websocket app is {chain_text(info)}: route sockets with URLRouter(websocket_urlpatterns).")
