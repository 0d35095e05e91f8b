"""`python manage.py announce ROOM TEXT`: a message to every socket in a room, from outside daphne."""
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Send TEXT to every socket in chat room ROOM."

    def add_arguments(self, parser):
        parser.add_argument("room")
        parser.add_argument("text")

    def handle(self, *args, room, text, **options):
        # TODO(push): call send_to_room(room, text) from myapp/push.py.
        raise CommandError("TODO(push): the announce command sends nothing yet "
                           "(myapp/management/commands/announce.py).")
