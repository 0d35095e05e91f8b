"""Settings for the chat project.

Course settings, made to run on a laptop: DEBUG on and a published
SECRET_KEY. Read the deployment checklist before you put this online.
"""
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "course-only-key-change-me-before-deploying")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "daphne",  # first, so its runserver (ASGI) replaces Django's
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "channels",
    "myapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]

ROOT_URLCONF = "myproject.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ],
        },
    },
]

ASGI_APPLICATION = "myproject.asgi.application"

# kit-stage: from redis
# One process can use the in-memory layer; several workers need Redis.
#
# In memory, `capacity` is how many messages may wait in one socket's channel
# before the layer drops new ones *silently*. The default, 100, is overrun by a
# handful of clients typing fast into one room (benchmarks/load.py: a burst of
# 5 senders x 400 into a room of 10 loses about two thirds). 10_000 holds any
# kit-stage: end
# kit-stage: from hardening
# backlog the rate limit below allows, costs nothing while queues are short and
# kit-stage: end
# kit-stage: from redis before hardening
# # backlog a busy room builds up, costs nothing while queues are short and
# kit-stage: end
# kit-stage: from redis
# does not slow delivery.
#
# On Redis, RedisPubSubChannelLayer rather than RedisChannelLayer: the queued
# layer keeps one queue per worker process in Redis, capped by the same
# `capacity` and by a 60 s expiry, and each worker pops it one message per round
# trip; with 200 sockets on two workers it lost 15% of a load test here. Pub/sub
# has no queue to overrun and nothing to expire, was faster in every run, and
# keeps idle sockets open across a Redis restart (they resume when it is back).
# Its one limit: a message published while a worker is cut off from Redis is
# not delivered to that worker's sockets.
CHANNEL_CAPACITY = int(os.environ.get("CHAT_CHANNEL_CAPACITY", "10000"))
REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        },
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY},
        },
    }
# kit-stage: end
# kit-stage: before redis
# # One process: the in-memory layer. The redis stage moves it to Redis, so that
# # several daphne workers can share it.
# CHANNEL_LAYERS = {
#     "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"},
# }
# kit-stage: end

# kit-stage: from hardening
# Hardening limits, read by myapp/consumers.py. Longer messages are refused with
# an error frame, never relayed (daphne itself cuts frames over 1 MiB).
CHAT_MAX_MESSAGE_LENGTH = int(os.environ.get("CHAT_MAX_MESSAGE_LENGTH", "2000"))
# Messages a second one socket may send (a token bucket: bursts up to this
# many, then this many a second). People type far slower; floods are refused.
CHAT_RATE_LIMIT = int(os.environ.get("CHAT_RATE_LIMIT", "10"))

# kit-stage: end
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        # kit-stage: from history
        # database_sync_to_async closes a connection older than this after every call; at 0 (Django's
        # default) each saved chat message opens a new one, and a busy room falls behind its senders.
        "CONN_MAX_AGE": 600,
        # WAL lets readers (history for a joiner) go on while a message is written; NORMAL syncs
        # to disk at checkpoints instead of on every insert.
        "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        # kit-stage: end
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
