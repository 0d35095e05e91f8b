"""The chat consumer: one instance per open WebSocket, hardened against whatever a client sends.

Wire protocol: a client sends {"message": "<text>"}; everyone in the room, the
sender included, receives {"message": "<text>"}. Input the consumer will not
relay (not JSON, not an object, no text message, an empty or oversized
message, a binary frame, a flood) is answered to the sender alone with
{"error": "<one plain sentence>"}; the socket stays open and nothing reaches
the room. One bad frame must never cost the sender, or the room, the chat.
"""
import hashlib
import json
import logging
import re
import time

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What a channel-layer group name may hold: ASCII letters, digits, '-', '_', '.',
# fewer than 100 characters. Room names inside that set keep a readable group.
READABLE_ROOM = re.compile(r"[A-Za-z0-9_.-]{1,80}")


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


class ChatConsumer(AsyncWebsocketConsumer):
    """Joins the room's group, relays each valid message to everyone in it, leaves on close."""

    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = group_name(self.room_name)
        self.max_length = settings.CHAT_MAX_MESSAGE_LENGTH
        self.rate_limit = RateLimit(settings.CHAT_RATE_LIMIT)
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        # A refused handshake never joined (connect() may not have run to the end).
        if hasattr(self, "room_group_name"):
            await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        message, problem = self.parse(text_data)
        if problem:
            await self.refuse(problem)
            return
        # Only valid messages spend the budget: a typo never locks anyone out.
        if not self.rate_limit.allow():
            await self.refuse(f"Too many messages: at most {settings.CHAT_RATE_LIMIT} a second. "
                              "This one was not sent.")
            return
        # Send to the group, not the socket: every consumer in the room relays it.
        # Only the channel-layer call sits in the try: a mistake anywhere else must show as itself.
        try:
            await self.channel_layer.group_send(
                self.room_group_name, {"type": "chat.message", "message": message}
            )
        except (OSError, RedisError) as exc:
            # The channel layer (Redis) is unreachable (a socket error, or redis' own): say so and
            # keep the socket, rather than crash and drop it; the layer reconnects when Redis is back.
            logger.warning("chat message not sent, channel layer unavailable: %s", exc)
            await self.refuse("The chat service is unavailable right now: your message was not sent. "
                              "Try again in a moment.")

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

    async def chat_message(self, event):
        """Handles events of type 'chat.message' from the group."""
        await self.send_json_frame({"message": event["message"]})

    async def send_json_frame(self, data: dict):
        try:
            await self.send(text_data=json.dumps(data))
        except Exception as exc:
            # The client left while this frame was on its way: daphne has already closed the
            # socket (autobahn's Disconnected) and our disconnect() is next in line. Not an error.
            if type(exc).__name__ != "Disconnected":
                raise
