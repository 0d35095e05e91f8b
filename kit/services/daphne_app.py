"""What a graded daphne serves: the tree's own myproject.asgi:application, on a channel layer the checker reads.

    daphne -u SOCKET kit.services.daphne_app:application     (in the tree's sandbox; env KIT_LAYER_REDIS, KIT_PROBE)

daphne imports this module in place of myproject.asgi, and it imports the
tree's asgi.py exactly as `daphne myproject.asgi:application` would (nothing is
set up first: an asgi.py that imports its routes before Django is ready fails
here too). Before that it changes two things, and the checker trusts neither:
everything it observes comes back on its own Redis or through its own clients.

- The in-memory channel layer of the settings becomes channels_redis on the
  checker's Redis (KIT_LAYER_REDIS, prefix `kit`): the checker reads the groups
  there and sends to them itself (exercises/support/layer.py Layer). Any other layer
  is left as the settings make it (a Redis at a dead port still fails).
- With KIT_PROBE set, every URLRouter the learner's code builds gets the kit's
  probe route first (ws/kit-probe/<token>/), so the `asgi` stage reaches the
  learner's router before the routing stage's route exists. The probe joins a
  group on the checker's Redis (with a layer of its own, whatever the settings
  say) named for the token its path carried (URLRouter's kwargs) and the user
  the session logged in (AuthMiddlewareStack), and passes what that group
  delivers to its socket.

Code in the tree can undo all of this; it then has to build the same behaviour
on the checker's Redis to be graded as having it.
"""
from __future__ import annotations

import asyncio
import importlib
import os
import re

LAYER_PREFIX = "kit"   # channels_redis keys on the checker's Redis: kit:group:<name> (exercises/support/layer.py Layer)
IN_MEMORY = "channels.layers.InMemoryChannelLayer"
PROBE = r"^ws/kit-probe/(?P<token>[0-9a-f]+)/$"
PROBE_GROUP = "kit-probe"   # the probe's group: kit-probe.<token>.<user>, on the checker's Redis


def checks_layer(url: str) -> dict:
    """CHANNEL_LAYERS' entry for channels_redis on the checker's Redis at url (kit/grading/host.py uses it too)."""
    # No socket_timeout: redis-py's default would cut the layer's blocking read of a quiet channel.
    return {"BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": url, "socket_timeout": None}], "prefix": LAYER_PREFIX}}


def probe_group(token: str, user: str) -> str:
    """The group the probe joins: what its path and its session said, in a group name's alphabet."""
    return f"{PROBE_GROUP}.{token}.{re.sub(r'[^A-Za-z0-9_-]', '_', user)}"[:99]


def _in_memory_on_redis(url: str) -> None:
    from channels.layers import ChannelLayerManager

    read = ChannelLayerManager.configs.fget

    def configs(manager):
        found = read(manager)
        if not isinstance(found, dict):
            return found
        return {alias: checks_layer(url) if isinstance(config, dict) and config.get("BACKEND") == IN_MEMORY
                else config for alias, config in found.items()}

    ChannelLayerManager.configs = property(configs)


def _probe_first_in_every_router() -> None:
    from channels.routing import URLRouter
    from django.urls import re_path

    build = URLRouter.__init__

    async def probe(scope, receive, send) -> None:
        """The kit's end of the learner's routes (see the module's doc). Defined here, never as a name of
        this module: a tree that imported it could serve it by hand with no router of its own."""
        from channels.db import database_sync_to_async

        await receive()
        token = (scope.get("url_route") or {}).get("kwargs", {}).get("token") or "none"

        def who() -> str:
            user = scope.get("user")
            if user is None:
                return "no-user"
            return user.get_username() if getattr(user, "is_authenticated", False) else "anonymous"

        layer = _probe_layer()
        channel = await layer.new_channel()
        group = probe_group(token, await database_sync_to_async(who)())
        await layer.group_add(group, channel)
        await send({"type": "websocket.accept"})
        delivered = asyncio.ensure_future(layer.receive(channel))
        try:
            while True:
                event = asyncio.ensure_future(receive())
                await asyncio.wait([event, delivered], return_when=asyncio.FIRST_COMPLETED)
                if delivered.done():
                    await send({"type": "websocket.send", "text": str(delivered.result().get("text", ""))})
                    delivered = asyncio.ensure_future(layer.receive(channel))
                if not event.done():
                    event.cancel()
                elif event.result()["type"] == "websocket.disconnect":
                    return
        finally:
            delivered.cancel()
            await layer.group_discard(group, channel)

    def __init__(router, routes):
        build(router, [re_path(PROBE, probe), *routes])

    URLRouter.__init__ = __init__


_layers: list = []


def _probe_layer():
    """The probe's own layer on the checker's Redis, whatever the settings' layer is."""
    if not _layers:
        from channels_redis.core import RedisChannelLayer

        _layers.append(RedisChannelLayer(**checks_layer(os.environ.get("KIT_LAYER_REDIS", ""))["CONFIG"]))
    return _layers[0]


def _application():
    url = os.environ.get("KIT_LAYER_REDIS")
    if url:
        _in_memory_on_redis(url)
    if os.environ.get("KIT_PROBE"):
        _probe_first_in_every_router()
    return importlib.import_module("myproject.asgi").application


def __getattr__(name: str):
    """`application` is loaded when daphne asks for it, never when another kit module imports this one."""
    if name != "application":
        raise AttributeError(name)
    app = globals()["application"] = _application()
    return app
