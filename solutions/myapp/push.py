"""Send to a chat room from ordinary, synchronous Django code: a view, a signal, a management command.

The room's sockets belong to daphne; this code may run in daphne's process (a
view) or in another one (`python manage.py announce`). Either way the message
goes through the channel layer, addressed to the room's group, and each
consumer in the group relays it to its socket. From another process that only
works on a layer both processes share (Redis): an in-memory layer lives and
dies inside one process.
"""
import hashlib
import re

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

try:
    # The consumer's own mapping: push reaches exactly the groups its sockets join.
    from .consumers import group_name
except ImportError:
    # A consumer that keeps its mapping under another name: the course's mapping, which gives
    # every plain room name the tutorial's group (chat_<room>), so pages and plain rooms still work.
    def group_name(room_name: str) -> str:
        if re.fullmatch(r"[A-Za-z0-9_.-]{1,80}", room_name):
            return f"chat_{room_name}"
        return "chat-" + hashlib.sha256(room_name.encode("utf-8")).hexdigest()


def send_to_room(room_name: str, text: str) -> None:
    """Every socket in room_name receives {"message": text}, as if someone in the room had sent it."""
    layer = get_channel_layer()
    # group_send is a coroutine function: async_to_sync runs it to the end from sync code.
    # The group is named by the consumer's own mapping, so any room name a socket can join works here.
    async_to_sync(layer.group_send)(group_name(room_name), {"type": "chat.message", "message": text})
