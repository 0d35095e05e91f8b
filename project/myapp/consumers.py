"""The chat consumer: one instance per open WebSocket."""
from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    """TODO(consumer): make this a chat room.

    - connect(): read the room name from self.scope["url_route"]["kwargs"],
      join that room's group with self.channel_layer.group_add(...), then accept.
    - receive(text_data): parse the JSON {"message": ...} and group_send it
      to the room as an event {"type": "chat.message", "message": ...}.
    - chat_message(event): send {"message": ...} as JSON to this socket.
    - disconnect(close_code): leave the group with group_discard(...).

    TODO(users): the author of each message is self.scope["user"] (the
    logged-in user, from AuthMiddlewareStack); put its get_username() in the
    group event and send {"message": ..., "author": ...}; never trust an
    "author" the client sends. An anonymous socket (not
    scope["user"].is_authenticated) is refused in connect() (self.close())
    or may read but gets an error frame {"error": ...} for each post.

    TODO(history): save every message you relay as a myapp.models.Message
    (room, author, text), and in connect(), after accept(), send this socket
    alone the room's last HISTORY_LENGTH = 50 messages, oldest first, one
    frame each: {"message": ..., "author": ..., "history": true}. Reach the
    database only through channels.db.database_sync_to_async: an ORM call on
    the event loop stops every socket while it runs.
    """
