"""ASGI entry point. For now it serves only Django's HTTP pages."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")

application = get_asgi_application()

# TODO(asgi): keep the HTTP app above as `django_asgi_app = get_asgi_application()`
# (before importing myapp.routing), then make `application` a ProtocolTypeRouter
# that sends "http" to it and "websocket" to
# AuthMiddlewareStack(URLRouter(myapp.routing.websocket_urlpatterns)).
