"""The chat consumer: one instance per open WebSocket.

Wire protocol: a client sends {"message": "<text>"}; everyone in the room, the
sender included, receives {"message": "<text>"}. This is the official
tutorial's consumer: it trusts every frame, and the hardening stage makes it
refuse bad ones.
"""
import json

from channels.generic.websocket import AsyncWebsocketConsumer


class ChatConsumer(AsyncWebsocketConsumer):
    """Joins the room's group, relays each message to everyone in it, leaves on close."""

    async def connect(self):
        self.room_name = self.scope["url_route"]["kwargs"]["room_name"]
        self.room_group_name = f"chat_{self.room_name}"
        await self.channel_layer.group_add(self.room_group_name, self.channel_name)
        await self.accept()

    async def disconnect(self, close_code):
        await self.channel_layer.group_discard(self.room_group_name, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        message = json.loads(text_data)["message"]
        # Send to the group, not the socket: every consumer in the room relays it.
        await self.channel_layer.group_send(
            self.room_group_name, {"type": "chat.message", "message": message}
        )

    async def chat_message(self, event):
        """Handles events of type 'chat.message' from the group."""
        await self.send(text_data=json.dumps({"message": event["message"]}))
