"""The stage catalogue: the one place that lists the course's stages.

The CLI, the grader, the checkpoints, the notebooks and the README's stage
table all read this list; nothing else names a stage's points, files or hints.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kit.course.i18n import T
from kit.course.paths import EXERCISES_DIR, KIT_ROOT, NOTEBOOKS_DIR  # noqa: F401 (read as catalogue.KIT_ROOT)


@dataclass(frozen=True)
class Stage:
    id: str
    title: str
    points: int
    builds: str                      # what the learner builds, one line
    files: tuple[str, ...]           # project files the learner edits in this stage
    notebook: str                    # file name under notebooks/
    hints: tuple[str, ...] = field(default=())
    live: bool = False               # needs real services (daphne, Redis, a browser), not just imports
    # Files this stage's checks rely on although the stage has the learner write none of them (push relays
    # through the consumer's chat_message): a later stage changing one re-checks this stage (rechecks()).
    uses: tuple[str, ...] = ()

    @property
    def checkpoint(self) -> Path:
        return EXERCISES_DIR / f"test_{self.id}.py"

    @property
    def available(self) -> bool:
        """A stage whose checkpoint module is not written yet cannot be graded."""
        return self.checkpoint.exists()

    @property
    def number(self) -> int:
        return STAGES.index(self) + 1


STAGES: tuple[Stage, ...] = (
    Stage(
        id="settings",
        title="Settings",
        points=10,
        builds="INSTALLED_APPS (daphne, channels, myapp), ASGI_APPLICATION, CHANNEL_LAYERS",
        files=("myproject/settings.py",),
        notebook="01_settings.ipynb",
        hints=(
            "Put 'daphne' first in INSTALLED_APPS, add 'channels', keep 'myapp'.",
            "ASGI_APPLICATION is a dotted path: 'myproject.asgi.application'.",
            "CHANNEL_LAYERS needs a 'default' entry; start with channels.layers.InMemoryChannelLayer.",
        ),
    ),
    Stage(
        id="asgi",
        title="ASGI application",
        points=10,
        builds="ProtocolTypeRouter with http and websocket, AuthMiddlewareStack, URLRouter",
        files=("myproject/asgi.py",),
        notebook="02_asgi.ipynb",
        hints=(
            "Call get_asgi_application() before importing myapp.routing, so Django is set up first.",
            "application = ProtocolTypeRouter({'http': ..., 'websocket': AuthMiddlewareStack(URLRouter(...))}).",
        ),
    ),
    Stage(
        id="consumer",
        title="Chat consumer",
        points=20,
        builds="ChatConsumer: join the room's group, broadcast to it, leave it",
        files=("myapp/consumers.py",),
        notebook="03_consumer.ipynb",
        hints=(
            "connect(): group_add(group, self.channel_name), then accept().",
            "receive(): group_send(group, {'type': 'chat.message', 'message': ...}), not self.send().",
            "The event type 'chat.message' calls the method chat_message; it sends {'message': ...} to the socket.",
            "disconnect(): group_discard(group, self.channel_name).",
        ),
    ),
    Stage(
        id="routing",
        title="WebSocket routing",
        points=10,
        builds="websocket_urlpatterns for ws/chat/<room_name>/",
        files=("myapp/routing.py",),
        notebook="04_routing.ipynb",
        hints=(
            "websocket_urlpatterns = [re_path(r'^ws/chat/(?P<room_name>[^/]+)/$', consumers.ChatConsumer.as_asgi())].",
            "The keyword must be room_name: the consumer reads scope['url_route']['kwargs']['room_name'].",
        ),
    ),
    Stage(
        id="frontend",
        live=True,
        title="The chat page",
        points=15,
        builds="room.html JavaScript: connect, send on click and Enter, append messages",
        files=("myapp/templates/myapp/room.html",),
        notebook="05_frontend.ipynb",
        hints=(
            "Build the socket URL from window.location: ws: for http:, wss: for https:, and location.host.",
            "Send JSON: socket.send(JSON.stringify({message: text})).",
            "In onmessage, parse JSON and append data.message + '\\n' to the chat-log textarea's value.",
        ),
    ),
    Stage(
        id="daphne",
        live=True,
        title="Serving with daphne",
        points=10,
        builds="daphne serving the project; clients in two rooms",
        files=(),  # nothing new to write: this stage runs the earlier stages' files under daphne
        notebook="06_daphne.ipynb",
        hints=(
            "Run `kit serve` and read daphne's log: the first traceback names the file to fix.",
            "Every earlier in-process stage should pass before this one.",
        ),
    ),
    Stage(
        id="redis",
        live=True,
        title="Scaling out on Redis",
        points=10,
        builds="RedisPubSubChannelLayer from REDIS_URL; two daphne workers on one Redis",
        files=("myproject/settings.py",),
        notebook="07_redis.ipynb",
        hints=(
            "When REDIS_URL is set, CHANNEL_LAYERS uses channels_redis.pubsub.RedisPubSubChannelLayer with "
            "hosts=[REDIS_URL] (channels_redis.core.RedisChannelLayer works too, with the hosts "
            "[{\"address\": REDIS_URL, \"socket_timeout\": None}]).",
            "Without REDIS_URL keep the in-memory layer, so one process still works.",
        ),
    ),
    Stage(
        id="hardening",
        live=True,
        title="Hardening",
        points=15,
        builds="bad JSON, missing or oversized message, foreign Origin, non-ASCII room, rate limit, no XSS",
        # routing.py too: a tutorial-style \w+ route must widen to let Bengali room names reach the consumer.
        files=("myapp/consumers.py", "myproject/settings.py", "myproject/asgi.py", "myapp/routing.py",
               "myapp/templates/myapp/room.html"),
        notebook="08_hardening.ipynb",
        hints=(
            "Never trust a frame: parse JSON inside try/except and answer bad input with an error frame.",
            "Wrap the websocket app in AllowedHostsOriginValidator.",
            "Group names allow only ASCII letters, digits, '-', '_' and '.', under 100 characters: hash anything else.",
        ),
    ),
    Stage(
        id="push",
        live=True,
        title="Push from Django",
        points=10,
        builds="send_to_room() for sync code, `manage.py announce ROOM TEXT`, a staff-only announce view",
        files=("myapp/push.py", "myapp/management/commands/announce.py", "myapp/views.py", "myapp/urls.py"),
        uses=("myapp/consumers.py",),
        notebook="09_push.ipynb",
        hints=(
            "From sync code: async_to_sync(get_channel_layer().group_send)(group, {'type': 'chat.message', ...}).",
            "Name the group with the consumer's own mapping, so any room a socket can join is reachable.",
            "Another process reaches daphne's sockets only over a shared layer: run it with REDIS_URL set.",
        ),
    ),
    Stage(
        id="users",
        live=True,
        title="Who said it",
        points=10,
        builds="Django login pages; each message's author from scope[\"user\"], never the client; "
               "anonymous sockets cannot post; the page shows authors",
        files=("myapp/consumers.py", "myproject/urls.py", "myapp/templates/registration/login.html",
               "myapp/templates/myapp/room.html"),
        notebook="10_users.ipynb",
        hints=(
            "The author is self.scope['user'].get_username(), put in the group event by the server.",
            "Anonymous sockets (not scope['user'].is_authenticated) are refused in connect() or get an "
            "error frame for each post.",
            "path('accounts/', include('django.contrib.auth.urls')) and registration/login.html give the login page.",
        ),
    ),
    Stage(
        id="history",
        live=True,
        title="Messages that stay",
        points=10,
        builds="a Message model and its migration; every relayed message saved with database_sync_to_async; "
               "the room's last 50 sent to a socket that joins, oldest first, marked as history",
        files=("myapp/models.py", "myapp/migrations/0001_initial.py", "myapp/consumers.py",
               "myproject/settings.py"),
        notebook="11_history.ipynb",
        hints=(
            "class Message(models.Model) with room, author, text and created; then `python manage.py "
            "makemigrations myapp`.",
            "Save with a method decorated @database_sync_to_async: the ORM never runs on the event loop.",
            "In connect(), after accept(): the room's newest 50 (order_by('-created')[:50]), reversed, each sent "
            "as {'message', 'author', 'history': True} with self.send().",
        ),
    ),
    Stage(
        id="testing",
        live=True,  # runs the learner's test suite several times, each in a sandbox of its own
        title="Testing consumers",
        points=10,
        builds="myapp/tests/test_consumers.py: WebsocketCommunicator tests that catch broken consumers",
        files=("myapp/tests/test_consumers.py",),
        notebook="12_testing.ipynb",
        hints=(
            "Drive the consumer with channels.testing.WebsocketCommunicator inside asyncio.run(...).",
            "Test behaviour, never source text: the checkpoint swaps in consumers of its own.",
            "One test per promise: join, everyone in the room hears, rooms apart, leave on close, bad frames refused.",
        ),
    ),
)

WELCOME_NOTEBOOK = "00_welcome.ipynb"
# The files every tree holds from part one on: a tree without one of them is not gradable.
CORE_FILES = (
    "manage.py",
    "myproject/__init__.py", "myproject/settings.py", "myproject/asgi.py", "myproject/urls.py",
    "myapp/__init__.py", "myapp/apps.py", "myapp/consumers.py", "myapp/routing.py",
    "myapp/urls.py", "myapp/views.py",
    "myapp/templates/myapp/index.html", "myapp/templates/myapp/room.html",
)
# Files a learner makes with a command rather than by hand (`python manage.py makemigrations myapp`):
# a stage's own, solved and graded, but the starter has none, so a tree need not hold them.
MADE_BY_COMMANDS = ("myapp/migrations/0001_initial.py",)
# Every file of the project contract: the shared ones, then each stage's own, in course order.
PROJECT_FILES = tuple(f for f in dict.fromkeys(CORE_FILES + tuple(f for stage in STAGES for f in stage.files))
                      if f not in MADE_BY_COMMANDS)

_BY_ID = {stage.id: stage for stage in STAGES}


class UnknownStage(LookupError):
    """A stage id the catalogue does not have; the message names the ones it has."""


def get(stage_id: str) -> Stage:
    try:
        return _BY_ID[stage_id]
    except KeyError:
        known = ", ".join(_BY_ID)
        raise UnknownStage(T("unknown stage {stage}; the stages are: {known}", stage=repr(stage_id),
                             known=known)) from None


def hint_ladder(stage_id: str, test_name: str, template: dict | None = None) -> tuple[str, ...]:
    """A check's hints, nudge first, near the answer last; the stage's own hints when it has none.

    test_name is the check's name as reports give it: a parametrize suffix
    ('test_bad_frame_is_refused[not-json]') shares its function's ladder. template is the failure's
    message data (kit/course/i18n.py): a failure that names its own cause has its own ladder (kit/course/hint_ladders/causes.toml).
    """
    from kit.course.hints import ladder_for

    stage = get(stage_id)
    return ladder_for(stage.id, test_name, template) or stage.hints


def hint_for(stage_id: str, test_name: str, level: int = 0) -> str:
    """Rung `level` of the check's ladder (0 is the nudge); past the top, the top rung."""
    ladder = hint_ladder(stage_id, test_name)
    return ladder[max(0, min(level, len(ladder) - 1))] if ladder else ""


def stage_of_module(path: str) -> str:
    """'test_consumer.py' and a hidden 'test_consumer_extra.py' both belong to stage consumer."""
    name = Path(path).stem.removeprefix("test_")
    for stage in sorted(STAGES, key=lambda s: -len(s.id)):  # longest first, should one id begin another
        if name == stage.id or name.startswith(stage.id + "_"):
            return stage.id
    return name


def rechecks(stage_id: str) -> tuple[Stage, ...]:
    """The earlier stages a change made in this stage can break, in course order: for each of the stage's
    files, the latest earlier stage that has the learner write it or whose checks rely on it (`uses`).

    The latest one only: it was itself re-checked against the stages before it when it was checked, and
    a checkpoint stays quick. users re-checks push (both need myapp/consumers.py) and hardening (room.html).
    """
    stage = get(stage_id)
    found = set()
    for path in stage.files:
        for earlier in reversed(STAGES[:STAGES.index(stage)]):
            if path in earlier.files or path in earlier.uses:
                found.add(earlier.id)
                break
    return tuple(s for s in STAGES if s.id in found)


def stages_for_file(relpath: str) -> list[Stage]:
    """Every stage whose work lives (partly) in this project file."""
    return [stage for stage in STAGES if relpath in stage.files]


def markdown_table() -> str:
    """The README's stage table, made from this catalogue (tests/test_docs.py keeps them equal)."""
    rows = ["| # | stage | you build | points | notebook |", "|---|---|---|---|---|"]
    for stage in STAGES:
        builds = stage.builds.replace("<", "&lt;").replace(">", "&gt;")
        rows.append(f"| {stage.number} | `{stage.id}` | {builds} | {stage.points} | "
                    f"[{stage.notebook}](notebooks/{stage.notebook}) |")
    rows.append(f"| | | **total** | **{sum(s.points for s in STAGES)}** | |")
    return "\n".join(rows)
