"""The host: loads one learner's tree and serves it, inside the sandbox, to the checks.

The checks never import a learner's code; this process does. It serves the
learner's ASGI app (or the kit's router around the learner's consumer) on a
listening Unix socket the checker made and handed over (kit/grading/serving.py), and
the checker's own HTTP and WebSocket clients observe what comes back: those
observations are what points are given for. Over a second socket it answers
questions as plain data: values of settings, the shape of the app, where
the learner's code raised or blocked (group membership is read by the checker
itself, on its own Redis: exercises/support/layer.py Layer). This is the learner's own
interpreter, so every answer is a claim their code could forge: an answer may
explain a failure, and the facts without behaviour (docs/architecture.md
lists them) may be asked, but no stage passes on answers alone.

    python -P -m kit.grading.host FD LISTEN_FD TREE   (FD: this end of a socketpair; LISTEN_FD: the listening socket)

One request or reply per line, JSON: {"id": 1, "op": "settings", "names": [...]}. The apps it serves are
kit/grading/host_apps.py, its questions about the database kit/grading/host_database.py.
"""
from __future__ import annotations

import asyncio
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

from kit.services.daphne_app import checks_layer
from kit.grading.explain import Places
from kit.course.i18n import T, pack, unpack
from kit.grading.host_apps import Apps
from kit.grading.host_base import Refusal, plain
from kit.grading.host_database import Database
from kit.grading.serving import Server

BLOCKED_AFTER = 0.5            # seconds the event loop may stay in one callback before it counts as blocked
THREAD_OPS = ("why", "clues")  # answered from the reading thread: they must work while the loop is blocked
FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


class Host(Apps, Database):
    def __init__(self, conn: socket.socket, listening: socket.socket, tree: Path):
        self.conn, self.tree = conn, tree
        self.server = Server(listening, self.chosen_app, self.crashed)
        self.crashes: dict[str, BaseException] = {}
        self.places = Places(tree)
        self.loop = asyncio.new_event_loop()
        self.loop.set_debug(True)  # names where a never-awaited coroutine was created
        self.loop.slow_callback_duration = BLOCKED_AFTER
        self.ids = itertools.count(1)
        self.apps: dict[int, object] = {}
        self.clues: list[str] = []
        self.setup_error: str | None = None
        self.ready = False
        self.beat = time.monotonic()
        self.main_thread = threading.get_ident()

    # -- plumbing ------------------------------------------------------------
    def serve(self) -> None:
        warnings.simplefilter("always")
        warnings.showwarning = self.on_warning
        threading.Thread(target=self.answer_requests, daemon=True).start()
        threading.Thread(target=self.watch_loop, daemon=True).start()
        self.loop.call_soon(self.heartbeat)
        self.loop.run_until_complete(self.server.start())
        self.loop.run_forever()

    def answer_requests(self) -> None:
        reader = self.conn.makefile("r", encoding="utf-8")
        self.reply({"ready": True, "pid": os.getpid()})
        for line in reader:
            # A T's template rides beside its English (kit/course/i18n.py); the checks are trusted, and this sandbox
            # may not see locale/, so their templates are taken as they come.
            request = unpack(json.loads(line), known_only=False)
            limit = float(request.get("limit", 30))
            try:
                if request.get("op") in THREAD_OPS:
                    answer = getattr(self, "op_" + request["op"])(request)
                else:
                    answer = asyncio.run_coroutine_threadsafe(self.dispatch(request), self.loop).result(timeout=limit)
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
        self.beat = time.monotonic()
        self.loop.call_later(0.05, self.heartbeat)

    @property
    def watching(self) -> bool:
        """A blocked loop matters while a socket is open: every socket of the server stops with it."""
        return any(not link.left() for link in list(self.server.links))

    def watch_loop(self) -> None:
        noted = set()
        while True:
            time.sleep(0.1)
            if time.monotonic() - self.beat > BLOCKED_AFTER and self.watching:
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

    def use_checks_layer(self) -> None:
        """In-process checks use the checker's layer whatever the settings say: a fresh in-memory one, or,
        when the checker gave a Redis (KIT_LAYER_REDIS), channels_redis on it, where the checker reads the
        groups and sends to them itself (an answer from this process about groups would be a claim)."""
        from channels.layers import channel_layers
        from django.conf import settings

        url = os.environ.get("KIT_LAYER_REDIS")
        if url:
            settings.CHANNEL_LAYERS = {"default": checks_layer(url)}
        else:
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

    def crashed(self, number: str, exc: BaseException) -> None:
        self.crashes[number] = exc

    # -- why a socket failed (from the reading thread) -------------------------------------
    def op_why(self, request: dict) -> dict:
        """The exception that ended the named socket, said in the learner's terms, or nothing."""
        exc = self.crashes.pop(str(request.get("socket")), None)
        if exc is None:
            return {"why": ""}
        if "No route found for path" in str(exc):  # the router said no: nothing crashed
            return {"why": T("{error}: no pattern in websocket_urlpatterns matches it.", error=str(exc))}
        return {"why": self.places.explain(exc, request.get("doing") or "")}

    def op_clues(self, request: dict) -> dict:
        return {}  # the clues ride on every answer


def main(argv: list[str]) -> None:
    conn, listening = socket.socket(fileno=int(argv[0])), socket.socket(fileno=int(argv[1]))
    for sock in (conn, listening):
        os.set_inheritable(sock.fileno(), False)  # nothing the learner's code starts gets these sockets
    tree = Path(argv[2]).resolve()
    os.environ["DJANGO_SETTINGS_MODULE"] = "myproject.settings"
    # After the libraries, so a folder in the tree named like one (channels/, django/) does not shadow it.
    sys.path.append(str(tree))
    sys.dont_write_bytecode = True
    import channels.routing  # noqa: F401  (warm: the libraries load before the learner's code is asked for)
    import django  # noqa: F401

    Host(conn, listening, tree).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
