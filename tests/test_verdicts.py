"""Right verdicts for every correct style: each contract break caught at its own stage, other styles pass."""
import json

from classic import sync_orm_tree
from conftest import checkpoint_outcomes, grade_json, mutate, stage

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


def test_a_sync_orm_consumer_that_refuses_anonymous_handshakes_passes_every_stage(tmp_path):
    """Issue 21: every check that chats on a tree that may have passed `users` does it logged in (the browser
    included), and a send to a socket a check had just closed (autobahn's Disconnected, which a sync consumer
    cannot catch) fails no stage."""
    report = grade_json(sync_orm_tree(tmp_path / "sync"), env={"REDIS_URL": ""})
    failing = {s["id"]: s["failures"][:1] for s in report["stages"] if not s["passed"]}
    assert not failing and report["score"] == report["max_score"], failing


def test_a_sync_orm_page_that_hides_refusals_fails_hardening_for_that(tmp_path):
    """The logged-in page of the handshake-refusing tree sees its messages, so `hardening` names the real
    mistake (the page never shows an error frame), not "finish the frontend stage first"."""
    tree = sync_orm_tree(tmp_path / "sync")
    mutate(tree, ROOM, 'document.querySelector("#chat-error").textContent = data.error;', "")
    failures = stage(grade_json(tree, "hardening", env={"REDIS_URL": ""}), "hardening")["failures"]
    assert [f["test"] for f in failures] == ["test_html_in_a_message_is_shown_as_text"], failures
    assert "the page never showed it" in failures[0]["message"], failures[0]


def test_a_sync_orm_tree_without_the_origin_check_fails_both_origin_checks(tmp_path):
    """Refusing anonymous sockets at the handshake answers 403 too: the origin checks knock with a session."""
    tree = sync_orm_tree(tmp_path / "sync")
    mutate(tree, ASGI, "AllowedHostsOriginValidator(\n            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))\n        )",
           "AuthMiddlewareStack(URLRouter(websocket_urlpatterns))")
    outcomes = checkpoint_outcomes(tree, "hardening", select="origin")
    assert {name: o["outcome"] for name, o in outcomes.items()} == {
        "test_foreign_origin_is_refused_in_process": "failed", "test_live_foreign_origin_is_refused": "failed"}, \
        outcomes


def test_a_send_to_a_closed_socket_is_no_error_in_the_log():
    """What daphne logs when a consumer sends to a client that had just closed is not the learner's error;
    anything else still is."""
    from kit.grading.explain import log_errors

    closed = ("Exception inside application: Attempt to send on a closed protocol\n"
              "Traceback (most recent call last):\n"
              '  File "daphne/ws_protocol.py", line 261, in serverSend\n'
              "autobahn.exception.Disconnected: Attempt to send on a closed protocol\n")
    crash = ("Exception inside application: 'message'\nTraceback (most recent call last):\n"
             '  File "myapp/consumers.py", line 9, in receive\nKeyError: \'message\'\n')
    assert log_errors(closed) == []
    assert log_errors(closed + crash) == ["Exception inside application: 'message'", "KeyError: 'message'"]
