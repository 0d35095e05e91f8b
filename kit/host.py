"""The host: loads one learner's tree and serves it to the checks over a socket.

The checks never import a learner's code; this process does, inside the
sandbox, and answers questions about it as plain data: values of settings,
the shape of the ASGI app, what a WebSocket received, where the learner's
code raised or blocked. The checks judge those answers. Nothing said here is
a verdict, and a host that lies only fails its own checks.

    python -P -m kit.host FD TREE     (FD: this end of a socketpair)

One request or reply per line, JSON: {"id": 1, "op": "settings", "names": [...]}.
"""
from __future__ import annotations

import asyncio
import base64
import copy
import importlib
import inspect
import itertools
import json
import os
import re
import socket
import sys
import threading
import time
import traceback
import warnings
from pathlib import Path

from .explain import Places, sentence
from .i18n import T, pack, unpack

BLOCKED_AFTER = 0.5            # seconds the event loop may stay in one callback before it counts as blocked
FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


class Refusal(Exception):
    """What the learner's code did wrong, already said in plain words; sent back as {"error": ...}."""


def plain(value):
    """Any settings value as JSON data (what JSON cannot hold is sent as its repr)."""
    return json.loads(json.dumps(value, default=repr))


class Host:
    def __init__(self, conn: socket.socket, tree: Path):
        self.conn, self.tree = conn, tree
        self.places = Places(tree)
        self.loop = asyncio.new_event_loop()
        self.loop.set_debug(True)  # names where a never-awaited coroutine was created
        self.loop.slow_callback_duration = BLOCKED_AFTER
        self.ids = itertools.count(1)
        self.apps: dict[int, object] = {}
        self.sockets: dict[int, object] = {}
        self.clues: list[str] = []
        self.setup_error: str | None = None
        self.ready = False
        self.watching = False
        self.beat = time.monotonic()
        self.main_thread = threading.get_ident()

    # -- plumbing ------------------------------------------------------------
    def serve(self) -> None:
        warnings.simplefilter("always")
        warnings.showwarning = self.on_warning
        threading.Thread(target=self.answer_requests, daemon=True).start()
        threading.Thread(target=self.watch_loop, daemon=True).start()
        self.loop.call_soon(self.heartbeat)
        self.loop.run_forever()

    def answer_requests(self) -> None:
        reader = self.conn.makefile("r", encoding="utf-8")
        self.reply({"ready": True, "pid": os.getpid()})
        for line in reader:
            # A T's template rides beside its English (kit/i18n.py); the checks are trusted, and this sandbox
            # may not see locale/, so their templates are taken as they come.
            request = unpack(json.loads(line), known_only=False)
            limit = float(request.get("limit", 30))
            future = asyncio.run_coroutine_threadsafe(self.dispatch(request), self.loop)
            try:
                answer = future.result(timeout=limit)
            except TimeoutError:
                answer = {"blocked": self.stuck_place() or "", "limit": limit}
            except BaseException as exc:  # a kit bug, not the learner's: say it plainly
                answer = {"error": T("The kit's host failed: {error}", error=type(exc).__name__ + ": " + str(exc))}
            if self.clues:
                answer["clues"], self.clues = self.clues, []
            answer["id"] = request.get("id")
            self.reply(answer)
        os._exit(0)  # the checks hung up: nothing here is worth finishing

    def reply(self, answer: dict) -> None:
        self.conn.sendall((json.dumps(pack(answer)) + "\n").encode())

    async def dispatch(self, request: dict) -> dict:
        handler = getattr(self, "op_" + request["op"])
        accepted = inspect.signature(handler).parameters
        try:
            result = handler(**{k: v for k, v in request.items() if k in accepted})
            if asyncio.iscoroutine(result):
                result = await result
            return result if isinstance(result, dict) else {"ok": True}
        except Refusal as refusal:
            return {"error": refusal.args[0] if refusal.args and isinstance(refusal.args[0], T) else str(refusal)}

    # -- what the learner's code is doing ----------------------------------------
    def heartbeat(self) -> None:
        now = time.monotonic()
        self.longest_stall = max(getattr(self, "longest_stall", 0.0), now - self.beat)
        self.beat = now
        self.loop.call_later(0.05, self.heartbeat)

    def watch_loop(self) -> None:
        noted = set()
        while True:
            time.sleep(0.1)
            if self.watching and time.monotonic() - self.beat > BLOCKED_AFTER:
                place = self.stuck_place()
                if place and place not in noted:
                    noted.add(place)
                    self.clues.append(T(
                        "The event loop was blocked at {place}: a blocking call such as time.sleep, requests or "
                        "a sync ORM query inside an async method stops every socket. Use await asyncio.sleep, "
                        "async libraries or database_sync_to_async.", place=place))

    def stuck_place(self) -> str:
        frame = sys._current_frames().get(self.main_thread)
        if frame is None:
            return ""
        return self.places.frame_place([(f.filename, f.lineno, f.name) for f in traceback.extract_stack(frame)])

    def on_warning(self, message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message)
        if "was never awaited" not in text:
            return
        said = self.places.never_awaited(text, filename, lineno)
        if said not in self.clues:
            self.clues.append(said)

    # -- loading the tree ------------------------------------------------------------
    def django_setup(self) -> None:
        if self.ready:
            return
        if self.setup_error:
            raise Refusal(self.setup_error)
        import django

        try:
            django.setup()
        except BaseException as exc:  # SystemExit from a settings file counts too
            self.setup_error = self.places.explain(exc, T("Loading myproject/settings.py failed"))
            raise Refusal(self.setup_error) from None
        from django.conf import settings

        self.original_layers = copy.deepcopy(getattr(settings, "CHANNEL_LAYERS", {}))
        self.ready = True

    def load(self, module: str):
        self.django_setup()
        try:
            return importlib.import_module(module)
        except BaseException as exc:
            raise Refusal(self.places.explain(exc, T("Importing {module} failed", module=module))) from None

    def application(self):
        app = getattr(self.load("myproject.asgi"), "application", None)
        if app is None:
            raise Refusal(T("myproject/asgi.py has no `application`."))
        return app

    def use_in_memory_layer(self) -> None:
        """In-process checks use a fresh in-memory layer whatever the settings say."""
        from channels.layers import channel_layers
        from django.conf import settings

        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        channel_layers.backends = {}

    # -- questions about the tree -------------------------------------------------------
    def op_setup(self) -> None:
        self.django_setup()

    def op_settings(self, names: list[str]) -> dict:
        self.django_setup()
        from django.conf import settings

        found = {name: plain(getattr(settings, name)) for name in names if hasattr(settings, name)}
        return {"values": found}

    def op_importable(self, path: str) -> None:
        module_name, _, name = path.rpartition(".")
        try:
            getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise Refusal(self.places.explain(exc, T("The channel layer backend {path} cannot be imported",
                                                     path=repr(path)))) from None

    def op_patterns(self) -> dict:
        patterns = getattr(self.load("myapp.routing"), "websocket_urlpatterns", None)
        if patterns is None:
            return {"exists": False, "routes": []}
        return {"exists": True, "routes": [str(getattr(p, "pattern", p)) for p in list(patterns)]}

    def op_asgi(self) -> dict:
        from channels.routing import ProtocolTypeRouter

        app = self.application()
        info = {"type": type(app).__name__, "router": isinstance(app, ProtocolTypeRouter), "keys": [], "chain": []}
        if info["router"]:
            info["keys"] = list(app.application_mapping)
            node = app.application_mapping.get("websocket")
            for _ in range(12):
                if node is None:
                    break
                info["chain"].append(type(node).__name__)
                node = next((getattr(node, a) for a in ("inner", "application", "app") if hasattr(node, a)), None)
        return info

    async def op_http(self, path: str) -> dict:
        from channels.testing import HttpCommunicator

        app = self.application()
        try:
            response = await HttpCommunicator(app, "GET", path, headers=[(b"host", b"127.0.0.1")]).get_response(
                timeout=10)
        except BaseException as exc:
            raise Refusal(self.places.explain(exc, T("GET {path} through the ASGI app failed", path=path))) from None
        # The body as text, capped: a check reads a page's form, never a download.
        body = (response.get("body") or b"")[:200_000].decode("utf-8", errors="replace")
        return {"status": response["status"], "body": body}

    def op_app(self, kind: str) -> dict:
        """The app a check talks to: the whole project, or the consumer behind a router of the kit's."""
        from django.urls import path, re_path

        from channels.routing import URLRouter

        if kind == "project":
            app = self.application()
        else:
            consumer = getattr(self.load("myapp.consumers"), "ChatConsumer", None)
            if consumer is None:
                raise Refusal(T("myapp/consumers.py has no class ChatConsumer."))
            route = (re_path(r"^ws/chat/(?P<room_name>[^/]+)/$", consumer.as_asgi()) if kind == "any-room"
                     else path("ws/chat/<str:room_name>/", consumer.as_asgi()))
            app = URLRouter([route])
            from django.apps import apps

            # Who is logged in comes from the session cookie, as through the learner's asgi.py;
            # a tree without auth or sessions chats anonymously.
            if apps.is_installed("django.contrib.auth") and apps.is_installed("django.contrib.sessions"):
                from channels.auth import AuthMiddlewareStack

                app = AuthMiddlewareStack(app)
        self.use_in_memory_layer()
        number = next(self.ids)
        self.apps[number] = app
        return {"app": number}

    async def op_layer_roundtrip(self) -> dict:
        """One group message through the default layer exactly as the settings make it (no REDIS_URL here)."""
        self.django_setup()
        from channels.layers import channel_layers, get_channel_layer
        from django.conf import settings

        saved = settings.CHANNEL_LAYERS
        settings.CHANNEL_LAYERS, channel_layers.backends = self.original_layers, {}
        try:
            layer = get_channel_layer()
            if layer is None:
                return {"delivered": False, "problem": T("CHANNEL_LAYERS has no working 'default' layer.")}
            channel = await asyncio.wait_for(layer.new_channel(), 5)
            await asyncio.wait_for(layer.group_add("kit-check", channel), 5)
            await asyncio.wait_for(layer.group_send("kit-check", {"type": "kit.check"}), 5)
            message = await asyncio.wait_for(layer.receive(channel), 5)
            return {"delivered": message.get("type") == "kit.check"}
        except (asyncio.TimeoutError, TimeoutError):
            return {"delivered": False, "problem": T("the layer did not answer within 5 s.")}
        except BaseException as exc:
            return {"delivered": False, "problem": sentence(f"{type(exc).__name__}: {exc}")}
        finally:
            settings.CHANNEL_LAYERS, channel_layers.backends = saved, {}

    def op_groups(self) -> dict:
        from channels.layers import get_channel_layer

        return {"members": sum(len(channels) for channels in get_channel_layer().groups.values())}

    # -- users ----------------------------------------------------------------------------
    async def op_login(self, username: str, password: str = "") -> dict:
        """A user (made when new) and a session logged in as them: the cookie their browser would carry."""
        self.django_setup()
        from asgiref.sync import sync_to_async

        try:  # the ORM refuses to run on the event loop's thread: a worker thread, as a consumer would
            return await sync_to_async(self.session_for)(username, password)
        except Refusal:
            raise
        except BaseException as exc:
            raise Refusal(self.places.explain(exc, f"Logging in as {username!r} failed")) from None

    def session_for(self, username: str, password: str) -> dict:
        from . import sessions

        if not getattr(self, "migrated", False):
            sessions.migrate()  # the scratch tree's own database
            self.migrated = True
        return sessions.log_in(username, password)

    # -- history ----------------------------------------------------------------------------
    def message_model(self):
        self.django_setup()
        from django.apps import apps

        try:
            return apps.get_model("myapp", "Message")
        except LookupError:
            return None

    async def op_migrations(self) -> dict:
        """Is there a Message model, a migration for all of it, and does `migrate` run? As data."""
        from asgiref.sync import sync_to_async

        model = self.message_model()
        if model is None:
            return {"model": False}
        return await sync_to_async(self.migrate_messages)(model)

    def migrate_messages(self, model) -> dict:
        from django.apps import apps
        from django.core.management import call_command
        from django.db import connection
        from django.db.migrations.autodetector import MigrationAutodetector
        from django.db.migrations.loader import MigrationLoader
        from django.db.migrations.state import ProjectState

        try:
            loader = MigrationLoader(None, ignore_no_migrations=True)
            files = sorted(name for app, name in loader.disk_migrations if app == "myapp")
            changes = MigrationAutodetector(loader.project_state(), ProjectState.from_apps(apps)).changes(
                graph=loader.graph)
        except BaseException as exc:
            raise Refusal(self.places.explain(exc, T("Reading myapp/migrations/ failed"))) from None
        answer = {"model": True, "files": files, "unmigrated": "myapp" in changes,
                  "fields": [f.name for f in model._meta.get_fields()]}
        try:
            call_command("migrate", interactive=False, verbosity=0)
            self.migrated = True
        except BaseException as exc:
            answer["migrate"] = self.places.explain(exc, T("python manage.py migrate failed"))
            return answer
        answer["table"] = model._meta.db_table in connection.introspection.table_names()
        return answer

    async def op_add_messages(self, room: str, author: str, texts: list[str]) -> dict:
        """Rows of the learner's Message, oldest first, a second apart and an hour ago (no socket, no rate limit)."""
        from asgiref.sync import sync_to_async

        model = self.message_model()
        if model is None:
            raise Refusal(T("myapp/models.py has no Message model."))

        def add():
            import datetime

            from django.contrib.auth import get_user_model
            from django.utils import timezone

            user, _ = get_user_model().objects.get_or_create(username=author)
            start = timezone.now() - datetime.timedelta(hours=1)
            for number, text in enumerate(texts):
                row = model.objects.create(room=room, author=user, text=text)
                model.objects.filter(pk=row.pk).update(created=start + datetime.timedelta(seconds=number))
        try:
            await sync_to_async(add)()
        except BaseException as exc:
            raise Refusal(self.places.explain(exc, T("Saving a Message(room=..., author=..., text=...) failed")))
        return {"ok": True}

    def op_slow_queries(self, seconds: float, kinds: list[str] = ()) -> dict:
        """From now on each query of the Message table whose SQL starts with one of kinds sleeps `seconds`,
        in whatever thread runs it; seconds=0 ends that. The longest stall of the event loop starts over."""
        from django.db.backends import utils

        wrapper = utils.CursorWrapper
        original = getattr(wrapper, "kit_original", None) or wrapper._execute_with_wrappers
        wrapper.kit_original = original
        model = self.message_model()
        table = model._meta.db_table if model is not None else None
        wanted = tuple(kind.upper() for kind in kinds)

        def slowed(cursor, sql, params, many, executor):
            if table and table in sql and sql.lstrip().upper().startswith(wanted):
                time.sleep(seconds)
            return original(cursor, sql, params, many, executor)

        wrapper._execute_with_wrappers = slowed if seconds and table else original
        self.longest_stall = 0.0
        return {"table": table}

    def op_stall(self) -> dict:
        """The longest the event loop went without its 50 ms heartbeat since the slow queries began."""
        return {"seconds": round(max(getattr(self, "longest_stall", 0.0), time.monotonic() - self.beat), 3)}

    # -- sockets ------------------------------------------------------------------------
    def op_open(self, app: int, path: str, headers: list[list[str]]) -> dict:
        from channels.testing import WebsocketCommunicator

        number = next(self.ids)
        self.sockets[number] = WebsocketCommunicator(
            self.apps[app], path, headers=[(k.encode(), v.encode()) for k, v in headers])
        return {"socket": number}

    async def watched(self, doing: str, awaitable):
        """Run one socket operation; the learner's exception becomes a plain sentence."""
        self.watching = True
        try:
            return await awaitable
        except (asyncio.TimeoutError, TimeoutError):
            return {"timeout": True}
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            if "No route found for path" in str(exc):  # the router said no: nothing crashed
                raise Refusal(T("{error}: no pattern in websocket_urlpatterns matches it.", error=str(exc))) from None
            raise Refusal(self.places.explain(exc, doing)) from None
        finally:
            self.watching = False

    async def op_connect(self, socket: int, timeout: float, doing: str) -> dict:
        async def connect():
            accepted, code = await self.sockets[socket].connect(timeout=timeout)
            return {"accepted": bool(accepted), "code": code if isinstance(code, int) else None}
        return await self.watched(doing, connect())

    async def op_send(self, socket: int, doing: str, text: str | None = None, data: str | None = None,
                      timeout: float = 0) -> dict:
        communicator = self.sockets[socket]
        sent = (communicator.send_to(text_data=text) if data is None
                else communicator.send_to(bytes_data=base64.b64decode(data)))
        return await self.watched(doing, sent) or {"ok": True}

    @staticmethod
    def frame(output: dict) -> dict:
        frame = {"type": output["type"], "text": output.get("text"), "code": output.get("code")}
        if output["type"] == "websocket.close" and frame["code"] is None:
            frame["code"] = 1000  # a close without a code is a normal closure
        if output.get("bytes") is not None:
            frame["data"] = base64.b64encode(output["bytes"]).decode()
        return {"output": frame}

    async def op_receive(self, socket: int, timeout: float, doing: str) -> dict:
        """The next output; a timeout here also stops the consumer, as channels.testing does."""
        async def receive():
            return self.frame(await self.sockets[socket].receive_output(timeout=timeout))
        return await self.watched(doing, receive())

    async def op_next(self, socket: int, timeout: float, doing: str) -> dict:
        """The next output straight from the queue: a timeout leaves the consumer running."""
        async def take():
            return self.frame(await asyncio.wait_for(self.sockets[socket].output_queue.get(), timeout))
        return await self.watched(doing, take())

    async def op_disconnect(self, socket: int, timeout: float, doing: str) -> dict:
        async def disconnect():
            await self.sockets.pop(socket).disconnect(timeout=timeout)
            return {"ok": True}
        return await self.watched(doing, disconnect())


def main(argv: list[str]) -> None:
    conn = socket.socket(fileno=int(argv[0]))
    os.set_inheritable(conn.fileno(), False)  # nothing the learner's code starts gets this socket
    tree = Path(argv[1]).resolve()
    os.environ["DJANGO_SETTINGS_MODULE"] = "myproject.settings"
    # After the libraries, so a folder in the tree named like one (channels/, django/) does not shadow it.
    sys.path.append(str(tree))
    sys.dont_write_bytecode = True
    import channels.testing  # noqa: F401  (warm: the libraries load before the learner's code is asked for)
    import django  # noqa: F401

    Host(conn, tree).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
