"""Checkpoint `asgi`: myproject/asgi.py routes HTTP to Django and WebSockets through auth to a URLRouter."""
import pytest

from support import load, run


def application():
    return load("myproject.asgi").application


def websocket_chain():
    """Class names from the websocket entry down to the router, following each wrapper's inner app."""
    from channels.routing import ProtocolTypeRouter

    app = application()
    assert isinstance(app, ProtocolTypeRouter), (
        f"myproject.asgi.application is a {type(app).__name__}, not a ProtocolTypeRouter: "
        "wrap it as ProtocolTypeRouter({'http': ..., 'websocket': ...}).")
    assert "websocket" in app.application_mapping, "The ProtocolTypeRouter has no 'websocket' key."
    chain, node = [], app.application_mapping["websocket"]
    for _ in range(12):
        chain.append(type(node).__name__)
        node = next((getattr(node, a) for a in ("inner", "application", "app") if hasattr(node, a)), None)
        if node is None:
            break
    return chain


@pytest.mark.hint("asgi.py must import cleanly: fix the error shown.")
def test_asgi_imports():
    application()


@pytest.mark.hint("application = ProtocolTypeRouter({'http': django_asgi_app, 'websocket': ...})")
def test_protocol_type_router():
    from channels.routing import ProtocolTypeRouter

    app = application()
    assert isinstance(app, ProtocolTypeRouter), (
        f"myproject.asgi.application is a {type(app).__name__}, not a ProtocolTypeRouter.")
    missing = {"http", "websocket"} - set(app.application_mapping)
    assert not missing, f"The ProtocolTypeRouter has no {' and no '.join(sorted(missing))} key."


@pytest.mark.hint("'http' should stay get_asgi_application(), called before importing the routing.")
def test_http_still_served():
    from channels.testing import HttpCommunicator

    app = application()

    async def scenario():
        response = await HttpCommunicator(app, "GET", "/chat/", headers=[(b"host", b"127.0.0.1")]).get_response(timeout=10)
        assert response["status"] == 200, f"GET /chat/ through the ASGI app answered {response['status']}, not 200."

    run(scenario)


@pytest.mark.hint("'websocket': AuthMiddlewareStack(URLRouter(websocket_urlpatterns))")
def test_websocket_goes_through_auth():
    chain = websocket_chain()
    assert "AuthMiddleware" in chain, (
        f"The websocket app is {' > '.join(chain)}: wrap it in AuthMiddlewareStack(...) so consumers see scope['user'].")


@pytest.mark.hint("Inside AuthMiddlewareStack goes URLRouter(myapp.routing.websocket_urlpatterns).")
def test_websocket_ends_in_url_router():
    chain = websocket_chain()
    assert "URLRouter" in chain, (
        f"The websocket app is {' > '.join(chain)}: route sockets with URLRouter(websocket_urlpatterns).")
