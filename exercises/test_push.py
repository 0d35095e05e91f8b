"""Checkpoint `push`: Django code outside the consumer sends to a room's sockets.

A real Redis and a live daphne on the graded tree, both given REDIS_URL, with
sockets in two rooms. The learner's code then sends from three places, each in
a process of its own that shares only Redis with daphne (and the tree's files: so the first check also
watches the room's group on that Redis itself): send_to_room() called
from a plain script, `python manage.py announce ROOM TEXT`, and a POST to the
announce view (through daphne's own HTTP, with Django's CSRF token and a
session cookie the kit wrote itself, as every stage logs in: support.log_in_users).
Each must reach its room's sockets and no other room's; the view must refuse
anyone who is not staff, which the checks read from the database themselves. Rooms are proved apart by order,
not by waiting for silence: a socket's frames arrive first in, first out.
"""
import asyncio
import os
import random
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from urllib.parse import quote

import pytest

from kit.course.i18n import T, recall
from support import (PROJECT, WAIT, Layer, LearnerCodeError, LiveSocket, close_all, daphne_on_redis, fail, learner_layer,
                     log_in_users, redis_for_learner, relayed_by_layer, run, run_in_tree, server_clue, session_of)

@pytest.fixture(scope="module")
def daphne(redis):
    server = daphne_on_redis(redis)
    yield server
    server.stop()


def error_line(err: str) -> str:
    """The last line of a traceback, with the deepest place in the tree it passed through."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    if not lines:
        return T("it printed nothing")
    last = lines[-1].strip()[:300]
    places = re.findall(r'File "([^"]+)", line (\d+)', err)
    inside = [(f, n) for f, n in places if f.startswith(str(PROJECT) + os.sep)]
    if inside:
        name, number = inside[-1]
        return T("{error} ({file}, line {line})", error=last, file=os.path.relpath(name, PROJECT), line=number)
    return last


def python_in_tree(args: list[str], redis, doing: str) -> str:
    """Run python ARGS on the tree with daphne's REDIS_URL; its stdout, or a plain failure."""
    url, binds = redis_for_learner(redis)
    code, out, err = run_in_tree(args, env={"REDIS_URL": url, "DJANGO_SETTINGS_MODULE": "myproject.settings"},
                                 timeout=8 * WAIT, binds=binds)
    if code != 0:
        fail(T("{doing} failed (exit code {code}): {error}", doing=doing, code=code, error=error_line(err)))
    if "was never awaited" in err:
        fail(T("{doing} made a coroutine and dropped it ({error}): group_send is a coroutine function; from "
               "sync code call it through async_to_sync(layer.group_send)(group, event).",
               doing=doing, error=error_line(err)))
    return out


CALL_SEND_TO_ROOM = """
import sys, django
django.setup()
try:
    from myapp.push import send_to_room
except ImportError as exc:
    sys.exit(f"myapp/push.py must define send_to_room(room_name, text): {exc}")
send_to_room(sys.argv[1], sys.argv[2])
"""


async def delivered(target: LiveSocket, other: LiveSocket, text: str, how: str) -> None:
    """text, sent to target's room by `how`, reached target and not other (whose own message comes first)."""
    try:
        got = await target.receive(T("the message sent by {how}", how=how))
    except LearnerCodeError as exc:
        if getattr(target.connection, "close_code", None) is not None:  # the event arrived and the consumer died
            hint = (T("An announcement has no author: a handler reads it with event.get('author'), never "
                      "event['author'].") if "author" in str(exc) else
                    T("The event's type names the handler that takes it: 'chat.message' calls chat_message()."))
            fail(T("{error} The consumer crashed on the event {how} sent. {hint}", error=recall(str(exc)), how=how,
                   hint=hint))
        fail(T("{error} What {how} sends must go through the layer daphne uses (get_channel_layer(), Redis when "
               "REDIS_URL is set, never a layer of its own), to the room's group as the consumer names it, with "
               "group_send run through async_to_sync.", error=recall(str(exc)), how=how))
    assert got["message"] == text, T(
        "A socket in room '{room}' got {got} instead of {text}, sent by {how}.", room=target.room,
        got=repr(got['message']), text=repr(text), how=how)
    await other.send(f"{other.room} only")
    first = await other.receive(T("its own message"))
    assert first["message"] != text, T(
        "A socket in room '{room}' received {text}, sent by {how} to room '{target}': send to the room's own "
        "group, named exactly as the consumer names it.", room=other.room, text=repr(text), how=how,
        target=target.room)


async def in_thread(function, *args):
    """The learner's process runs while the sockets keep their connections."""
    return await asyncio.to_thread(function, *args)


def two_rooms(daphne, first: str, second: str):
    return LiveSocket(daphne, first), LiveSocket(daphne, second)


def test_send_to_room_reaches_the_room(daphne, redis):
    """Observed on the stage's Redis too (review 11): the checker's own channel in the room's group there hears
    what send_to_room() sent, and what the checker sends to that group reaches the room's socket. A script and
    daphne that meet through a file of the tree deliver but fail here."""
    prefix, pubsub = learner_layer(redis)

    async def scenario():
        async with Layer(redis, prefix=prefix, pubsub=pubsub) as layer:
            lobby, kitchen = two_rooms(daphne, "push_lobby", "push_kitchen")
            await lobby.connect()
            group = await layer.listen(1, "push_lobby")   # the lobby's, before the kitchen has one
            await kitchen.connect()
            text = "from send_to_room"
            await in_thread(python_in_tree, ["-c", CALL_SEND_TO_ROOM, "push_lobby", text], redis,
                            T("Calling send_to_room('push_lobby', ...) from a script"))
            await delivered(lobby, kitchen, text, T("send_to_room() in another process"))
            await relayed_by_layer(layer, group, [lobby], text)
            await close_all(lobby, kitchen)

    run(scenario, limit=12 * WAIT)


def test_send_to_room_reaches_a_bengali_room(daphne, redis):
    room = "আড্ডা"

    async def scenario():
        adda, lobby = two_rooms(daphne, quote(room), "push_lobby")
        await adda.connect()
        await lobby.connect()
        text = "বাংলা ঘরে খবর"
        await in_thread(python_in_tree, ["-c", CALL_SEND_TO_ROOM, room, text], redis,
                        T("Calling send_to_room({room}, ...) from a script", room=repr(room)))
        await delivered(adda, lobby, text, f"send_to_room({room!r}, ...)")
        await close_all(adda, lobby)

    run(scenario, limit=12 * WAIT)


def test_announce_command_reaches_the_room(daphne, redis):
    async def scenario():
        kitchen, lobby = two_rooms(daphne, "push_kitchen", "push_lobby")
        await kitchen.connect()
        await lobby.connect()
        text = "the kitchen closes at ten"
        await in_thread(python_in_tree, ["manage.py", "announce", "push_kitchen", text], redis,
                        "python manage.py announce push_kitchen '...'")
        await delivered(kitchen, lobby, text, "python manage.py announce")
        await close_all(kitchen, lobby)

    run(scenario, limit=12 * WAIT)


# -- the view, through daphne's HTTP, as a browser would post its form ----------------------------
@pytest.fixture(scope="module")
def sessions(daphne):
    """Session cookies of a staff user and of an ordinary one in the tree's own database, {"staff", "member"}:
    the kit writes both users and their sessions itself and reads back which one is staff (support.log_in_users),
    as every other stage logs in. Their names are the checker's, random and alike, and made in a random order:
    no code of the tree is told or can tell which one the checks treat as staff but by is_staff."""
    names = {"staff": "kit-" + secrets.token_hex(4), "member": "kit-" + secrets.token_hex(4)}
    made = list(names.values())
    random.shuffle(made)
    cookies = log_in_users({name: "" for name in made}, staff={names["staff"]})
    return {role: {**cookies[name], "username": name} for role, name in names.items()}


def still_logged_in(member: dict) -> None:
    """The ordinary user is still an active non-staff user with their session, read from the database by the
    checks: a refusal counts only for a user the tree still has logged in (settings.py code that drops the
    kit's sessions or users would turn a view that lets anyone in into one that seems to refuse them)."""
    found = session_of(member["value"], member["username"])
    if found is None or found["is_staff"] or not found["is_active"]:
        fail(T("After its POST, the logged-in user who is not staff was no longer logged in: the database lost "
               "their session, their password changed, or the user became staff or inactive. The announce view must refuse that user "
               "while they stay logged in; leave users and sessions as they are."))


def post_announce(daphne, room: str, text: str, session: dict | None) -> int:
    """POST the announce form to daphne as a browser does: CSRF cookie and field, and the session if any."""
    token = secrets.token_hex(16)  # Django accepts a 32-character secret as the cookie and as the field
    cookies = [f"csrftoken={token}"] + ([f"{session['name']}={session['value']}"] if session else [])
    body = urllib.parse.urlencode({"message": text, "csrfmiddlewaretoken": token}).encode()
    request = urllib.request.Request(f"{daphne.url}/chat/{quote(room)}/announce/", data=body, method="POST",
                                     headers={"Cookie": "; ".join(cookies), "Referer": f"{daphne.url}/chat/",
                                              "Content-Type": "application/x-www-form-urlencoded"})

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=4 * WAIT) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        fail(T("POST /chat/{room}/announce/ got no answer from daphne ({error}). {clue}", room=room,
               error=str(exc), clue=server_clue(daphne)))


def test_staff_announce_view_reaches_only_its_room(daphne, sessions):
    async def scenario():
        lobby, kitchen = two_rooms(daphne, "push_lobby", "push_kitchen")
        await lobby.connect()
        await kitchen.connect()
        text = "staff: the lobby moves upstairs"
        status = await in_thread(post_announce, daphne, "push_lobby", text, sessions["staff"])
        if status == 404:
            fail(T("POST /chat/push_lobby/announce/ answered 404: add path('<str:room_name>/announce/', "
                   "views.announce) to myapp/urls.py."))
        if status == 403:
            fail(T("A staff user's POST to /chat/push_lobby/announce/ was refused (403): let request.user through "
                   "when request.user.is_staff, and keep Django's CSRF check (the form sends its token). {clue}",
                   clue=server_clue(daphne)))
        if not 200 <= status < 400:
            fail(T("A staff user's POST to /chat/push_lobby/announce/ answered {status}. {clue}", status=status,
                   clue=server_clue(daphne)))
        await delivered(lobby, kitchen, text, T("a staff user's POST to /chat/push_lobby/announce/"))
        await close_all(lobby, kitchen)

    run(scenario, limit=12 * WAIT)


def test_announce_view_refuses_anyone_but_staff(daphne, sessions):
    async def scenario():
        lobby = LiveSocket(daphne, "push_lobby")
        await lobby.connect()
        for who, session in ((T("an anonymous visitor"), None), (T("a logged-in user who is not staff"),
                                                                 sessions["member"])):
            text = f"not allowed: {who}"
            status = await in_thread(post_announce, daphne, "push_lobby", text, session)
            if 200 <= status < 300:
                fail(T("POST /chat/push_lobby/announce/ from {who} answered {status}: only staff may announce, "
                       "anyone else gets 403 (return HttpResponseForbidden()).", who=who, status=status))
            if status == 404:
                fail(T("POST /chat/push_lobby/announce/ answered 404: add the announce view to myapp/urls.py."))
            await lobby.send(f"after {who}")
            first = await lobby.receive(T("its own message"))
            if first["message"] == text:
                fail(T("POST /chat/push_lobby/announce/ from {who} reached the room (and answered {status}): "
                       "check request.user.is_staff before send_to_room().", who=who, status=status))
        await lobby.close()
        still_logged_in(sessions["member"])

    run(scenario, limit=12 * WAIT)
