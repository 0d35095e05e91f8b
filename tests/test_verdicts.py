"""Right verdicts for every correct style: each contract break caught at its own stage, other styles pass."""
import json

from conftest import grade_json, mutate, stage

ASGI = "myproject/asgi.py"
ROOM = "myapp/templates/myapp/room.html"


def verdicts(report: dict) -> dict:
    return {s["id"]: s["passed"] for s in report["stages"]}


def test_daphne_gets_no_settings_module_from_the_kit(solved_tree):
    """daphne runs as a learner types it: an asgi.py that never names its settings fails `daphne`."""
    mutate(solved_tree, ASGI, 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")', "pass")
    report = grade_json(solved_tree, "routing", "daphne", env={"REDIS_URL": ""})
    assert verdicts(report) == {"routing": True, "daphne": False}, json.dumps(report)[:1500]
    message = stage(report, "daphne")["failures"][0]["message"]
    assert "settings" in message.lower(), message


def test_route_to_an_echo_consumer_fails_routing(solved_tree):
    """A route that reaches something answering only the sender does not reach the chat."""
    consumers = solved_tree / "myapp" / "consumers.py"
    consumers.write_text(consumers.read_text() + (
        "\n\nclass EchoConsumer(AsyncWebsocketConsumer):\n"
        "    async def receive(self, text_data=None, bytes_data=None):\n"
        "        await self.send(text_data=text_data)\n"), encoding="utf-8")
    if "AsyncWebsocketConsumer" not in consumers.read_text().split("class EchoConsumer")[0]:
        consumers.write_text("from channels.generic.websocket import AsyncWebsocketConsumer\n"
                             + consumers.read_text(), encoding="utf-8")
    mutate(solved_tree, "myapp/routing.py", "consumers.ChatConsumer.as_asgi()", "consumers.EchoConsumer.as_asgi()")
    report = grade_json(solved_tree, "consumer", "routing", env={"REDIS_URL": ""})
    assert verdicts(report) == {"consumer": True, "routing": False}, json.dumps(report)[:1500]
    assert "broadcast" in stage(report, "routing")["failures"][0]["message"]


def test_default_layer_on_a_redis_nobody_started_fails_settings(solved_tree):
    settings = solved_tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text() + (
        "\nCHANNEL_LAYERS = {'default': {'BACKEND': 'channels_redis.core.RedisChannelLayer',"
        " 'CONFIG': {'hosts': [('127.0.0.1', 6379)]}}}\n"), encoding="utf-8")
    report = grade_json(solved_tree, "settings", env={"REDIS_URL": ""})
    failure = stage(report, "settings")["failures"][0]
    assert not stage(report, "settings")["passed"]
    assert failure["test"] == "test_default_layer_works_without_redis", failure
    assert "without REDIS_URL" in failure["message"] and "InMemoryChannelLayer" in failure["message"], failure


def test_route_without_its_trailing_slash_is_named(solved_tree):
    mutate(solved_tree, "myapp/routing.py", '[^/]+)/$"', '[^/]+)$"')
    report = grade_json(solved_tree, "routing", env={"REDIS_URL": ""})
    message = stage(report, "routing")["failures"][0]["message"]
    assert "trailing slash" in message and "crashed" not in message, message


def test_a_div_log_with_authors_and_times_passes_frontend(solved_tree):
    """The contract allows any element as the log, and lines that carry more than the message."""
    mutate(solved_tree, ROOM, '<textarea id="chat-log" cols="100" rows="20" readonly></textarea>',
           '<div id="chat-log"></div>')
    mutate(solved_tree, ROOM, 'chatLog.value += author + data.message + "\\n";',
           'const line = document.createElement("div");'
           ' line.textContent = new Date().toLocaleTimeString() + " anonymous: " + data.message;'
           ' chatLog.appendChild(line);')
    report = grade_json(solved_tree, "frontend", env={"REDIS_URL": ""})
    assert stage(report, "frontend")["passed"], json.dumps(report)[:1500]
