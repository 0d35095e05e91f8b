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

# One process can use the in-memory layer; several workers need Redis.
# capacity: how many messages may wait in one socket's channel before the layer
# drops new ones *silently*. The default, 100, is overrun by a handful of
# clients typing fast into one room (a burst of 5 x 300 messages loses most of
# them: see benchmarks/load.py). 10_000 holds any backlog the rate limit below
# allows (a full room of senders for many seconds) at a few MB at worst, and
# costs nothing while queues are short. Raising it does not slow delivery.
CHANNEL_CAPACITY = int(os.environ.get("CHAT_CHANNEL_CAPACITY", "10000"))
REDIS_URL = os.environ.get("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py's pool refuses a 101st simultaneous command ("Too many connections"),
            # which a hundred sockets joining one worker at once reach: allow more.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "max_connections": 1000}],
                       "capacity": CHANNEL_CAPACITY},
        },
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": CHANNEL_CAPACITY},
        },
    }

# Hardening limits, read by myapp/consumers.py. Longer messages are refused with
# an error frame, never relayed (daphne itself cuts frames over 1 MiB).
CHAT_MAX_MESSAGE_LENGTH = int(os.environ.get("CHAT_MAX_MESSAGE_LENGTH", "2000"))
# Messages a second one socket may send (a token bucket: bursts up to this
# many, then this many a second). People type far slower; floods are refused.
CHAT_RATE_LIMIT = int(os.environ.get("CHAT_RATE_LIMIT", "10"))

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
    }
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
