"""Checkpoint `frontend`: the room page's JavaScript chats, in a real headless Chromium.

daphne serves the graded tree on a random free port, so a page that dials a
fixed host or port (ws://127.0.0.1:8000) cannot connect. Pages in one room must
see each other's messages in #chat-log; a page in another room must not.
Every wait is for a condition in the page, never a fixed sleep.
"""
import functools
import json

import pytest

from kit.i18n import T, recall
from support import LEARNER, PROJECT, WAIT, fail, login, server_clue

ROOM_TEMPLATE = ("room.html", PROJECT / "myapp" / "templates" / "myapp" / "room.html")

# A browser on a busy machine is slower than a socket: wait longer for the page's
# conditions than for a bare client (a correct page still meets them at once).
PAGE_WAIT = 3 * WAIT

# Runs in each page before its own scripts: remembers every WebSocket the page
# creates (and every URL it tried, even one the browser refused) and every frame
# it sends, so a check can wait for the page's socket to open and say which URL
# it dialled and what it sent.
TRACK_SOCKETS = """
(() => {
  const Native = window.WebSocket;
  const kit = window.__kit = {sockets: [], tried: [], sent: []};
  window.WebSocket = class extends Native {
    constructor(url, ...rest) {
      kit.tried.push(String(url));
      super(url, ...rest);
      kit.sockets.push(this);
    }
    send(data) {
      kit.sent.push(typeof data === "string" ? data : "[binary data]");
      return super.send(data);
    }
  };
})();
"""
OPEN_OR_ELSEWHERE = """() => {
  const kit = window.__kit;
  return kit.sockets.some(s => s.readyState === WebSocket.OPEN)
      || kit.tried.some(u => { try { return new URL(u, location.href).host !== location.host; }
                               catch (e) { return true; } });
}"""
# The log's lines: a textarea's value, or any element's rendered text (a <div> per message, a <br> ...).
# A line may carry more than the message (an author, a time): it counts when it contains the text.
LOG_LINES = """() => {
  const log = document.querySelector('#chat-log');
  if (!log) return [];
  const text = (log.tagName === 'TEXTAREA' || log.tagName === 'INPUT') ? log.value : log.innerText;
  return text.split('\\n').map(line => line.trim()).filter(line => line);
}"""
LOG_HAS = "([text]) => (" + LOG_LINES + ")().some(line => line.includes(text))"


@pytest.fixture(scope="module")
def chromium():
    from kit import browser

    browser.require()
    with browser.chromium() as instance:
        yield instance


@pytest.fixture
def context(chromium):
    from kit.browser import PageErrors

    ctx = chromium.new_context()
    ctx.add_init_script(TRACK_SOCKETS)
    ctx.set_default_timeout(PAGE_WAIT * 1000)
    # The pages' own errors, seen by the browser (Playwright's events), never asked of the page.
    ctx.kit_errors = PageErrors(template=ROOM_TEMPLATE)
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
    """One browser tab on a room page, driven like a person would."""

    def __init__(self, context, server, room, *, host=None, user=LEARNER):
        self.server, self.room = server, room
        self.page = context.new_page()
        self.errors = getattr(context, "kit_errors", None)
        if self.errors is not None:
            self.errors.watch(self.page)
        origin = f"http://{host}:{server.port}" if host else server.url
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
            if self.page.query_selector(element) is None:
                fail(T("The room page has no {element} element: keep the ids of the given room.html.", element=element))
        self.wait_connected()
        return self

    def wait_for(self, condition, arg=None) -> bool:
        """Wait up to PAGE_WAIT for a condition in the page; give up sooner (after WAIT) once the page's
        script has thrown, since what it was to do may never run: the failure then leads with that error."""
        import time

        from playwright.sync_api import Error

        started = time.monotonic()
        deadline = started + PAGE_WAIT
        while True:
            left = deadline - time.monotonic()
            try:
                self.page.wait_for_function(condition, arg=arg, timeout=max(1, min(left, 1.0)) * 1000)
                return True
            except Error:
                pass
            thrown = self.errors is not None and self.errors.stopped_for() > 0
            if left <= 1.0 or (thrown and time.monotonic() - started > WAIT):
                return False

    def wait_connected(self):
        self.wait_for(OPEN_OR_ELSEWHERE)  # when it never comes, explained below from what the page tried
        state = self.page.evaluate("""() => ({
            tried: window.__kit.tried, open: window.__kit.sockets.some(s => s.readyState === 1),
            host: location.host, protocol: location.protocol})""")
        wrong = [u for u in state["tried"] if f"//{state['host']}/" not in u]
        if wrong:
            fail(T("The page was served from {host} but opened a WebSocket to {url}: "
                   "build the socket URL from window.location.host, never a fixed host or port.",
                   host=state['host'], url=wrong[0]))
        if not state["tried"]:
            fail(T("The room page never opened a WebSocket in {wait:.0f} s: "
                   "create one with new WebSocket(url) when the page loads.", wait=PAGE_WAIT))
        if not state["open"]:
            fail(T("The page's WebSocket to {url} did not open in {wait:.0f} s. {clue}", url=state['tried'][0],
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
        """Every frame the page has sent so far."""
        return self.page.evaluate("() => window.__kit.sent")

    def wait_for_a_send(self):
        return self.wait_for("() => window.__kit.sent.length > 0")

    def log_lines(self):
        return self.page.evaluate(LOG_LINES)

    def wait_for_line(self, text, who):
        if not self.wait_for(LOG_HAS, [text]):
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
        return (server_clue(self.server) or T("The server answered; append data.message + '\\n' "
                                              "to the #chat-log textarea's value in onmessage."))

    def close(self):
        self.page.close()


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

    # Serve the real room page as if it came over https (the browser never leaves
    # this machine): its socket URL must then start with wss:.
    with urllib.request.urlopen(f"{server.url}/chat/frontend_tls/", timeout=PAGE_WAIT) as response:
        body = response.read()
    secure = f"https://127.0.0.1:{server.port}/chat/frontend_tls/"
    page = context.new_page()
    context.kit_errors.watch(page)
    context.kit_errors.remember_source(secure, body.decode("utf-8", "replace"))
    page.route(secure, lambda route: route.fulfill(status=200, body=body, content_type="text/html"))
    page.goto(secure)
    try:
        page.wait_for_function("() => window.__kit.tried.length > 0", timeout=PAGE_WAIT * 1000)
    except Exception:
        fail(T("Served over https, the room page opened no WebSocket: build its URL from window.location."))
    tried = page.evaluate("() => window.__kit.tried[0]")
    assert tried.startswith("wss://"), T(
        "Served over https, the page dialled {url}: an https page must use wss: "
        "(the browser blocks ws: there). Pick the scheme from location.protocol.", url=tried)
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
    alice.send_by_click("hi from alice")
    alice.wait_for_line("hi from alice", T("The sender's page"))
    bob.wait_for_line("hi from alice", T("Another page in the same room"))
    # Carol's page gets frames in order: had the lobby's message leaked into the
    # kitchen, it would be in her log before her own message.
    carol.send_by_click("hi from carol")
    carol.wait_for_line("hi from carol", T("A page in another room"))
    lines = carol.log_lines()
    assert len(lines) == 1 and "hi from carol" in lines[0], T(
        "A page in room 'frontend_kitchen' shows {log}: a message sent to another room "
        "reached it. Each page must join only its own room.", log=repr(carol.log_lines()))


@reports_page_errors
def test_enter_sends(context, server):
    page = open_page(context, server, "frontend_enter")
    page.send_by_enter("sent with enter")
    if not page.wait_for(LOG_HAS, ["sent with enter"]):
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
