"""The apps the host serves to the checker's clients: the learner's own application, the learner's ChatConsumer
behind a router of the kit's, and a relay over the settings' default channel layer (a mixin of Host)."""
from __future__ import annotations

import asyncio

from kit.course.i18n import T
from kit.grading.host_base import Refusal


class Apps:
    """Host's apps, numbered: the checker names one with the X-Kit-App header (kit/grading/serving.py)."""

    def op_app(self, kind: str) -> dict:
        """An app the checker's clients reach on the listening socket (X-Kit-App: the number returned).

        project: the learner's application; layer: the kit's broadcaster over the default layer exactly
        as the settings make it; consumer, any-room: the learner's ChatConsumer behind a router of the kit's."""
        if kind == "project":
            app = self.application()
        elif kind == "layer":
            app = self.layer_app()
        else:
            app = self.consumer_app(kind)
        if kind != "layer":
            self.use_checks_layer()
        number = next(self.ids)
        self.apps[number] = app
        return {"app": number}

    def consumer_app(self, kind: str):
        from django.apps import apps
        from django.urls import path, re_path

        from channels.routing import URLRouter

        consumer = getattr(self.load("myapp.consumers"), "ChatConsumer", None)
        if consumer is None:
            raise Refusal(T("myapp/consumers.py has no class ChatConsumer."))
        route = (re_path(r"^ws/chat/(?P<room_name>[^/]+)/$", consumer.as_asgi()) if kind == "any-room"
                 else path("ws/chat/<str:room_name>/", consumer.as_asgi()))
        app = URLRouter([route])
        # Who is logged in comes from the session cookie, as through the learner's asgi.py;
        # a tree without auth or sessions chats anonymously.
        if apps.is_installed("django.contrib.auth") and apps.is_installed("django.contrib.sessions"):
            from channels.auth import AuthMiddlewareStack

            app = AuthMiddlewareStack(app)
        return app

    def layer_app(self):
        """Sockets of one group that relay each text to all of them, through the settings' default layer."""
        self.django_setup()
        from django.utils.module_loading import import_string

        config = self.original_layers.get("default") if isinstance(self.original_layers, dict) else None
        if not isinstance(config, dict) or not config.get("BACKEND"):
            raise Refusal(T("CHANNEL_LAYERS has no working 'default' layer."))
        try:
            layer = import_string(config["BACKEND"])(**(config.get("CONFIG") or {}))
        except BaseException as exc:
            raise Refusal(self.places.explain(exc, T("Making the default channel layer failed"))) from None
        return relay(layer, f"kit-layer-{next(self.ids)}")

    def chosen_app(self, number: str):
        try:
            return self.apps.get(int(number))
        except ValueError:
            return None


def relay(layer, group: str):
    """An ASGI app: every socket joins group; each text one sends reaches all of them through layer."""
    async def app(scope, receive, send) -> None:
        await receive()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        await send({"type": "websocket.accept"})

        async def deliver():
            while True:
                message = await layer.receive(channel)
                await send({"type": "websocket.send", "text": message.get("text", "")})
        delivering = asyncio.ensure_future(deliver())
        try:
            while True:
                event = asyncio.ensure_future(receive())
                await asyncio.wait([event, delivering], return_when=asyncio.FIRST_COMPLETED)
                if delivering.done():
                    event.cancel()
                    delivering.result()  # the layer's own error, as the learner's settings made it
                message = event.result()
                if message["type"] == "websocket.disconnect":
                    return
                await layer.group_send(group, {"type": "kit.relay", "text": message.get("text") or ""})
        finally:
            delivering.cancel()
    return app
