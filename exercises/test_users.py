"""Checkpoint `users`: who said it, as the server knows it, never as the client claims.

The checks make their users with Django's ORM in the graded tree's own database
(migrated first, as any deployment is) and log them in with real sessions:
in process, a session cookie on a socket through the learner's asgi.py, so
AuthMiddlewareStack puts the user in scope["user"]; in the browser, through the
learner's login page, two people in two browser contexts side by side. The
same page, given a wrong password or a name nobody has, must log no one in:
the checker reads the session rows behind the browser's cookies itself.

What counts for an anonymous socket (the learner may pick either):
- refused at the handshake (connect() closes instead of accepting), or
- kept read-only: each post gets an error frame {"error": "<text>"} to that
  socket alone (or a close with a code that says why), and nothing reaches the room.
"""
import json
import re

import pytest

from kit.course.i18n import T
from support import WAIT, Socket, close_all, fail, login, project_app, read_database, run, server_clue

# A browser on a busy machine is slower than a socket (see test_frontend.py).
PAGE_WAIT = 3 * WAIT
LOGIN_PAGE_LIMIT = 1 << 20   # bytes of the login page read: a bounded read of what learner code sends
PASSWORD = "kit-Pa55word-for-checks"


def people(*names: str) -> None:
    """Make these users in the tree's database (login() runs the migrations first)."""
    for name in names:
        login(name, password=PASSWORD)


async def relayed(sock: Socket, what: str) -> dict:
    frame = await sock.receive(what)
    if "author" not in frame:
        fail(T("A relayed frame was {frame}: it has no 'author'. Put the sender's "
               "self.scope['user'].get_username() in the group event and in the frame chat_message() sends.",
               frame=json.dumps(frame)[:80]))
    return frame


def author_problem(got, wanted: str, sent_as: str | None = None) -> str | None:
    if got == wanted:
        return None
    if sent_as is not None and got == sent_as:
        return T("A message from {wanted} arrived with author {got}, the name the client put in its frame: "
                 "take the author from self.scope['user'], never from the frame.", wanted=repr(wanted), got=repr(got))
    return T("A message from the logged-in user {wanted} arrived with author {got}: the author is "
             "self.scope['user'].get_username() of the socket that sent it.", wanted=repr(wanted), got=repr(got))


def test_each_message_carries_its_authors_name():
    people("alice_kit", "bob_kit")
    app = project_app()

    async def scenario():
        alice, bob = Socket(app, "users_lobby", user="alice_kit"), Socket(app, "users_lobby", user="bob_kit")
        await alice.connect()
        await bob.connect()
        await alice.send("hello from alice")
        for sock in (alice, bob):
            got = await relayed(sock, T("alice's message"))
            assert got["message"] == "hello from alice", T("Expected alice's message, got {got}.",
                                                           got=repr(got['message']))
            problem = author_problem(got["author"], "alice_kit")
            if problem:
                fail(problem)
        await bob.send("and bob answers")
        for sock in (alice, bob):
            got = await relayed(sock, T("bob's message"))
            problem = author_problem(got["author"], "bob_kit")
            if problem:
                fail(problem)
        await close_all(alice, bob)

    run(scenario)


def test_client_cannot_choose_the_author():
    people("carol_kit")
    app = project_app()

    async def scenario():
        carol, dave = Socket(app, "users_forge", user="carol_kit"), Socket(app, "users_forge")
        await carol.connect()
        await dave.connect()
        await carol.send("it was not me", author="admin")
        got = await relayed(dave, T("carol's message"))
        problem = author_problem(got["author"], "carol_kit", sent_as="admin")
        if problem:
            fail(problem)
        await close_all(carol, dave)

    run(scenario)


def test_anonymous_socket_cannot_post():
    app = project_app()

    async def scenario():
        member = Socket(app, "users_anon")
        await member.connect()
        stranger = Socket(app, "users_anon", user=None)
        accepted, _ = await stranger.try_connect()
        if accepted:
            await stranger.send("anonymous words")
            output = await stranger.receive_output(T("an answer to an anonymous post"))
            if output is None:
                fail(T("An anonymous socket posted and heard nothing back: tell it why with an error frame "
                       "{'error': 'Log in to post ...'} (or refuse it in connect())."))
            if output["type"] == "websocket.send":
                try:
                    frame = json.loads(output.get("text") or "")
                except ValueError:
                    frame = None
                if isinstance(frame, dict) and "message" in frame:
                    fail(T("An anonymous socket's post was relayed ({frame}): only a logged-in user may post; "
                           "check self.scope['user'].is_authenticated before group_send.",
                           frame=json.dumps(frame)[:80]))
                if not isinstance(frame, dict) or "error" not in frame:
                    fail(T("An anonymous post was answered with {text}: answer it with an error frame, a JSON "
                           "object {{'error': '...'}}.", text=repr(output.get('text'))))
            else:
                stranger.open = False
        # The member's queue is first in, first out: an anonymous post that reached the room
        # would arrive before the member's own message.
        await member.send("members only")
        got = await member.receive(T("its own message back"))
        if got["message"] != "members only":
            fail(T("A logged-in socket received {got}, an anonymous post: nothing an anonymous socket sends may "
                   "reach the room.", got=repr(got['message'])))
        await close_all(stranger, member)

    run(scenario)


def no_login_field(field: str) -> str:
    """The one plain message for a login page without a username or password field."""
    return T("The login page has no <input name=\"{field}\">: show Django's form with {{{{ form.as_p }}}} inside "
             "a <form method=\"post\"> with {{% csrf_token %}}.", field=field)


def has_input(body: str, field: str) -> bool:
    """Does the page hold an <input> named field (any attribute order, either quote or none)?"""
    return re.search(r"<input\b[^>]*\bname\s*=\s*[\"']?" + field + r"(?=[\"'\s/>])", body, re.IGNORECASE) is not None


def test_login_page_answers(server):
    """Read by the checker's own HTTP client from the tree's daphne (never the host's account of it)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{server.url}/accounts/login/", timeout=WAIT * 2) as response:
            status, body = response.status, response.read(LOGIN_PAGE_LIMIT).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, ""
    except OSError as exc:
        fail(T("GET /accounts/login/ got no answer from daphne: {error}.", error=str(exc)[:200]))
    answer = {"status": status, "body": body}
    if status == 404:
        fail(T("GET /accounts/login/ answered 404: add path('accounts/', include('django.contrib.auth.urls')) "
               "to urlpatterns in myproject/urls.py."))
    if status != 200:
        fail(T("GET /accounts/login/ answered {status}: Django's LoginView renders registration/login.html; put "
               "that template in myapp/templates/registration/login.html.", status=status))
    for field in ("username", "password"):
        if not has_input(answer.get("body", ""), field):
            fail(no_login_field(field))


# -- in the browser: two people, each logged in through the login page ------------------------
@pytest.fixture(scope="module")
def chromium(server):
    from kit.services import browser

    browser.require()
    with browser.chromium(only=server) as instance:   # the page reaches its server alone
        yield instance


def submitted_login(chromium, server, name: str, password: str, room: str):
    """A browser context of its own (its own cookies) that submitted the login page as name with password,
    asking to go on to the room; (context, page) once the answer has loaded. Its sockets are watched through
    the browser (kit.services.page.PageSockets), never through the page."""
    from kit.services.page import PageSockets

    context = chromium.new_context()
    context.set_default_timeout(PAGE_WAIT * 1000)
    page = context.new_page()
    page.kit_sockets = PageSockets(page)
    response = page.goto(f"{server.url}/accounts/login/?next=/chat/{room}/")
    if response is None or response.status != 200:
        context.close()
        fail(T("GET /accounts/login/ answered {status} in the browser. {clue}", status=response and response.status,
               clue=server_clue(server)))
    for field in ("username", "password"):
        if page.query_selector(f"input[name={field}]") is None:
            context.close()
            fail(no_login_field(field))
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.press("input[name=password]", "Enter")
    return context, page


def logged_in_page(chromium, server, name: str, room: str):
    """A browser context of its own logged in as name through the login page, on the room."""
    context, page = submitted_login(chromium, server, name, PASSWORD, room)
    session = login(name)["name"]
    if not any(cookie["name"] == session for cookie in context.cookies()):
        fail(T("Submitting the login page as {name} with the right password did not log in (no {session} "
               "cookie): the form must POST to {{% url 'login' %}} with {{% csrf_token %}}, username and password.",
               name=repr(name), session=session))
    page.goto(f"{server.url}/chat/{room}/")
    try:
        page.locator("#chat-message-input").first.wait_for(state="attached")
    except Exception:
        fail(T("After logging in, /chat/{room}/ showed no #chat-message-input. {clue}", room=room,
               clue=server_clue(server)))
    return context, page


def send(page, text: str) -> None:
    page.fill("#chat-message-input", text)
    page.press("#chat-message-input", "Enter")


def wait_for_author_line(page, author: str, text: str, who: str, server) -> None:
    """The page shows a line holding both the author and the text, and a frame holding the text reached the
    page's own socket (as the browser reports it): shown because the server sent it."""
    from kit.services.page import shown_lines, wait_until

    def shown() -> bool:
        return (any(author in line and text in line for line in shown_lines(page))
                and page.kit_sockets.received_holding(text))

    if wait_until(page, shown, timeout=PAGE_WAIT):
        return
    lines = shown_lines(page)
    if any(text in line for line in lines) and not page.kit_sockets.received_holding(text):
        fail(T("{who} shows {text}, but no frame holding it reached that page's WebSocket: show what the "
               "server sends (in the socket's onmessage), not what was typed.", who=who, text=repr(text)))
    if any(text in line for line in lines):
        fail(T("{who} shows {text} without its author {author} (its log: {lines}): put data.author on the "
               "message's line in room.html, e.g. data.author + ': ' + data.message.", who=who, text=repr(text),
               author=repr(author), lines=repr(lines)))
    fail(T("{who} never showed {text} in #chat-log in {wait:.0f} s (its log: {lines}). {clue}", who=who,
           text=repr(text), wait=PAGE_WAIT, lines=repr(lines), clue=server_clue(server)))


# -- a log-in that fails logs no one in (the sixth review: a page that logged anyone in as anyone) ---------
def session_users(cookies: list[dict]) -> dict[str, str]:
    """The browser's cookies that the tree's database, read by the checker itself, holds as a session of a
    user, whatever each cookie is called: {cookie name: the user's id}."""
    from kit.grading.sessions import session_user

    values = {cookie["value"]: cookie["name"] for cookie in cookies if cookie.get("value")}
    if not values:
        return {}
    marks = ", ".join("?" * len(values))
    rows = read_database(f"SELECT session_key, session_data FROM django_session WHERE session_key IN ({marks})",
                         tuple(values))
    return {values[key]: user for key, data in rows if (user := session_user(data or ""))}


def socket_posts(server, cookies: list[dict], room: str, text: str) -> bool:
    """Does a socket that daphne sees with these cookies post text to the room? Its frame would come back to
    it, as to every socket of the room. A refused handshake, a close, an error frame or silence: it does not."""
    import time

    from websockets.sync.client import connect

    header = "; ".join(f"{cookie['name']}={cookie['value']}" for cookie in cookies)
    try:
        client = connect(server.ws_url(room), origin=server.origin, open_timeout=WAIT,
                         additional_headers={"Cookie": header} if header else None)
    except Exception:  # noqa: BLE001 - refused at the handshake (or nothing answered): it posts nothing
        return False
    with client:
        client.send(json.dumps({"message": text}))
        deadline = time.monotonic() + WAIT
        while True:
            try:
                frame = json.loads(client.recv(timeout=max(0.0, deadline - time.monotonic())))
            except ValueError:
                continue   # not JSON: no post of ours, and no refusal either
            except Exception:  # noqa: BLE001 - silence or a close: nothing was posted
                return False
            if not isinstance(frame, dict) or frame.get("history") is True:
                continue
            if frame.get("message") == text:
                return True
            if "error" in frame:
                return False


def let_in(server, context, page, room: str, text: str) -> str | None:
    """What shows that a failed log-in logged the browser in anyway (a T sentence), or None."""
    from urllib.parse import urlsplit

    bound = session_users(context.cookies())
    if bound:
        cookie, user = next(iter(bound.items()))
        return T("its cookie {cookie} is a session of user #{user} in the database", cookie=cookie, user=user)
    if page.query_selector("input[name=password]") is None:
        return T("the browser went on to {path}, not back to the login form", path=urlsplit(page.url).path)
    if socket_posts(server, context.cookies(), room, text):
        return T("a socket opened with the browser's cookies posted to the room")
    return None


def test_a_wrong_password_or_an_unknown_name_logs_no_one_in(chromium, server):
    import secrets

    people("erin_page")
    stranger = "nobody_" + secrets.token_hex(4)   # a name no user of the database has
    for name, password, attempt in (("erin_page", "wrong-" + PASSWORD, T("a wrong password")),
                                    (stranger, PASSWORD, T("a username nobody has"))):
        context, page = submitted_login(chromium, server, name, password, "users_wrong")
        try:
            seen = let_in(server, context, page, "users_wrong", f"posted by {name} after a failed log-in")
        finally:
            context.close()
        if seen:
            fail(T("The login page accepted {name} with {attempt}: {seen}. It must check the password: use Django's "
                   "LoginView, path('accounts/', include('django.contrib.auth.urls')) in myproject/urls.py (in a "
                   "view of your own: authenticate(request, username=..., password=...), and login() only the "
                   "user it returns).", name=repr(name), attempt=attempt, seen=seen))


def test_two_people_side_by_side_see_each_others_names(chromium, server):
    from kit.services.page import wait_until

    people("alice_page", "bob_page")
    alice_context, alice = logged_in_page(chromium, server, "alice_page", "users_page")
    bob_context, bob = logged_in_page(chromium, server, "bob_page", "users_page")
    try:
        for name, page in (("alice_page", alice), ("bob_page", bob)):
            # The page has loaded (its scripts ran): one that dialled nothing within WAIT never will.
            dialled = wait_until(page, page.kit_sockets.urls, timeout=WAIT)
            if not dialled or not wait_until(page, page.kit_sockets.open, timeout=PAGE_WAIT):
                fail(T("The room page, logged in as {name}, opened no WebSocket in {wait:.0f} s. {clue}",
                       name=repr(name), wait=PAGE_WAIT, clue=server_clue(server)))
        send(alice, "hi, this is alice")
        wait_for_author_line(alice, "alice_page", "hi, this is alice", T("Alice's own page"), server)
        wait_for_author_line(bob, "alice_page", "hi, this is alice", T("Bob's page"), server)
        send(bob, "hello alice, bob here")
        wait_for_author_line(alice, "bob_page", "hello alice, bob here", T("Alice's page"), server)
    finally:
        alice_context.close()
        bob_context.close()
