"""WebSocket URL routes, the counterpart of urls.py for sockets."""

# TODO(routing): route ws/chat/<room_name>/ to ChatConsumer.as_asgi(), with a
# re_path or path whose keyword argument is named room_name.
websocket_urlpatterns = []
