"""`python manage.py announce ROOM TEXT`: a message to every socket in a room, from outside daphne."""
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.core.management.base import BaseCommand

from myapp.push import send_to_room


class Command(BaseCommand):
    help = "Send TEXT to every socket in chat room ROOM (needs REDIS_URL: the layer daphne uses)."

    def add_arguments(self, parser):
        parser.add_argument("room", help="the room's name, as in /chat/<room>/")
        parser.add_argument("text", help="the message")

    def handle(self, *args, room, text, **options):
        in_memory = isinstance(get_channel_layer(), InMemoryChannelLayer)
        if in_memory:
            # This process's own in-memory layer has no members: daphne's sockets are in daphne's layer.
            self.stderr.write("REDIS_URL is not set: the message stays in this process and reaches no socket. "
                              "Set REDIS_URL to the Redis daphne uses.")
        send_to_room(room, text)
        if not in_memory:
            self.stdout.write(f"Sent to room {room}.")
