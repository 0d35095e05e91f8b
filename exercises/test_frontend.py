"""Checkpoint `frontend`: the room page's JavaScript chats, in a real headless Chromium.

daphne serves the graded tree on a random free port, so a page that dials a
fixed host or port (ws://127.0.0.1:8000) cannot connect. Pages in one room must
see each other's messages in #chat-log; a page in another room must not.
Every wait is for a condition the checker observes through the browser (the
page's sockets as Chromium reports them, its DOM as rendered), never a fixed
sleep, and never a value the page's own scripts could write.
"""
import functools
import json

import pytest

from kit.course.i18n import T, recall
from support import LEARNER, PROJECT, WAIT, LiveSocket, error_of, fail, is_history, login, server_clue

ROOM_TEMPLATE = ("room.html", PROJECT / "myapp" / "templates" / "myapp" / "room.html")

# A browser on a busy machine is slower than a socket: wait longer for the page's
# conditions than for a bare client (a correct page still meets them at once).
PAGE_WAIT = 3 * WAIT

# What the checks see of a page comes from the browser itself (kit.services.browser: Chromium's own report of
# every WebSocket the page dials and every frame it sends and receives, and the DOM read in Playwright's
# isolated world), never from an object the page's scripts can write (DESIGN.md, "Trust").


@pytest.fixture(scope="module")
def chromium(server):
    from kit.services import browser

    browser.require()
    with browser.chromium(only=server) as instance:   # the page reaches its server alone
        yield instance


@pytest.fixture
def context(chromium):
    from kit.services.page import PageErrors

    ctx = chromium.new_context()
    ctx.set_default_timeout(PAGE_WAIT * 1000)
    # The pages' own errors, seen by the browser (Playwright's events), never asked of the page.
    ctx.kit_errors = PageErrors(template=ROOM_TEMPLATE, root=PROJECT)
    yield ctx
    ctx.close()


def reports_page_errors(check):
    """When a check fails and a page's script threw, the failure leads with that error: it is the
    learner's real mistake, and the check's own advice would repeat code they already wrote."""
    @functools.wraps(check)
    def checked(*args, **kwargs):
        try:
            return check(*args, **kwargs)
        except Exception as exc:  # an assert, a plain failure, or Playwright giving up on the page
            errors = getattr(kwargs.get("context"), "kit_errors", None)
            lead = errors.lead() if errors is not None else None
            if not lead:
                raise
            said = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
            said = recall(said.split("\nassert ")[0].strip())
            if not isinstance(said, T):  # Playwright's own error: its first line, not its call log
                said = (said.splitlines() or [""])[0][:300]
            if errors.first()["kind"] == "uncaught":
                fail(T("{error} Fix it first (the rest of that script never ran); the check then saw: {failure}",
                       error=lead, failure=said))
            fail(T("{error} It may be why the check failed; the check saw: {failure}", error=lead, failure=said))
    return checked



class ChatPage:
    """One browser tab on a room page, driven like a person would, watched through the browser."""

    def __init__(self, context, server, room, *, host=None, user=LEARNER):
        from kit.services.page import PageSockets, on_host

        self.server, self.room = server, room
        self.page = context.new_page()
        self.sockets = PageSockets(self.page)   # before the page loads: its first socket is seen too
        self.errors = getattr(context, "kit_errors", None)
        if self.errors is not None:
            self.errors.watch(self.page)
        origin = on_host(server.url, host) if host else server.url
        self.url = f"{origin}/chat/{room}/"
        session = login(user, required=False) if user else None
        if session:  # logged in, as people chat from the `users` stage on
            context.add_cookies([{"name": session["name"], "value": session["value"], "url": origin}])

    def open(self):
        response = self.page.goto(self.url)
        if response is None or response.status != 200:
            status = response and response.status
            if status == 400:
                fail(T("GET {url} answered {status}. The page's host must be in ALLOWED_HOSTS: keep '127.0.0.1' and "
                       "'localhost' there. {clue}", url=self.url, status=status, clue=server_clue(self.server)))
            fail(T("GET {url} answered {status}. {clue}", url=self.url, status=status, clue=server_clue(self.server)))
        if self.errors is not None:
            try:
                self.errors.remember_source(self.page.url, response.text())
            except Exception:  # noqa: BLE001 - lines are then said as the page's own
                pass
        for element in ("#chat-log", "#chat-message-input", "#chat-message-submit"):
            if self.page.locator(element).count() == 0:
                fail(T("The room page has no {element} element: keep the ids of the given room.html.", element=element))
        self.wait_connected()
        return self

    def wait_for(self, condition) -> bool:
        """Wait up to PAGE_WAIT for a condition the checker judges; give up sooner (after WAIT) once the page's
        script has thrown, since what it was to do may never run: the failure then leads with that error."""
        import time

        from kit.services.page import wait_until

        started = time.monotonic()
        deadline = started + PAGE_WAIT
        while True:
            left = deadline - time.monotonic()
            if wait_until(self.page, condition, timeout=max(0.1, min(left, 1.0))):
                return True
            thrown = self.errors is not None and self.errors.stopped_for() > 0
            if left <= 1.0 or (thrown and time.monotonic() - started > WAIT):
                return False

    def wait_connected(self):
        import time

        from kit.services.page import host_of

        host = host_of(self.url)
        elsewhere = lambda: [u for u in self.sockets.urls() if host_of(u) != host]  # noqa: E731
        # goto() returned after the page's load event, so its scripts have run: a page that dials nothing
        # within WAIT of that never will, and its check says so sooner.
        loaded = time.monotonic()
        self.wait_for(lambda: self.sockets.open() or elsewhere()
                      or (not self.sockets.urls() and time.monotonic() - loaded > WAIT))
        tried = self.sockets.urls()
        wrong = elsewhere()
        if wrong:
            fail(T("The page was served from {host} but opened a WebSocket to {url}: "
                   "build the socket URL from window.location.host, never a fixed host or port.",
                   host=host, url=wrong[0]))
        if not tried:
            fail(T("The room page never opened a WebSocket in {wait:.0f} s: "
                   "create one with new WebSocket(url) when the page loads.", wait=WAIT))
        if not self.sockets.open():
            fail(T("The page's WebSocket to {url} did not open in {wait:.0f} s. {clue}", url=tried[0],
                   wait=PAGE_WAIT, clue=server_clue(self.server) or T('Is the path ws/chat/<room_name>/?')))

    def type(self, text):
        self.page.fill("#chat-message-input", text)

    def send_by_click(self, text):
        self.type(text)
        self.page.click("#chat-message-submit")

    def send_by_enter(self, text):
        self.type(text)
        self.page.press("#chat-message-input", "Enter")

    @property
    def sent(self):
        """Every text frame the page's sockets have sent so far, as the browser reports them."""
        return self.sockets.sent()

    def wait_for_a_send(self):
        return self.wait_for(lambda: self.sockets.sent())

    def log_lines(self):
        from kit.services.page import shown_lines

        return shown_lines(self.page, "#chat-log")

    def shows(self, text) -> bool:
        """The page shows text as a line of #chat-log, and a frame holding it reached the page's own socket:
        what a page shows must be what its server sent, not what it typed or was told by another tab."""
        return any(text in line for line in self.log_lines()) and self.sockets.received_holding(text)

    def wait_for_line(self, text, who):
        if not self.wait_for(lambda: self.shows(text)):
            self.explain_missing_line(text, who)

    def explain_missing_line(self, text, who):
        if any(text in line for line in self.log_lines()):
            fail(T("{who} shows {text}, but no frame holding it reached that page's WebSocket: show what the "
                   "server sends (in the socket's onmessage), not what was typed.", who=who, text=repr(text)))
        fail(T("{who} never showed {text} as a line of #chat-log in {wait:.0f} s (its log: {log}). {why}",
               who=who, text=repr(text), wait=PAGE_WAIT, log=repr(self.log_lines()), why=self.diagnose(text)))

    def diagnose(self, text):
        """Why a message did not show: name the page's mistake when the frames tell it."""
        if self.errors is not None and self.errors.first() is not None:
            return T("The page's script threw an error (see above), so what came after it never ran.")
        sent = self.sent
        if not sent:
            return T("The page sent nothing over its WebSocket.")
        frame = sent[-1]
        try:
            data = json.loads(frame)
        except (TypeError, ValueError):
            return T("The page sent {frame}, which is not JSON: "
                     "socket.send(JSON.stringify({{message: text}})).", frame=repr(frame))
        if not isinstance(data, dict) or "message" not in data:
            return T("The page sent {frame}: send an object with a 'message' key.", frame=repr(frame))
        refused = [error for error in map(error_of, self.sockets.received()) if error]
        if refused:  # the server said why (as the browser saw it): an anonymous post, a limit
            return T("The server answered the page's message with an error frame: {error}.", error=repr(refused[-1]))
        return (server_clue(self.server) or T("The server answered; append data.message + '\\n' "
                                              "to the #chat-log textarea's value in onmessage."))

    def close(self):
        self.page.close()


class Listener:
    """The checker's own client in a room of the same daphne. What it receives really reached the server's room:
    the strongest observation of a page, since nothing in the page can write it."""

    def __init__(self, server, room):
        from websockets.sync.client import connect

        self.room = room
        try:
            self.client = connect(server.ws_url(room), origin=server.origin, open_timeout=WAIT,
                                  additional_headers=LiveSocket(server, room).headers())
        except Exception as exc:  # noqa: BLE001 - refused, timed out or nothing listening: said as it is
            fail(T("A client could not join room '{room}' to talk to the page ({error}). {clue}", room=room,
                   error=str(exc), clue=server_clue(server)))

    def heard(self, text) -> bool:
        """Did a frame holding text reach this client within PAGE_WAIT (replayed history passed over)?"""
        import time

        from kit.services.page import holds

        deadline = time.monotonic() + PAGE_WAIT
        while True:
            try:
                frame = self.client.recv(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # noqa: BLE001 - timed out or closed: it never came
                return False
            if isinstance(frame, str) and not is_history(frame) and holds(frame, text):
                return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.client.close()


def open_page(context, server, room, **kwargs):
    return ChatPage(context, server, room, **kwargs).open()


@reports_page_errors
def test_socket_follows_the_page_address(context, server):
    # Served as 127.0.0.1 and as localhost: the socket must follow whichever the page came from.
    for host in ("127.0.0.1", "localhost"):
        page = open_page(context, server, "frontend_address", host=host)
        page.close()


@reports_page_errors
def test_https_page_uses_wss(context, server):
    import urllib.request
    from urllib.parse import urlsplit

    from kit.services.page import PageSockets, host_of, wait_until

    # Serve the real room page as if it came over https (the browser never leaves
    # this machine): its socket URL must then start with wss:.
    with urllib.request.urlopen(f"{server.url}/chat/frontend_tls/", timeout=PAGE_WAIT) as response:
        body = response.read()
    secure = urlsplit(server.url)._replace(scheme="https", path="/chat/frontend_tls/").geturl()
    page = context.new_page()
    sockets = PageSockets(page)
    context.kit_errors.watch(page)
    context.kit_errors.remember_source(secure, body.decode("utf-8", "replace"))
    page.route(secure, lambda route: route.fulfill(status=200, body=body, content_type="text/html"))
    page.goto(secure)
    if not wait_until(page, sockets.urls, timeout=WAIT):   # the page has loaded: its scripts have run
        fail(T("Served over https, the room page opened no WebSocket: build its URL from window.location."))
    tried = sockets.urls()[0]
    assert tried.startswith("wss://"), T(
        "Served over https, the page dialled {url}: an https page must use wss: "
        "(the browser blocks ws: there). Pick the scheme from location.protocol.", url=tried)
    if host_of(tried) != host_of(secure):
        fail(T("The page was served from {host} but opened a WebSocket to {url}: "
               "build the socket URL from window.location.host, never a fixed host or port.",
               host=host_of(secure), url=tried))
    page.close()


@reports_page_errors
def test_send_button_sends_json(context, server):
    page = open_page(context, server, "frontend_json")
    page.send_by_click("hello as json")
    assert page.wait_for_a_send(), T(
        "Clicking Send sent nothing over the WebSocket: give #chat-message-submit a click handler "
        "that calls socket.send(...).")
    frame = page.sent[0]
    try:
        data = json.loads(frame)
    except ValueError:
        fail(T("Clicking Send sent {frame}, which is not JSON: socket.send(JSON.stringify({{message: text}})).",
               frame=repr(frame)))
    assert isinstance(data, dict) and data.get("message") == "hello as json", T(
        "Clicking Send sent {frame}; the server expects {{\"message\": \"hello as json\"}}.", frame=repr(frame))


@reports_page_errors
def test_room_sees_messages_and_other_rooms_do_not(context, server):
    alice = open_page(context, server, "frontend_lobby")
    bob = open_page(context, server, "frontend_lobby")
    carol = open_page(context, server, "frontend_kitchen")
    with Listener(server, "frontend_lobby") as listener:   # the checker's own client in alice's room
        alice.send_by_click("hi from alice")
        alice.wait_for_line("hi from alice", T("The sender's page"))
        bob.wait_for_line("hi from alice", T("Another page in the same room"))
        if not listener.heard("hi from alice"):
            fail(T("A client in room {room} never received {text}, which the page shows: the page's message must "
                   "reach the server's room over its WebSocket. {why}", room=repr("frontend_lobby"),
                   text=repr("hi from alice"), why=alice.diagnose("hi from alice")))
    # Carol's page gets frames in order: had the lobby's message leaked into the
    # kitchen, it would be in her log before her own message.
    carol.send_by_click("hi from carol")
    carol.wait_for_line("hi from carol", T("A page in another room"))
    lines = carol.log_lines()
    assert len(lines) == 1 and "hi from carol" in lines[0] and not carol.sockets.received_holding("hi from alice"), T(
        "A page in room 'frontend_kitchen' shows {log}: a message sent to another room "
        "reached it. Each page must join only its own room.", log=repr(carol.log_lines()))


@reports_page_errors
def test_enter_sends(context, server):
    page = open_page(context, server, "frontend_enter")
    page.send_by_enter("sent with enter")
    if not page.wait_for(lambda: page.shows("sent with enter")):
        fail(T("Pressing Enter in #chat-message-input did not put the message in #chat-log: listen for the "
               "Enter key on the input and send, as the Send button does. {why}", why=page.diagnose('sent with enter')))


@reports_page_errors
def test_input_is_cleared_after_sending(context, server):
    page = open_page(context, server, "frontend_clear")
    page.send_by_click("clear me")
    page.wait_for_line("clear me", T("The sender's page"))
    left = page.page.input_value("#chat-message-input")
    assert left == "", T("After sending, #chat-message-input still holds {left}: set its value to '' after send().",
                         left=repr(left))


@reports_page_errors
def test_messages_are_kept_one_per_line(context, server):
    page = open_page(context, server, "frontend_lines")
    for text in ("first line", "second line", "third line"):
        page.send_by_click(text)
        page.wait_for_line(text, T("The page"))
    lines = page.log_lines()
    wanted = ["first line", "second line", "third line"]
    assert len(lines) == 3 and all(text in line for text, line in zip(wanted, lines)), T(
        "#chat-log holds {log}: append each message (never replace the log) "
        "with a newline after it.", log=repr(page.log_lines()))
