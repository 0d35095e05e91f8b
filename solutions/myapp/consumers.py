# kit-stage: before hardening
# """The chat consumer: one instance per open WebSocket.
# kit-stage: end
# kit-stage: from hardening
"""The chat consumer: one instance per open WebSocket, hardened against whatever a client sends.
# kit-stage: end

Wire protocol: a client sends {"message": "<text>"}; everyone in the room, the
# kit-stage: from users
sender included, receives {"message": "<text>", "author": "<username>"}. The
author is the logged-in user of the sending socket (scope["user"], from the
session cookie through AuthMiddlewareStack), never a name the client claims.
Anonymous sockets may read the room but not post: each post gets an error frame.
# kit-stage: end
# kit-stage: from history
Every relayed message is saved (myapp.models.Message), and a socket that joins
is first sent its room's last HISTORY_LENGTH messages, oldest first, each as
{"message", "author", "history": true}, to that socket alone. The database is
reached only through database_sync_to_async: a query on the event loop would
stall every socket of the process while it runs.
# kit-stage: end
# kit-stage: from users
Input the consumer will not
# kit-stage: end
# kit-stage: from hardening before users
# sender included, receives {"message": "<text>"}. Input the consumer will not
# kit-stage: end
# kit-stage: from hardening
relay (not JSON, not an object, no text message, an empty or oversized
message, a binary frame, a flood) is answered to the sender alone with
{"error": "<one plain sentence>"}; the socket stays open and nothing reaches
the room. One bad frame must never cost the sender, or the room, the chat.
# kit-stage: end
# kit-stage: before hardening
# sender included, receives {"message": "<text>"}. This is the official
# tutorial's consumer: it trusts every frame, and the hardening stage makes it
# refuse bad ones.
# kit-stage: end
"""
# kit-stage: from hardening
import hashlib
# kit-stage: end
import json
# kit-stage: from hardening
import logging
import re
import time
# kit-stage: end

# kit-stage: from history
from channels.db import database_sync_to_async
# kit-stage: end
from channels.generic.websocket import AsyncWebsocketConsumer
# kit-stage: from hardening
from django.conf import settings
# kit-stage: end
# kit-stage: from history
from django.db import DatabaseError
# kit-stage: end
# kit-stage: from hardening
from redis.exceptions import RedisError
# kit-stage: end
# kit-stage: from history

from .models import Message
# kit-stage: end
# kit-stage: from hardening

logger = logging.getLogger(__name__)

# What a channel-layer group name may hold: ASCII letters, digits, '-', '_', '.',
# fewer than 100 characters. Room names inside that set keep a readable group.
READABLE_ROOM = re.compile(r"[A-Za-z0-9_.-]{1,80}")
# kit-stage: end
# kit-stage: from history
# How many of a room's last messages a socket that joins is sent.
HISTORY_LENGTH = 50
# kit-stage: end
# kit-stage: from hardening


def group_name(room_name: str) -> str:
    """The room's group: readable when it can be, else a hash, so that any room name works.

    'chat_' + name for plain names; 'chat-' + SHA-256 for the rest (Bengali
    letters, punctuation, very long names). The two prefixes differ, so a plain
    room can never land in a hashed room's group, and two different hashed
    rooms share a group only if SHA-256 collides.
    """
    if READABLE_ROOM.fullmatch(room_name):
        return f"chat_{room_name}"
    return "chat-" + hashlib.sha256(room_name.encode("utf-8")).hexdigest()


class RateLimit:
    """A token bucket: `rate` messages a second on average, bursts of up to `rate`."""

    def __init__(self, rate: float):
        self.rate = float(rate)
        self.tokens = self.rate
        self.last = time.monotonic()

    def allow(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False
# kit-stage: end


class ChatConsumer(AsyncWebsocketConsumer):
    # kit-stage: before hardening
    # """Joins the room's group, relays each message to everyone in it, leaves on close."""
    # kit-stage: end
    # kit-stage: from hardening
    """Joins the room's group, relays each valid message to everyone in it, leaves on close."""
    # kit-stage: end

    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        # kit-stage: from hardening
        self.room_group_name = group_name(self.room_name)
        self.max_length = settings.CHAT_MAX_MESSAGE_LENGTH
        self.rate_limit = RateLimit(settings.CHAT_RATE_LIMIT)
        # kit-stage: end
        # kit-stage: before hardening
        # self.room_group_name = f"chat_{self.room_name}"
        # kit-stage: end
        # kit-stage: from users
        # AnonymousUser when the browser is not logged in; None only without AuthMiddlewareStack.
        self.user = self.scope.get("user")
        # kit-stage: end
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()
        # kit-stage: from history
        # Inside connect(): the group's live messages wait in this consumer's channel until
        # connect() returns, so the history always comes first and nothing said meanwhile is lost.
        try:
            history = await self.history()
        except DatabaseError as exc:  # no table yet (not migrated), or the database is away: chat on
            logger.warning("room history not loaded: %s", exc)
            history = []
        for message in history:
            await self.send_json_frame({"message": message.text, "author": message.author.get_username(),
                                        "history": True})
        # kit-stage: end

    async def disconnect(self, close_code):
        # kit-stage: from hardening
        # A refused handshake never joined (connect() may not have run to the end).
        if hasattr(self, "room_group_name"):
            await self.channel_layer.group_discard(self.room_group_name, self.channel_name)
        # kit-stage: end
        # kit-stage: before hardening
        # await self.channel_layer.group_discard(self.room_group_name, self.channel_name)
        # kit-stage: end

    async def receive(self, text_data=None, bytes_data=None):
        # kit-stage: from users
        if self.user is None or not self.user.is_authenticated:
            await self.refuse("Log in to post: anonymous visitors can read this room but not write in it.")
            return
        # kit-stage: end
        # kit-stage: from hardening
        message, problem = self.parse(text_data)
        if problem:
            await self.refuse(problem)
            return
        # Only valid messages spend the budget: a typo never locks anyone out.
        if not self.rate_limit.allow():
            await self.refuse(f"Too many messages: at most {settings.CHAT_RATE_LIMIT} a second. "
                              "This one was not sent.")
            return
        # kit-stage: end
        # kit-stage: before hardening
        # message = json.loads(text_data)["message"]
        # kit-stage: end
        # kit-stage: from history
        try:
            await self.save(message)
        except DatabaseError as exc:
            # The database is away (or not migrated yet): the chat outlives its memory.
            logger.warning("chat message not saved: %s", exc)
        # kit-stage: end
        # kit-stage: from users
        # The author is who this socket logged in as; an "author" in the frame is ignored.
        event = {"type": "chat.message", "message": message, "author": self.user.get_username()}
        # kit-stage: end
        # Send to the group, not the socket: every consumer in the room relays it.
        # kit-stage: from hardening
        # Only the channel-layer call sits in the try: a mistake anywhere else must show as itself.
        try:
        # kit-stage: end
            # kit-stage: from users
            await self.channel_layer.group_send(self.room_group_name, event)
            # kit-stage: end
            # kit-stage: from hardening before users
            # await self.channel_layer.group_send(
            #     self.room_group_name, {"type": "chat.message", "message": message}
            # )
            # kit-stage: end
        # kit-stage: from hardening
        except (OSError, RedisError) as exc:
            # The channel layer (Redis) is unreachable (a socket error, or redis' own): say so and
            # keep the socket, rather than crash and drop it; the layer reconnects when Redis is back.
            logger.warning("chat message not sent, channel layer unavailable: %s", exc)
            await self.refuse("The chat service is unavailable right now: your message was not sent. "
                              "Try again in a moment.")
        # kit-stage: end
        # kit-stage: before hardening
        # await self.channel_layer.group_send(
        #     self.room_group_name, {"type": "chat.message", "message": message}
        # )
        # kit-stage: end
    # kit-stage: from history

    @database_sync_to_async
    def history(self):
        """The room's last HISTORY_LENGTH messages, oldest first, loaded in full in the worker thread."""
        newest = (Message.objects.filter(room=self.room_name)
                  .select_related("author").order_by("-created", "-id")[:HISTORY_LENGTH])
        return list(reversed(newest))

    @database_sync_to_async
    def save(self, text: str):
        Message.objects.create(room=self.room_name, author=self.user, text=text)
    # kit-stage: end
    # kit-stage: from hardening

    def parse(self, text_data):
        """(message, None) for a frame worth relaying, else (None, why not)."""
        if text_data is None:
            return None, 'Binary frames are not accepted: send text such as {"message": "hi"}.'
        try:
            data = json.loads(text_data)
        except ValueError:
            return None, 'That frame was not JSON: send {"message": "your text"}.'
        if not isinstance(data, dict):
            return None, 'Send a JSON object such as {"message": "hi"}, not a list, number or string.'
        message = data.get("message")
        if not isinstance(message, str):
            return None, 'The frame needs a "message" key whose value is text.'
        if not message.strip():
            return None, "Empty messages are not sent."
        if len(message) > self.max_length:
            return None, f"Messages are limited to {self.max_length} characters; this one has {len(message)}."
        return message, None

    async def refuse(self, reason: str):
        """Tell the sender alone why its frame went nowhere."""
        await self.send_json_frame({"error": reason})
    # kit-stage: end

    async def chat_message(self, event):
        """Handles events of type 'chat.message' from the group."""
        # kit-stage: from users
        # An announcement from send_to_room() (stage 9) has no author: event["author"] would crash on it.
        await self.send_json_frame({"message": event["message"], "author": event.get("author", "")})
        # kit-stage: end
        # kit-stage: from hardening before users
        # await self.send_json_frame({"message": event["message"]})
        # kit-stage: end
        # kit-stage: before hardening
        # await self.send(text_data=json.dumps({"message": event["message"]}))
        # kit-stage: end
    # kit-stage: from hardening

    async def send_json_frame(self, data: dict):
        try:
            await self.send(text_data=json.dumps(data))
        except Exception as exc:
            # The client left while this frame was on its way: daphne has already closed the
            # socket (autobahn's Disconnected) and our disconnect() is next in line. Not an error.
            if type(exc).__name__ != "Disconnected":
                raise
    # kit-stage: end
