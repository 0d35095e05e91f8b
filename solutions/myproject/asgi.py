"""ASGI entry point: HTTP goes to Django, WebSockets to the chat consumer."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
# Set Django up before importing anything that may touch models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
# kit-stage: from hardening
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
# kit-stage: end

from myapp.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # kit-stage: from hardening
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
        # kit-stage: end
        # kit-stage: before hardening
        # "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
        # kit-stage: end
    }
)
