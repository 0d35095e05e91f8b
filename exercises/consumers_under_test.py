"""The consumers the `testing` checkpoint tries a learner's tests on, written afresh for every run.

Four consumers written independently of each other (AsyncWebsocketConsumer, AsyncJsonWebsocketConsumer, a
synchronous WebsocketConsumer through async_to_sync, a bare AsyncConsumer) keep the part-one contract: join
the room's group (a readable name or a hash, so that any room name works), relay {"message", "author"} to
everyone in the room, the sender included, answer a frame that is not JSON or holds no text with {"error"} to
the sender alone, leave the group on close. A broken consumer is one of them, drawn at random, with one
promise broken in one of several ways. Names, strings, hashes, event keys, helper structure and the order of
methods are drawn afresh each time, and every consumer carries spare methods, never called, borrowed from the
other variants (broken ones too): no line of text and no name in the bytecode tells broken from correct.
"""
from __future__ import annotations

import random

STYLES = ("async", "json", "sync", "raw")
FAULTS = ("only-the-sender", "not-the-sender", "one-group", "never-leaves", "wrong-key",
          "crashes-on-bad-json", "ascii-only-rooms")
CHANCE = random.SystemRandom()

WORDS = ("room", "chat", "talk", "group", "hall", "lobby", "circle")
GROUP_ATTRS = ("group", "room_group_name", "group_name", "room_group", "audience", "members")
HELPERS = ("room_group", "group_for", "group_of", "to_group", "group_name_for", "channel_group", "name_group")
EVENT_TYPES = ("chat.message", "chat.relay", "room.message", "chat.broadcast", "chat.say")
TEXT_KEYS = ("message", "text", "body", "content", "said")
AUTHOR_KEYS = ("author", "user", "username", "who", "writer")
WRONG_KEYS = ("text", "msg", "body", "content", "data", "chat")
HASHES = ("hashlib.sha256", "hashlib.sha1", "hashlib.md5", "hashlib.sha224", "hashlib.blake2s")
NOT_JSON = ("That frame was not JSON.", "Send JSON such as {\"message\": \"hi\"}.", "Frames must be JSON.",
            "Could not read that frame as JSON.")
NO_TEXT = ("A frame needs a text message.", "Empty messages are not sent.", "Send {\"message\": \"some text\"}.",
           "Nothing to send: the message is missing or empty.")
BASES = {"async": "AsyncWebsocketConsumer", "json": "AsyncJsonWebsocketConsumer", "sync": "WebsocketConsumer",
         "raw": "AsyncConsumer"}


def pick(options):
    return CHANCE.choice(options)


def block(lines, depth: int) -> str:
    return "".join(("    " * depth + line if line else "") + "\n" for line in lines)


class Writer:
    """One consumer: names drawn at construction, pieces rendered for its style, one fault at most."""

    def __init__(self, style: str, fault: str | None):
        self.style, self.fault = style, fault
        self.asynchronous = style != "sync"
        self.attr = pick(GROUP_ATTRS) + pick(("", "", f"_{CHANCE.randrange(10, 99)}"))
        self.helper = pick([name for name in HELPERS if name != self.attr])
        self.as_method = CHANCE.random() < 0.4
        self.kind = pick(EVENT_TYPES)
        self.handler = self.kind.replace(".", "_")
        self.text_key, self.author_key = pick(TEXT_KEYS), pick(AUTHOR_KEYS)
        self.sender_key = pick(("sender", "origin", "from_channel", "channel"))
        plain, hashed = CHANCE.sample(WORDS, 2)
        self.plain = plain + pick(("_", ".", "-"))
        self.hashed = hashed + pick(("-", "_", "."))
        self.hash = pick(HASHES)
        self.check = pick(("regex", "set", "ascii", "hash-all"))
        self.not_json, self.no_text = pick(NOT_JSON), pick(NO_TEXT)
        self.way = CHANCE.randrange(3)  # which of a fault's several ways (or of the correct ones)

    # -- small pieces, in this consumer's style -------------------------------------------------
    def aw(self, call: str) -> str:
        return f"await {call}" if self.asynchronous else call

    def layer(self, method: str, args: str) -> str:
        if self.asynchronous:
            return f"await self.channel_layer.{method}({args})"
        return f"async_to_sync(self.channel_layer.{method})({args})"

    def frame(self, content: str) -> str:
        return {"async": f"await self.send(text_data=json.dumps({content}))",
                "json": f"await self.send_json({content})",
                "sync": f"self.send(text_data=json.dumps({content}))",
                "raw": f'await self.send({{"type": "websocket.send", "text": json.dumps({content})}})'}[self.style]

    def define(self, name: str, args: str) -> str:
        return f"{'async def' if self.asynchronous else 'def'} {name}(self{args}):"

    def group_of(self, room: str) -> str:
        return f"self.{self.helper}({room})" if self.as_method else f"{self.helper}({room})"

    # -- the group's name ---------------------------------------------------------------------
    def naming(self) -> list[str]:
        hashed = f'return "{self.hashed}" + {self.hash}(room.encode("utf-8")).hexdigest()'
        readable = {"regex": 're.fullmatch(r"[A-Za-z0-9_.-]{1,80}", room)',
                    "set": "len(room) <= 80 and set(room) <= SAFE",
                    "ascii": 'room.isascii() and room.replace("-", "a").replace("_", "a").replace(".", "a")'
                             '.isalnum() and len(room) < 81'}
        if self.fault == "one-group" and self.way == 0:
            return [f'return "{self.plain}" + "{pick(("all", "lobby", "main"))}"']
        if self.fault == "ascii-only-rooms":
            if self.way == 0:
                return [f'return "{self.plain}" + room']
            return ["if len(room) <= 80:", f'    return "{self.plain}" + room', hashed]
        if self.check == "hash-all":
            return [hashed]
        return [f"if {readable[self.check]}:", f'    return "{self.plain}" + room', hashed]

    def helper_text(self, depth: int) -> str:
        head = ["@staticmethod"] if self.as_method else []
        return block([*head, f"def {self.helper}(room):"], depth) + block(self.naming(), depth + 1)

    def room(self) -> str:
        return self.room_as(self.way if self.fault == "one-group" else 0)

    @staticmethod
    def room_as(way: int) -> str:
        return ('self.scope["url_route"]["kwargs"]["room_name"]',
                'self.scope["url_route"]["kwargs"].get("room", "lobby")',  # no such key: always "lobby"
                'self.scope["path"].strip("/").split("/")[0]')[way]         # "ws", whatever the room

    # -- the methods --------------------------------------------------------------------------
    def connect(self) -> list[str]:
        by_list = self.style != "raw" and self.way == 1 and self.fault in (None, "never-leaves")
        name = "websocket_connect" if self.style == "raw" else "connect"
        lines = [self.define(name, ", message" if self.style == "raw" else ""),
                 f"    self.{self.attr} = {self.group_of(self.room())}"]
        if by_list:  # the base class leaves every group in self.groups when the socket closes
            target = f"self.{self.attr}" + (".upper()" if self.fault == "never-leaves" else "")
            lines.append(f"    self.groups.append({target})")
        lines.append("    " + self.layer("group_add", f"self.{self.attr}, self.channel_name"))
        if self.fault == "not-the-sender" and self.way == 1:
            lines.append(f"    self.{self.sender_key} = uuid.uuid4().hex")
        accept = {"raw": 'await self.send({"type": "websocket.accept"})'}.get(self.style, self.aw("self.accept()"))
        return lines + ["    " + accept]

    def disconnect(self) -> list[str]:
        raw = self.style == "raw"
        leave = self.layer("group_discard", f"self.{self.attr}, self.channel_name")
        body = [leave]
        if self.style != "raw" and self.way == 1 and self.fault in (None, "never-leaves"):
            body = []  # left through self.groups (or, broken, a group it never joined)
        elif self.fault == "never-leaves":
            body = [[], [self.layer("group_discard", f"self.{self.attr}.upper(), self.channel_name")],
                    ["if close_code == 4000:", "    " + leave]][self.way]
        if raw:
            body = ['close_code = message.get("code")', *body, "raise StopConsumer()"]
        if not body:
            return []
        return [self.define("websocket_disconnect" if raw else "disconnect", ", message" if raw else ", close_code"),
                *("    " + line for line in body)]

    def parse(self) -> list[str]:
        """Lines that leave `message` holding the text to relay, or answer the sender and return."""
        broken = self.fault == "crashes-on-bad-json"
        caught = "(KeyError, TypeError)" if broken else pick(("(TypeError, ValueError)", "(ValueError, TypeError)"))
        refuse = [f"    {self.frame(repr({'error': self.not_json}))}", "    return"]
        empty = ["if not isinstance(message, str) or not message.strip():",
                 f"    {self.frame(repr({'error': self.no_text}))}", "    return"]
        if self.way == 0:
            load = ["data = json.loads(text_data)"] if broken else \
                ["try:", "    data = json.loads(text_data)", f"except {caught}:", *refuse]
            return [*load, 'message = data.get("message") if isinstance(data, dict) else None', *empty]
        if self.way == 1:
            return ["try:", '    message = json.loads(text_data)["message"]',
                    f"except {caught[:-1] + ', KeyError)' if not broken else caught}:", *refuse, *empty]
        return ["try:", "    data = json.loads(text_data)", "    message = data.get(\"message\")",
                f"except {'(KeyError, AttributeError)' if broken else '(AttributeError, TypeError, ValueError)'}:",
                *refuse, *empty]

    def author(self) -> str:
        return pick(('author = user.get_username() if user is not None and user.is_authenticated else ""',
                     'author = getattr(user, "username", "") if getattr(user, "is_authenticated", False) else ""'))

    def relay(self) -> list[str]:
        event = (f'{{"type": "{self.kind}", "{self.text_key}": message, "{self.author_key}": author'
                 + (f', "{self.sender_key}": self.channel_name' if self.fault == "not-the-sender" and self.way != 1
                    else f', "{self.sender_key}": self.{self.sender_key}' if self.fault == "not-the-sender"
                    else (f', "{self.sender_key}": self.channel_name' if CHANCE.random() < 0.3 else "")) + "}")
        send = self.layer("group_send", f"self.{self.attr}, {event}")
        if self.fault == "only-the-sender":
            send = [self.aw(f"self.{self.handler}({event})"),
                    self.layer("send", f"self.channel_name, {event}"),
                    self.frame('{"message": message, "author": author}')][self.way]
        # The layer's own failures (Redis away) answered, as the lessons teach; always where no other try is.
        if CHANCE.random() < 0.5 or (self.fault == "crashes-on-bad-json" and self.way == 0):
            send = ["try:", "    " + send, "except OSError:", "    " + self.frame(repr({"error": "Not sent."}))]
        return ['user = self.scope.get("user")', self.author(), *([send] if isinstance(send, str) else send)]

    def receive(self) -> list[str]:
        if self.style == "raw":
            head = [self.define("websocket_receive", ", message"), '    text_data = message.get("text")']
        else:
            head = [self.define("receive", ", text_data=None, bytes_data=None" +
                                (", **kwargs" if self.style == "json" else ""))]
        return head + ["    " + line for line in self.parse() + self.relay()]

    def deliver(self) -> list[str]:
        key = "message" if self.fault != "wrong-key" else pick(WRONG_KEYS)
        content = self.relayed(key, nested=self.fault == "wrong-key" and self.way == 2)
        lines = [self.define(self.handler, ", event")]
        if self.fault == "not-the-sender":
            mine = "self.channel_name" if self.way != 1 else f"self.{self.sender_key}"
            lines += [f'    if event.get("{self.sender_key}") == {mine}:', "        return"]
        return lines + ["    " + self.frame(content)]

    def relayed(self, key: str, nested: bool = False) -> str:
        """The frame a handler sends for an event: {key: text, "author": ...}, or the pair nested under key."""
        pair = f'"message": event["{self.text_key}"], "author": event.get("{self.author_key}", "")'
        return f'{{"{key}": {{{pair}}}}}' if nested else "{" + pair.replace('"message"', f'"{key}"', 1) + "}"

    def spare(self) -> list[str]:
        """A method nobody calls, holding lines that other variants (correct and broken) run."""
        name = f"_{pick(('spare', 'unused', 'old', 'draft', 'alt'))}_{CHANCE.randrange(16 ** 4):04x}"
        sender = pick(("", f', "{self.sender_key}": self.channel_name',
                       f', "{self.sender_key}": self.{self.sender_key}'))
        event = f'{{"type": "{self.kind}", "{self.text_key}": message, "{self.author_key}": author{sender}}}'
        leave = self.layer("group_discard", f"self.{self.attr}, self.channel_name")
        fragments = (
            [self.aw(f"self.{self.handler}({event})")], [self.layer("send", f"self.channel_name, {event}")],
            [self.frame('{"message": message, "author": author}')],
            [self.layer("group_send", f"self.{self.attr}, {event}")],
            [f'if event.get("{self.sender_key}") == self.channel_name:', "    return"],
            [f'if event.get("{self.sender_key}") == self.{self.sender_key}:', "    return"],
            [f"self.{self.sender_key} = uuid.uuid4().hex"],
            [f'return "{self.plain}" + "{pick(("all", "lobby", "main"))}"'], [f'return "{self.plain}" + room'],
            ["if len(room) <= 80:", f'    return "{self.plain}" + room'],
            [f'self.{self.attr} = {self.group_of(self.room_as(pick((1, 2))))}'],
            ["if close_code == 4000:", "    " + leave], [leave], [f"self.groups.append(self.{self.attr}.upper())"],
            [self.layer("group_discard", f"self.{self.attr}.upper(), self.channel_name")],
            [self.frame(self.relayed(pick(WRONG_KEYS)))], [self.frame(self.relayed(pick(WRONG_KEYS), nested=True))],
            ["try:", "    data = json.loads(text_data)",
             f"except {pick(('(KeyError, TypeError)', '(KeyError, AttributeError)'))}:", "    return"],
            ["data = json.loads(text_data)"])
        body = [line for fragment in CHANCE.sample(fragments, CHANCE.randrange(1, 4)) for line in fragment]
        return [self.define(name, ", event=None, message='', author='', room='', close_code=None, text_data=''"),
                *("    " + line for line in body)]

    # -- the whole file -----------------------------------------------------------------------
    def text(self) -> str:
        imports = ["import hashlib", "import json", "import re", "import string", "import uuid", "",
                   "from asgiref.sync import async_to_sync",
                   f"from channels.generic.websocket import {BASES[self.style]}" if self.style != "raw" else
                   "from channels.consumer import AsyncConsumer",
                   "from channels.exceptions import StopConsumer"]
        methods = [self.connect(), self.disconnect(), self.receive(), self.deliver(),
                   *(self.spare() for _ in range(CHANCE.randrange(1, 4)))]
        methods = [m for m in methods if m]
        CHANCE.shuffle(methods)
        if self.as_method:
            methods.append(None)  # the helper, as a static method
        body = "".join(block(m, 1) + "\n" if m else self.helper_text(1) + "\n" for m in methods)
        top = [f'"""A chat consumer the kit wrote to try your tests ({CHANCE.getrandbits(64):016x})."""',
               *imports, "", 'SAFE = set(string.ascii_letters + string.digits + "_.-")', ""]
        helper = "" if self.as_method else "\n" + self.helper_text(0) + "\n"
        klass = f"\nclass ChatConsumer({BASES[self.style]}):\n" + body
        parts = [helper, klass] if CHANCE.random() < 0.5 else [klass, helper]
        return block(top, 0) + "".join(parts).rstrip() + "\n"


def consumer(style: str | None = None, fault: str | None = None) -> str:
    """The text of one consumer: style drawn at random when not given; correct when fault is None."""
    return Writer(style or pick(STYLES), fault).text()
