"""The chat's database models.

TODO(history): write the Message model, one row for each relayed message:
    room     models.CharField(max_length=200, db_index=True)   the room's name
    author   models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="messages")
    text     models.TextField()
    created  models.DateTimeField(auto_now_add=True)
then create its table's migration: python manage.py makemigrations myapp
(and python manage.py migrate to create the table in your database).
"""
from django.db import models  # noqa: F401
