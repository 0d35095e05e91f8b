"""Realistic learner mistakes, each caught by the right stage; correct alternative styles pass.

Mutants start from the tutorial's own tree (tests/classic.py), so they do not
depend on how solutions/ hardens its code; other correct styles are written
whole here.
"""
import textwrap

import pytest

import classic as CLASSIC
from classic import classic_tree
from conftest import grade_json, mutate, stage

SYNC_CONSUMER = textwrap.dedent('''\
    import json

    from asgiref.sync import async_to_sync
    from channels.generic.websocket import WebsocketConsumer


    class ChatConsumer(WebsocketConsumer):
        def connect(self):
            self.group = "chat_" + self.scope["url_route"]["kwargs"]["room_name"]
            async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
            self.accept()

        def disconnect(self, close_code):
            async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

        def receive(self, text_data=None, bytes_data=None):
            message = json.loads(text_data)["message"]
            async_to_sync(self.channel_layer.group_send)(self.group, {"type": "chat.message", "message": message})

        def chat_message(self, event):
            self.send(text_data=json.dumps({"message": event["message"]}))
''')

JSON_CONSUMER = textwrap.dedent('''\
    import time

    from channels.generic.websocket import AsyncJsonWebsocketConsumer


    class ChatConsumer(AsyncJsonWebsocketConsumer):
        async def connect(self):
            self.group = "room." + self.scope["url_route"]["kwargs"]["room_name"]
            await self.channel_layer.group_add(self.group, self.channel_name)
            await self.accept()

        async def disconnect(self, code):
            await self.channel_layer.group_discard(self.group, self.channel_name)

        async def receive_json(self, content, **kwargs):
            await self.channel_layer.group_send(
                self.group, {"type": "relay", "message": content["message"], "sent_at": time.time()})

        async def relay(self, event):
            await self.send_json({"message": event["message"], "sent_at": event["sent_at"], "room": self.group})
''')

CONSUMER = "myapp/consumers.py"
ROUTING = "myapp/routing.py"
SETTINGS = "myproject/settings.py"
ASGI = "myproject/asgi.py"


def classic(tree):
    """The tutorial's own tree (tests/classic.py): the baseline of every mutant.

    Settings mutants append an override to settings.py, the way a learner's
    later line undoes an earlier one.
    """
    return classic_tree(tree.parent / "classic")


APPEND = object()  # marks a mutant that appends its line instead of replacing text

# (name, stage that must catch it, stage that must still pass, file, old text, new text)
MUTANTS = [
    ("no group_add", "consumer", "asgi", CONSUMER,
     "await self.channel_layer.group_add(self.room_group_name, self.channel_name)", "pass"),
    ("self.send instead of group_send", "consumer", "asgi", CONSUMER,
     'await self.channel_layer.group_send(\n            self.room_group_name, {"type": "chat.message", "message": message}\n        )',
     'await self.send(text_data=json.dumps({"message": message}))'),
    ("one group for all rooms", "consumer", "asgi", CONSUMER,
     'self.room_group_name = f"chat_{self.room_name}"', 'self.room_group_name = "chat"'),
    ("handler name mismatch", "consumer", "asgi", CONSUMER, "async def chat_message(", "async def chat_msg("),
    ("never accept()", "consumer", "asgi", CONSUMER, "        await self.accept()\n", ""),
    ("no group_discard", "consumer", "asgi", CONSUMER,
     "await self.channel_layer.group_discard(self.room_group_name, self.channel_name)", "pass"),
    ("plain text frames", "consumer", "asgi", CONSUMER,
     'text_data=json.dumps({"message": event["message"]})', 'text_data=event["message"]'),
    ("forgotten await on group_send", "consumer", "asgi", CONSUMER,
     "await self.channel_layer.group_send(", "self.channel_layer.group_send("),
    ("syntax error in the consumer", "consumer", "settings", CONSUMER, "async def receive(self, text_data):",
     "async def receive(self, text_data)"),
    ("wrong path prefix", "routing", "consumer", ROUTING, 'r"ws/chat/', 'r"chat/'),
    ("wrong keyword in the route", "routing", "consumer", ROUTING, "(?P<room_name>", "(?P<room>"),
    ("route to the class, not as_asgi()", "routing", "consumer", ROUTING,
     "consumers.ChatConsumer.as_asgi()", "consumers.ChatConsumer"),
    ("no websocket key", "asgi", "consumer", ASGI, '"websocket":', '"websocket-disabled":'),
    ("no AuthMiddlewareStack", "asgi", "consumer", ASGI,
     "AuthMiddlewareStack(URLRouter(myapp.routing.websocket_urlpatterns))",
     "URLRouter(myapp.routing.websocket_urlpatterns)"),
    ("channels not installed", "settings", "consumer", SETTINGS, APPEND,
     'INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "channels"]'),
    ("no CHANNEL_LAYERS", "settings", "consumer", SETTINGS, APPEND, "del CHANNEL_LAYERS"),
    ("wrong ASGI_APPLICATION", "settings", "consumer", SETTINGS, APPEND,
     'ASGI_APPLICATION = "myproject.wsgi.application"'),
    ("Redis hard-coded at a dead port", "daphne", "consumer", SETTINGS, APPEND,
     'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",'
     ' "CONFIG": {"hosts": [("127.0.0.1", 1)]}}}'),
]


@pytest.mark.parametrize("name,catching,unaffected,relpath,old,new", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_is_caught_by_the_right_stage(solved_tree, name, catching, unaffected, relpath, old, new):
    tree = classic(solved_tree)
    if old is APPEND:
        with open(tree / relpath, "a", encoding="utf-8") as handle:
            handle.write("\n" + new + "\n")
    else:
        mutate(tree, relpath, old, new)
    report = grade_json(tree, catching, unaffected)
    caught = stage(report, catching)
    assert not caught["passed"], f"stage {catching} did not catch: {name}"
    assert caught["failures"][0]["message"] and caught["failures"][0]["hint"]
    assert stage(report, unaffected)["passed"], f"{name} should not fail stage {unaffected}: {stage(report, unaffected)}"


def test_syntax_error_message_names_file_and_line(solved_tree):
    tree = classic(solved_tree)
    mutate(tree, CONSUMER, "async def receive(self, text_data):", "async def receive(self, text_data)")
    message = stage(grade_json(tree, "consumer"), "consumer")["failures"][0]["message"]
    assert "myapp/consumers.py, line 16" in message and "syntax" in message.lower()


def test_forgotten_await_is_named(solved_tree):
    tree = classic(solved_tree)
    mutate(tree, CONSUMER, "await self.channel_layer.group_send(", "self.channel_layer.group_send(")
    message = stage(grade_json(tree, "consumer"), "consumer")["failures"][0]["message"]
    # One line the learner can act on: their file and line, and what to type; no "Coroutine created at" dump.
    assert "myapp/consumers.py, line" in message and "put `await` before that call" in message, message
    assert "Coroutine created at" not in message and len(message.splitlines()) == 1, message


def test_handler_mismatch_explains_type_to_method(solved_tree):
    tree = classic(solved_tree)
    mutate(tree, CONSUMER, "async def chat_message(", "async def chat_msg(")
    message = stage(grade_json(tree, "consumer"), "consumer")["failures"][0]["message"]
    assert "chat_message" in message


STYLES = {
    "classic tutorial consumer": {CONSUMER: CLASSIC.CONSUMER, ROUTING: CLASSIC.ROUTING},
    "sync consumer with async_to_sync": {CONSUMER: SYNC_CONSUMER},
    "JSON consumer with extra keys": {CONSUMER: JSON_CONSUMER},
    "path() with a str converter": {ROUTING: CLASSIC.ROUTING.replace("re_path", "path").replace(
        'r"ws/chat/(?P<room_name>\\w+)/$"', '"ws/chat/<str:room_name>/"')},
}


@pytest.mark.parametrize("style", STYLES)
def test_correct_styles_pass(solved_tree, style):
    for relpath, text in STYLES[style].items():
        (solved_tree / relpath).write_text(text)
    report = grade_json(solved_tree, "consumer", "routing", "daphne")
    failing = {s["id"]: s["failures"] for s in report["stages"] if not s["passed"]}
    assert not failing, f"{style} is correct but failed: {failing}"


def test_classic_tree_passes_stages_one_to_six(solved_tree):
    """The tutorial's own code (no origin check, \\w+ rooms) is a correct answer up to the daphne stage."""
    report = grade_json(classic(solved_tree), "settings", "asgi", "consumer", "routing", "daphne")
    assert report["score"] == report["max_score"], report


# Issue 24, point 9: each mistake gets the explanation (message and hint) of what really happened.
# (name, stage, file, old text or APPEND, new text, words of the message, words of the hint, words the hint must not hold)
EXPLAINED = [
    ("wrong keyword in the route", "routing", ROUTING, "(?P<room_name>", "(?P<room>",
     "named room_name", "crashed in it", "find no consumer"),
    ("syntax error in receive()", "consumer", CONSUMER, "async def receive(self, text_data):",
     "async def receive(self, text_data)", "syntax error in myapp/consumers.py, line 16", "Python could not read",
     "connect()"),
    ("Redis at a fixed host", "redis", SETTINGS, APPEND,
     'CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",'
     ' "CONFIG": {"hosts": [("127.0.0.1", 6379)]}}}', "not a fixed address", "always at the same address",
     "must choose a Redis channel layer"),
    ("typo in INSTALLED_APPS", "settings", SETTINGS, '"channels",', '"channel",',
     "No module named 'channel' at myproject/settings.py, line", "names the line", "frozen"),
    ("sync consumer without async_to_sync", "consumer", CONSUMER, "SYNC",
     "self.channel_layer.group_send(self.group,", "was never awaited. receive() is a sync method",
     "in a sync consumer", "tracemalloc"),
]


@pytest.mark.parametrize("name,stage_id,relpath,old,new,said,hinted,not_hinted", EXPLAINED,
                         ids=[m[0] for m in EXPLAINED])
def test_mistake_gets_its_own_explanation(solved_tree, name, stage_id, relpath, old, new, said, hinted, not_hinted):
    tree = classic(solved_tree)
    if old is APPEND:
        with open(tree / relpath, "a", encoding="utf-8") as handle:
            handle.write("\n" + new + "\n")
    elif old == "SYNC":
        (tree / relpath).write_text(SYNC_CONSUMER.replace("async_to_sync(self.channel_layer.group_send)(self.group,",
                                                          new), encoding="utf-8")
    else:
        mutate(tree, relpath, old, new)
    failure = stage(grade_json(tree, stage_id), stage_id)["failures"][0]
    assert said in failure["message"], failure
    assert hinted in failure["hint"] and not_hinted not in failure["hint"] + failure["message"], failure
