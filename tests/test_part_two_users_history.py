"""Honesty of the `users` checkpoint: the starter fails, the solution passes, each realistic mistake is
caught by `users` while the earlier stages still pass, and other correct styles pass.

Mutants start from the finished tree (solutions/): `users` builds on the hardened consumer.
"""
import textwrap

import pytest
from conftest import MUST_FAIL, SOLUTIONS, STARTER, checkpoint_outcomes, copy_tree, grade_json, grade_only, mutate

CONSUMER = "myapp/consumers.py"
ROOM = "myapp/templates/myapp/room.html"
# The starter must fail: a second try under load (kit/grading/busy.py) could only make it fail again, later.

# A sync consumer that refuses anonymous visitors at the handshake and names authors by `.username`.
SYNC_CONSUMER = textwrap.dedent('''\
    import json

    from asgiref.sync import async_to_sync
    from channels.generic.websocket import WebsocketConsumer


    def group_name(room_name):
        """Plain room names only: this style is graded on users alone (myapp/push.py imports it)."""
        return "chat_" + room_name


    class ChatConsumer(WebsocketConsumer):
        def connect(self):
            self.group = group_name(self.scope["url_route"]["kwargs"]["room_name"])
            if not self.scope["user"].is_authenticated:
                self.close(code=4401)
                return
            async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
            self.accept()

        def disconnect(self, close_code):
            async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

        def receive(self, text_data=None, bytes_data=None):
            message = json.loads(text_data)["message"]
            async_to_sync(self.channel_layer.group_send)(
                self.group, {"type": "chat.message", "message": message, "who": self.scope["user"].username})

        def chat_message(self, event):
            self.send(text_data=json.dumps({"message": event["message"], "author": event["who"]}))
''')

# (name, file, old text, new text, the users check that must catch it)
MUTANTS = [
    ("author-from-client", CONSUMER,
     '"author": self.user.get_username()}',
     '"author": json.loads(text_data).get("author") or self.user.get_username()}',
     "test_client_cannot_choose_the_author"),
    ("author-missing", CONSUMER,
     'await self.send_json_frame({"message": event["message"], "author": event.get("author", "")})',
     'await self.send_json_frame({"message": event["message"]})',
     "test_each_message_carries_its_authors_name"),
    ("anonymous-may-post", CONSUMER,
     "if self.user is None or not self.user.is_authenticated:",
     "if self.user is None:",
     "test_anonymous_socket_cannot_post"),
    ("page-hides-authors", ROOM,
     "chatLog.value += author + data.message",
     "chatLog.value += data.message",
     "test_two_people_side_by_side_see_each_others_names"),
    ("no-login-route", "myproject/urls.py",
     'path("accounts/", include("django.contrib.auth.urls")),',
     "",
     "test_login_page_answers"),
]


def stage_passed(report: dict, stage_id: str) -> bool:
    return next(s for s in report["stages"] if s["id"] == stage_id)["passed"]


def test_starter_fails_users():
    report = grade_only(STARTER, "users", env=MUST_FAIL)
    assert not stage_passed(report, "users")


def test_solutions_pass_users(tmp_path):
    outcomes = checkpoint_outcomes(copy_tree(SOLUTIONS, tmp_path / "tree"), "users")
    assert outcomes and all(o["outcome"] == "passed" for o in outcomes.values()), outcomes


@pytest.mark.parametrize("name, relpath, old, new, check", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_each_mistake_is_caught_by_its_own_check(tmp_path, name, relpath, old, new, check):
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    mutate(tree, relpath, old, new)
    outcomes = checkpoint_outcomes(tree, "users")
    failed = {test.split("[")[0] for test, o in outcomes.items() if o["outcome"] == "failed"}
    assert check in failed, f"{name}: {outcomes}"
    message = outcomes[next(t for t in outcomes if t.split("[")[0] == check)]["message"]
    assert message and "Traceback" not in message and len(message) < 600, message
    if relpath == CONSUMER:  # the consumer's earlier stage still passes: the mistake is users' alone
        assert stage_passed(grade_json(tree, "consumer"), "consumer"), name


def test_an_author_that_announcements_lack_breaks_push_and_the_users_checkpoint_says_so(tmp_path):
    """The lesson's old chat_message: event["author"] crashes every socket on a send_to_room() announcement
    (no author), which the users checks never send. `kit check users` re-checks push and names the change."""
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    mutate(tree, CONSUMER, 'event.get("author", "")', 'event["author"]')
    report = grade_json(tree, "users")
    graded = {s["id"]: s for s in report["stages"]}
    assert [s["id"] for s in report["stages"]][0] == "users" and {"hardening", "push"} <= set(graded), graded
    assert graded["users"]["passed"] and graded["hardening"]["passed"], graded
    push = graded["push"]
    assert not push["passed"] and push["recheck_of"] == "users", push
    assert push["recheck"] and report["max_score"] == graded["users"]["max_points"], report
    assert push["failures"][0]["message"].startswith(
        "Stage push, graded again because users can break it, does not pass; your myapp/consumers.py differs"), \
        push["failures"][0]


def test_a_typo_in_receive_shows_as_itself_not_as_a_chat_outage(tmp_path):
    """Only the channel-layer call is guarded: self.user.get_usename() raises AttributeError where it is,
    and the checkpoint says so instead of an "unavailable" error frame and a missing-'message' complaint."""
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    mutate(tree, CONSUMER, '"author": self.user.get_username()}', '"author": self.user.get_usename()}')
    outcomes = checkpoint_outcomes(tree, "users")
    said = " ".join(o["message"] or "" for o in outcomes.values() if o["outcome"] == "failed")
    assert said and "unavailable" not in said, outcomes
    assert "get_usename" in said or "AttributeError" in said, said


def test_grading_every_stage_rechecks_nothing(tmp_path):
    from kit.course import catalogue

    assert [s.id for s in catalogue.rechecks("users")] == ["hardening", "push"]
    assert [s.id for s in catalogue.rechecks("testing")] == []
    report = grade_json(copy_tree(STARTER, tmp_path / "tree"), "settings")
    assert [s["id"] for s in report["stages"]] == ["settings"]


def test_a_sync_consumer_that_refuses_anonymous_handshakes_passes(tmp_path):
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    (tree / CONSUMER).write_text(SYNC_CONSUMER)
    # The stage's verdict through the grader (a busy machine's second try included), not its raw outcomes.
    users = next(s for s in grade_only(tree, "users")["stages"] if s["id"] == "users")
    assert users["passed"], users["failures"]


def test_refusing_anonymous_at_the_handshake_passes_too(tmp_path):
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    mutate(tree, CONSUMER,
           '        self.user = self.scope.get("user")\n',
           '        self.user = self.scope.get("user")\n'
           '        if self.user is None or not self.user.is_authenticated:\n'
           '            await self.close(code=4401)\n'
           '            return\n')
    outcomes = checkpoint_outcomes(tree, "users", select="anonymous or author")
    assert outcomes and all(o["outcome"] == "passed" for o in outcomes.values()), outcomes


# -- history -----------------------------------------------------------------------------------
# A sync consumer that reads and writes the ORM directly (Channels runs each of its handlers in a
# thread), orders by id, names authors by `.username` and lets anonymous sockets read, history included.
SYNC_HISTORY_CONSUMER = textwrap.dedent('''\
    import json

    from asgiref.sync import async_to_sync
    from channels.generic.websocket import WebsocketConsumer

    from myapp.models import Message


    def group_name(room_name):
        return "chat_" + room_name


    class ChatConsumer(WebsocketConsumer):
        def connect(self):
            self.room = self.scope["url_route"]["kwargs"]["room_name"]
            self.group = group_name(self.room)
            async_to_sync(self.channel_layer.group_add)(self.group, self.channel_name)
            self.accept()
            newest = list(Message.objects.filter(room=self.room).select_related("author").order_by("-id")[:50])
            for row in newest[::-1]:
                self.send(text_data=json.dumps({"message": row.text, "author": row.author.username,
                                                "history": True}))

        def disconnect(self, close_code):
            async_to_sync(self.channel_layer.group_discard)(self.group, self.channel_name)

        def receive(self, text_data=None, bytes_data=None):
            user = self.scope["user"]
            if not user.is_authenticated:
                self.send(text_data=json.dumps({"error": "Log in to post."}))
                return
            text = json.loads(text_data)["message"]
            Message.objects.create(room=self.room, author=user, text=text)
            async_to_sync(self.channel_layer.group_send)(
                self.group, {"type": "chat.message", "message": text, "author": user.username})

        def chat_message(self, event):
            self.send(text_data=json.dumps({"message": event["message"], "author": event["author"]}))
''')

HISTORY_SEND = ('await self.send_json_frame({"message": message.text, "author": message.author.get_username(),\n'
                '                                        "history": True})')
# (name, [(old text, new text), ...] in myapp/consumers.py, the history check that must catch it)
HISTORY_MUTANTS = [
    ("no-save", [("            await self.save(message)\n", "            pass\n")],
     "test_a_message_sent_is_history_for_a_later_joiner"),
    ("newest-first", [("return list(reversed(newest))", "return list(newest)")],
     "test_history_comes_oldest_first"),
    ("no-limit", [('.order_by("-created", "-id")[:HISTORY_LENGTH])', '.order_by("-created", "-id"))'),
                  ("return list(reversed(newest))", "return list(reversed(list(newest)))")],
     "test_a_joiner_gets_exactly_the_last_50"),
    ("no-room-filter", [("Message.objects.filter(room=self.room_name)", "Message.objects.all()")],
     "test_history_stays_in_its_room"),
    ("unmarked-history", [(HISTORY_SEND, 'await self.send_json_frame({"message": message.text, '
                                         '"author": message.author.get_username()})')],
     "test_history_comes_before_live_messages_and_is_marked"),
    ("history-to-the-group", [
        (HISTORY_SEND, 'await self.channel_layer.group_send(self.room_group_name, {"type": "chat.message", '
                       '"message": message.text, "author": message.author.get_username(), "history": True})'),
        ('await self.send_json_frame({"message": event["message"], "author": event.get("author", "")})',
         'await self.send_json_frame({"message": event["message"], "author": event.get("author", ""), '
         '**({"history": True} if event.get("history") else {})})')],
     "test_history_comes_before_live_messages_and_is_marked"),
    ("blocking-orm", [
        ("import hashlib\n", 'import hashlib\nimport os\n\nos.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"\n'),
        ("    @database_sync_to_async\n    def history(self):", "    async def history(self):"),
        ("    @database_sync_to_async\n    def save(self, text: str):", "    async def save(self, text: str):")],
     "test_a_slow_query_does_not_freeze_other_sockets"),
]


def test_starter_fails_history():
    report = grade_only(STARTER, "history", env=MUST_FAIL)
    assert not stage_passed(report, "history")


def test_starter_history_failure_names_makemigrations(tmp_path):
    outcomes = checkpoint_outcomes(copy_tree(STARTER, tmp_path / "tree"), "history", select="migration")
    (entry,) = outcomes.values()
    assert entry["outcome"] == "failed" and "python manage.py makemigrations myapp" in entry["message"], entry


def test_a_missing_migration_is_named_plainly(tmp_path):
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    (tree / "myapp/migrations/0001_initial.py").unlink()
    outcomes = checkpoint_outcomes(tree, "history", select="migration")
    (entry,) = outcomes.values()
    assert entry["outcome"] == "failed" and "python manage.py makemigrations myapp" in entry["message"], entry
    assert "Traceback" not in entry["message"]


def test_solutions_pass_history(tmp_path):
    outcomes = checkpoint_outcomes(copy_tree(SOLUTIONS, tmp_path / "tree"), "history")
    assert len(outcomes) == 8 and all(o["outcome"] == "passed" for o in outcomes.values()), outcomes


@pytest.mark.parametrize("name, changes, check", HISTORY_MUTANTS, ids=[m[0] for m in HISTORY_MUTANTS])
def test_each_history_mistake_is_caught_by_its_own_check(tmp_path, name, changes, check):
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    for old, new in changes:
        mutate(tree, CONSUMER, old, new)
    outcomes = checkpoint_outcomes(tree, "history")
    failed = {test for test, o in outcomes.items() if o["outcome"] == "failed"}
    assert check in failed, f"{name}: {outcomes}"
    message = outcomes[check]["message"]
    assert message and "Traceback" not in message and len(message) < 700, message
    # The mistake is history's alone: the stage before it still passes (graded alone: `kit check users`
    # would grade hardening and push again too, and only users is read here).
    assert stage_passed(grade_only(tree, "users"), "users"), name


def test_a_sync_consumer_that_calls_the_orm_directly_passes_history(tmp_path):
    tree = copy_tree(SOLUTIONS, tmp_path / "tree")
    (tree / CONSUMER).write_text(SYNC_HISTORY_CONSUMER)
    outcomes = checkpoint_outcomes(tree, "history")
    assert len(outcomes) == 8 and all(o["outcome"] == "passed" for o in outcomes.values()), outcomes


def test_every_file_of_history_is_in_the_solutions_and_the_starter_has_its_todo():
    from kit.course import catalogue

    for relpath in catalogue.get("history").files:
        assert (SOLUTIONS / relpath).is_file(), relpath
    assert "TODO(history)" in (STARTER / "myapp/models.py").read_text()
    assert "TODO(history)" in (STARTER / CONSUMER).read_text()
    assert not (STARTER / "myapp/migrations/0001_initial.py").exists()  # the learner runs makemigrations
