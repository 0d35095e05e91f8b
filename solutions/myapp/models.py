"""The chat's memory: every relayed message, with its room, its author and when it was said."""
from django.conf import settings
from django.db import models


class Message(models.Model):
    room = models.CharField(max_length=200, db_index=True)   # the room's name, as in its URL
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)         # set by Django when the row is saved

    def __str__(self):
        return f"{self.room} {self.author}: {self.text[:40]}"
