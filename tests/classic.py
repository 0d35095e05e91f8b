"""The source tutorial's chat, unchanged: the baseline the solutions are measured against.

It is a correct answer up to the `daphne` stage, fails `hardening`, and at
the default channel-layer capacity drops most of a burst. The kit's mutant,
hardening and load tests and the load benchmark all start from this tree.

A complete answer, so it lives with the tests, which no release carries
(tests/test_release.py looks for it in a release). It imports only the kit, so
a benchmark run from the kit's folder imports it as `tests.classic`.
"""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from kit.catalogue import KIT_ROOT
from kit.project import ignore_leftovers

CONSUMER = textwrap.dedent('''\
    import json

    from channels.generic.websocket import AsyncWebsocketConsumer


    class ChatConsumer(AsyncWebsocketConsumer):
        async def connect(self):
            self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
            self.room_group_name = f"chat_{self.room_name}"
            await self.channel_layer.group_add(self.room_group_name, self.channel_name)
            await self.accept()

        async def disconnect(self, close_code):
            await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

        async def receive(self, text_data):
            message = json.loads(text_data)["message"]
            await self.channel_layer.group_send(
                self.room_group_name, {"type": "chat.message", "message": message}
            )

        async def chat_message(self, event):
            await self.send(text_data=json.dumps({"message": event["message"]}))
''')

ROUTING = textwrap.dedent('''\
    from django.urls import re_path

    from . import consumers

    websocket_urlpatterns = [
        re_path(r"ws/chat/(?P<room_name>\\w+)/$", consumers.ChatConsumer.as_asgi()),
    ]
''')

ASGI = textwrap.dedent('''\
    import os

    from django.core.asgi import get_asgi_application

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    django_asgi_app = get_asgi_application()

    from channels.auth import AuthMiddlewareStack  # noqa: E402
    from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

    import myapp.routing  # noqa: E402

    application = ProtocolTypeRouter({
        "http": django_asgi_app,
        "websocket": AuthMiddlewareStack(URLRouter(myapp.routing.websocket_urlpatterns)),
    })
''')

# What the solutions' settings add beyond the tutorial, and the tutorial's version of each.
SETTINGS_CHANGES = (
    ('"CONFIG": {"capacity": CHANNEL_CAPACITY},', ""),                                # default capacity 100
    ("channels_redis.pubsub.RedisPubSubChannelLayer", "channels_redis.core.RedisChannelLayer"),
    ("\nCHAT_MAX_MESSAGE_LENGTH = ", "\n_UNUSED_CHAT_MAX_MESSAGE_LENGTH = "),          # no size limit
    ("\nCHAT_RATE_LIMIT = ", "\n_UNUSED_CHAT_RATE_LIMIT = "),                          # no rate limit
)


def classic_tree(dest: Path, solutions: Path = KIT_ROOT / "solutions") -> Path:
    """A copy of solutions/ with the tutorial's consumer, routing, asgi.py and channel layers."""
    shutil.copytree(solutions, dest, ignore=ignore_leftovers)
    (dest / "myapp/consumers.py").write_text(CONSUMER, encoding="utf-8")
    (dest / "myapp/routing.py").write_text(ROUTING, encoding="utf-8")
    (dest / "myproject/asgi.py").write_text(ASGI, encoding="utf-8")
    settings = dest / "myproject/settings.py"
    text = settings.read_text(encoding="utf-8")
    for solution_line, classic_line in SETTINGS_CHANGES:
        if solution_line not in text:
            raise ValueError(f"solutions/myproject/settings.py no longer contains {solution_line.strip()!r}: "
                             "update tests/classic.py's SETTINGS_CHANGES")
        text = text.replace(solution_line, classic_line)
    settings.write_text(text, encoding="utf-8")
    return dest
