"""The source tutorial's chat, unchanged: the baseline the solutions are measured against.

It is a correct answer up to the `daphne` stage, fails `hardening` (and
`redis`: with redis-py 8 its RedisChannelLayer on hosts [REDIS_URL] closes a
room that stays quiet for five seconds), and at the default channel-layer
capacity drops most of a burst. The kit's mutant,
hardening and load tests and the load benchmark all start from this tree.

A complete answer, so it lives with the tests, which no release carries
(tests/test_release.py looks for it in a release). It imports only the kit, so
a benchmark run from the kit's folder imports it as `tests.classic`.
"""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

from kit.course.catalogue import KIT_ROOT
from kit.course.project import ignore_leftovers

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


# A correct finished tree in another style (issue 21): a sync WebsocketConsumer that calls the ORM directly
# (Channels runs each handler in a thread), refuses anonymous sockets at the handshake (one of the two
# behaviours the `users` lesson allows), limits the rate with a sliding window, and sends announcements with
# "author": null. Every check that chats on it must do so logged in.
SYNC_ORM_CONSUMER = textwrap.dedent('''\
    import hashlib
    import json
    import re
    import time

    from asgiref.sync import async_to_sync
    from channels.generic.websocket import WebsocketConsumer
    from django.conf import settings

    from .models import Message


    def group_name(room_name):
        """chat_<room> for plain names, a hash for the rest (Bengali, punctuation, very long)."""
        if re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", room_name):
            return "chat_" + room_name
        return "chat-" + hashlib.sha256(room_name.encode("utf-8")).hexdigest()


    class ChatConsumer(WebsocketConsumer):
        def connect(self):
            self.room = self.scope["url_route"]["kwargs"]["room_name"]
            self.group = group_name(self.room)
            self.user = self.scope.get("user")
            if self.user is None or not self.user.is_authenticated:
                self.close(code=4401)  # anonymous visitors are refused at the handshake
                return
            self.posted = []  # when this socket's recent messages were sent
            async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
            self.accept()
            newest = list(Message.objects.filter(room=self.room).select_related("author").order_by("-id")[:50])
            for row in reversed(newest):
                self.send(text_data=json.dumps({"message": row.text, "author": row.author.username,
                                                "history": True}))

        def disconnect(self, close_code):
            if hasattr(self, "posted"):
                async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

        def receive(self, text_data=None, bytes_data=None):
            try:
                data = json.loads(text_data)
            except (TypeError, ValueError):
                return self.error('Send a JSON text frame such as {"message": "hi"}.')
            message = data.get("message") if isinstance(data, dict) else None
            if not isinstance(message, str) or not message.strip():
                return self.error('The frame needs a non-empty text "message".')
            if len(message) > settings.CHAT_MAX_MESSAGE_LENGTH:
                return self.error("That message is too long.")
            now = time.monotonic()
            self.posted = [t for t in self.posted if now - t < 1.0]
            if len(self.posted) >= settings.CHAT_RATE_LIMIT:
                return self.error("Too many messages: slow down.")
            self.posted.append(now)
            Message.objects.create(room=self.room, author=self.user, text=message)
            async_to_sync(self.channel_layer.group_send)(
                self.group, {"type": "chat.message", "message": message, "author": self.user.username})

        def error(self, text):
            self.send(text_data=json.dumps({"error": text}))

        def chat_message(self, event):
            self.send(text_data=json.dumps({"message": event["message"], "author": event.get("author")}))
''')


def sync_orm_tree(dest: Path, solutions: Path = KIT_ROOT / "solutions") -> Path:
    """A copy of solutions/ whose consumer is SYNC_ORM_CONSUMER: correct at every stage."""
    shutil.copytree(solutions, dest, ignore=ignore_leftovers)
    (dest / "myapp/consumers.py").write_text(SYNC_ORM_CONSUMER, encoding="utf-8")
    return dest
