"""Checkpoint `hardening`: the chat survives hostile frames, foreign pages, odd room names and floods.

What counts as refusing a frame (the learner may pick either):
- an error frame to the sender alone, a JSON object {"error": "<text>"} (the
  socket stays open and must keep working), or
- closing that socket with a code that says why: 1003 (unsupported data),
  1007 (invalid payload), 1008 (policy violation), 1009 (too big) or an
  application code 4000-4999.
Either way nothing reaches the room and the server logs no traceback.

Limits come from the learner's settings: CHAT_MAX_MESSAGE_LENGTH (characters)
and CHAT_RATE_LIMIT (messages a second per socket). In-process checks use the
learner's consumer behind a router that lets any room name through, so they
grade the consumer alone; live checks use daphne and the learner's whole app.
"""
import asyncio
import json
import time
from urllib.parse import quote, urljoin

import pytest

from kit.grading.explain import log_errors
from kit.course.i18n import T, recall
from support import (PAGE_ORIGIN, WAIT, LiveSocket, Socket, close_all, consumer_app, error_of, fail, login, project_app,
                     run, server_clue, setting_values)

CLOSE_CODES = T("1003, 1007, 1008, 1009 or 4000-4999")
FOREIGN_ORIGIN = "http://attacker.example"

# (name, text frame or None, bytes frame or None): frames a chat must refuse.
BAD_FRAMES = [
    ("not-json", "hello, no JSON here", None),
    ("json-list", '["message", "a list"]', None),
    ("json-string", '"just a string"', None),
    ("missing-message", '{"text": "wrong key"}', None),
    ("number-message", '{"message": 42}', None),
    ("null-message", '{"message": null}', None),
    ("empty-message", '{"message": ""}', None),
    ("blank-message", '{"message": "   "}', None),
    ("binary-frame", None, b"\x00\x01binary"),
]

# Pairs of different rooms that naive clean-ups (dropping non-ASCII, truncating,
# replacing punctuation) would squeeze into one group.
ODD_ROOMS = [
    ("bengali", "আড্ডা", "আলাপ"),
    ("over-long", "a" * 150 + "x", "a" * 150 + "y"),
    ("punctuation", "tea&talk!", "tea&talk:"),
]


def allowed_close(code) -> bool:
    return code in (1003, 1007, 1008, 1009) or (code is not None and 4000 <= code <= 4999)


def limits() -> tuple[int, int]:
    """(CHAT_MAX_MESSAGE_LENGTH, CHAT_RATE_LIMIT) from the learner's settings, checked for sense."""
    values = setting_values("CHAT_MAX_MESSAGE_LENGTH", "CHAT_RATE_LIMIT")
    found = {}
    for name, low, high in (("CHAT_MAX_MESSAGE_LENGTH", 1, 100_000), ("CHAT_RATE_LIMIT", 3, 100)):
        value = values.get(name)
        if value is None:
            fail(T("myproject/settings.py has no {name}: add it (for example {name} = {example}); the consumer "
                   "reads it from django.conf.settings.", name=name, example=2000 if 'LENGTH' in name else 10))
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            fail(T("{name} in myproject/settings.py is {value}: make it a whole number from {low} to {high}.",
                   name=name, value=repr(value), low=low, high=high))
        found[name] = value
    return found["CHAT_MAX_MESSAGE_LENGTH"], found["CHAT_RATE_LIMIT"]


def chat_app():
    """The learner's consumer behind a router that lets any room name reach it."""
    return consumer_app(any_room=True)


# -- in process: one frame at a time --------------------------------------------
async def expect_refusal(sock: Socket, what: str) -> bool:
    """The sender's next output must refuse the frame; True when the socket is still open."""
    try:
        output = await sock.receive_output(T("an answer to {what}", what=what))
    except AssertionError as exc:
        fail(T("{error} Never trust a frame: check it inside try/except and answer bad input with an error frame.",
               error=recall(str(exc))))
    if output is None:
        fail(T("After {what}, the sender heard nothing in {wait:.0f} s: answer it with an error frame "
               '{{"error": "..."}} (or close the socket with a code from {codes}).', what=what, wait=WAIT,
               codes=CLOSE_CODES))
    if output["type"] == "websocket.close":
        code = output.get("code", 1000)
        if not allowed_close(code):
            fail(T("After {what}, the consumer closed the socket with code {code}: send an error frame instead, "
                   "or close with a code that says why ({codes}).", what=what, code=code, codes=CLOSE_CODES))
        sock.open = False
        return False
    text = output.get("text")
    try:
        frame = json.loads(text) if text is not None else None
    except ValueError:
        frame = None
    if not isinstance(frame, dict) or not isinstance(frame.get("error"), str) or not frame["error"].strip():
        if isinstance(frame, dict) and "message" in frame:
            fail(T("After {what}, the room got {got} relayed: refuse such a frame with "
                   '{{"error": "..."}} to the sender, and do not group_send it.', what=what, got=repr(frame['message'])))
        fail(T("After {what}, the sender got {got}: an error frame is a JSON object like "
               '{{"error": "why it was refused"}}.', what=what, got=repr(str(text)[:80])))
    return True


async def refused_and_room_unharmed(app, what: str, *, text=None, data=None) -> None:
    """Send one bad frame; the sender is told, the room hears nothing, and chat goes on."""
    alice, bob = Socket(app, "lobby"), Socket(app, "lobby")
    await alice.connect()
    await bob.connect()
    if data is not None:
        await alice.send_bytes(data)
    else:
        await alice.send_text(text)
    still_open = await expect_refusal(alice, what)
    if still_open:
        await alice.send("alice is still here")
        got = await alice.receive(T("its next message, after the refused frame"))
        assert got["message"] == "alice is still here", T(
            "After {what}, the sender's next message came back as {got}.", what=what, got=repr(got['message']))
    await bob.send("bob after the bad frame")
    # Bob's queue is first in, first out: a relayed bad frame would come first.
    expected = ["alice is still here"] if still_open else []
    for want in [*expected, "bob after the bad frame"]:
        got = await bob.receive(T("the room's messages after a refused frame"))
        assert got["message"] == want, T(
            "After {what}, another socket in the room received {got}: a refused frame "
            "must not reach the room.", what=what, got=repr(got['message']))
    await close_all(alice, bob)


@pytest.mark.parametrize("name,text,data", BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
def test_bad_frame_is_refused(name, text, data):
    app = chat_app()
    what = T("a binary frame") if data is not None else T("the frame {text}", text=repr(text))
    run(lambda: refused_and_room_unharmed(app, what, text=text, data=data))


def test_oversized_message_is_refused():
    longest, _ = limits()
    app = chat_app()

    async def scenario():
        await refused_and_room_unharmed(app, T("a message of {length} characters (one over "
                                               "CHAT_MAX_MESSAGE_LENGTH = {longest})", length=longest + 1,
                                               longest=longest),
                                        text=json.dumps({"message": "x" * (longest + 1)}))
        alice = Socket(app, "lobby")
        await alice.connect()
        await alice.send("y" * longest)
        got = await alice.receive(T("a message of exactly {longest} characters, the limit", longest=longest))
        assert got["message"] == "y" * longest, T(
            "A message of exactly CHAT_MAX_MESSAGE_LENGTH = {longest} characters must still be relayed.",
            longest=longest)
        await alice.close()

    run(scenario)


async def read_until(sock, marker: str, counts: dict) -> str:
    """Read a flooding socket's frames until marker comes back ('through'), the socket is closed with a
    fair code ('closed'), or nothing more comes ('refused': the marker was refused or dropped)."""
    while True:
        output = await sock.next_output()  # a timed-out receive_output() would cancel the consumer
        if output is None:
            return "refused"
        if output["type"] == "websocket.close":
            if not allowed_close(output.get("code")):
                fail(T("The consumer closed a flooding socket with code {code}: "
                       "use a code that says why ({codes}), or refuse with error frames.", code=output.get('code'),
                       codes=CLOSE_CODES))
            return "closed"  # closing a flooder is a fair refusal
        frame = json.loads(output["text"])
        if frame.get("message") == marker:
            return "through"
        counts["refused" if "error" in frame else "relayed"] += 1


def test_flood_is_limited():
    _, rate = limits()
    app = chat_app()
    flood = 10 * rate + 20

    async def scenario():
        alice, bob = Socket(app, "lobby"), Socket(app, "lobby")
        await alice.connect()
        await bob.connect()
        begun = time.monotonic()
        for number in range(flood):
            await alice.send(f"flood {number}")
        # After the flood, a message is allowed again once the rate window has
        # refilled. On alice's first-in-first-out queue its echo follows every flood
        # message that got through. Under load the flood may take a while to be
        # handled, so a refused marker is followed by another, a little later.
        counts = {"relayed": 0, "refused": 0}
        for attempt in range(6):
            await asyncio.sleep(1.2)
            marker = f"after the flood {attempt}"
            await alice.send(marker)
            if await read_until(alice, marker, counts) != "refused":
                break
        else:
            fail(T("No message got through in the seconds after a flood: the rate limit never lets messages "
                   "through again (refill the bucket as time passes)."))
        relayed = counts["relayed"]
        elapsed = time.monotonic() - begun
        assert relayed < flood, T(
            "All {flood} messages sent at once were relayed: CHAT_RATE_LIMIT = {rate} a second is not enforced.",
            flood=flood, rate=rate)
        allowed = rate * (elapsed + 1) + 1
        assert relayed <= allowed, T(
            "{relayed} of {flood} flood messages were relayed within {elapsed:.1f} s, more than "
            "CHAT_RATE_LIMIT = {rate} a second allows (about {allowed:.0f}).", relayed=relayed, flood=flood,
            elapsed=elapsed, rate=rate, allowed=allowed)
        # The rest of the room keeps working: bob's own message reaches him after what alice got through.
        await bob.send("bob is unaffected")
        for _ in range(relayed + 2):
            got = await bob.receive(T("its own message after another socket flooded the room"))
            if got["message"] == "bob is unaffected":
                break
        else:
            fail(T("A socket in a room where another socket flooded never got its own message back."))
        await close_all(alice, bob)

    run(scenario)


@pytest.mark.parametrize("name,room,other", ODD_ROOMS, ids=[r[0] for r in ODD_ROOMS])
def test_odd_room_name_is_safe(name, room, other):
    app = chat_app()

    async def scenario():
        alice, carol = Socket(app, room, path=f"/ws/chat/{room}/"), Socket(app, other, path=f"/ws/chat/{other}/")
        accepted = []
        for sock in (alice, carol):
            ok, _ = await sock.try_connect()
            accepted.append(ok)
        if not all(accepted):
            return  # refusing such a room at the handshake is allowed
        await alice.send("for the first room")
        await alice.receive(T("its message in a room with an unusual name"))
        await carol.send("for the second room")
        first = await carol.receive(T("its own message"))
        assert first["message"] == "for the second room", T(
            "Rooms {room} and {other} share a group: a message for one reached the other. "
            "Map each room name to its own group (a hash of the whole name).", room=repr(room[:30]),
            other=repr(other[:30]))
        await close_all(alice, carol)

    run(scenario)


def test_foreign_origin_is_refused_in_process():
    application = project_app()

    async def scenario():
        evil = Socket(application, "lobby", origin=FOREIGN_ORIGIN)
        accepted, _ = await evil.try_connect()
        if accepted:
            await evil.close()
            fail(T("A page on {origin} opened a socket to your chat: any website could chat as "
                   "your visitors. Wrap the websocket app in AllowedHostsOriginValidator.", origin=FOREIGN_ORIGIN))
        page = Socket(application, "lobby", origin=PAGE_ORIGIN)
        await page.connect()
        await page.close()

    run(scenario)


# -- live: the learner's whole app under daphne --------------------------------------
class LogWatch:
    """What daphne logged since a point in time: each live check owns its own part of the log."""

    def __init__(self, server):
        self.server, self.mark = server, len(server.log_text())

    def log_text(self) -> str:
        return self.server.log_text()[self.mark:]

    def clue(self) -> str:
        return server_clue(self)  # the first error of this check, not of an earlier one

    def assert_clean(self, doing: str) -> None:
        if log_errors(self.log_text()):   # a send to a socket the check had just closed is no error
            fail(T("daphne logged an unhandled exception while {doing}. {clue}", doing=doing, clue=self.clue()))


async def live_refusal(sock: LiveSocket, what: str, watch: LogWatch) -> bool:
    from websockets.exceptions import ConnectionClosed

    try:
        frame = await asyncio.wait_for(sock.connection.recv(), WAIT)
    except (asyncio.TimeoutError, TimeoutError):
        fail(T("After {what}, the client heard nothing in {wait:.0f} s. {clue}", what=what, wait=WAIT,
               clue=watch.clue()))
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        if not allowed_close(code):
            if code == 1011:
                fail(T("After {what}, daphne closed the socket with code {code} (the consumer crashed). {clue}",
                       what=what, code=code, clue=watch.clue()))
            fail(T("After {what}, daphne closed the socket with code {code}. {clue}", what=what, code=code,
                   clue=watch.clue()))
        return False
    value = json.loads(frame) if isinstance(frame, str) and frame.startswith("{") else None
    if not isinstance(value, dict) or not isinstance(value.get("error"), str):
        fail(T("After {what}, the client got {got} instead of an error frame "
               '{{"error": "..."}}.', what=what, got=repr(str(frame)[:80])))
    return True


def test_live_bad_frames_are_refused_without_tracebacks(server):
    watch = LogWatch(server)

    async def scenario():
        bob = LiveSocket(server, "lobby")
        await bob.connect()
        alice = None
        for name, text, data in BAD_FRAMES:
            if alice is None:
                alice = LiveSocket(server, "lobby")
                await alice.connect()
            await alice.connection.send(data if data is not None else text)
            what = T("a binary frame") if data is not None else T("the frame {text}", text=repr(text))
            if not await live_refusal(alice, what, watch):
                alice = None
        await bob.send("bob after the attacks")
        got = await bob.receive(T("its own message after another client sent bad frames"))
        assert got["message"] == "bob after the attacks", T(
            "After another client sent bad frames, a client received {got}: "
            "refused frames must not reach the room.", got=repr(got['message']))
        await close_all(*(s for s in (alice, bob) if s))

    run(scenario)
    watch.assert_clean(T("clients sent malformed frames"))


def test_live_foreign_origin_is_refused(server):
    async def scenario():
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        try:
            # With the visitor's session cookie, as a browser sends it: a tree that refuses anonymous sockets at
            # the handshake must still refuse the foreign page for its Origin.
            evil = await connect(server.ws_url("lobby"), origin=FOREIGN_ORIGIN, open_timeout=WAIT,
                                 additional_headers=LiveSocket(server, "lobby").headers())
        except InvalidStatus as exc:
            assert exc.response.status_code == 403, T(
                "A foreign Origin got HTTP {status}, expected 403. {clue}", status=exc.response.status_code,
                clue=server_clue(server))
        else:
            await evil.close()
            fail(T("daphne accepted a WebSocket from a page on {origin}: wrap the websocket app "
                   "in AllowedHostsOriginValidator.", origin=FOREIGN_ORIGIN))
        page = LiveSocket(server, "lobby")
        await page.connect()  # the chat's own page still connects
        await page.close()

    run(scenario)


@pytest.mark.parametrize("room", ["আড্ডা", "a" * 120], ids=["bengali", "over-long"])
def test_live_odd_room_name(server, room):
    watch = LogWatch(server)

    async def scenario():
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        try:
            client = await connect(server.ws_url(quote(room)), origin=server.origin, open_timeout=WAIT,
                                   additional_headers=LiveSocket(server, room).headers())
        except InvalidStatus as exc:
            if exc.response.status_code == 403:
                return  # refused at the handshake, on purpose: allowed
            fail(T("Opening room {room} failed with HTTP {status} (a crash, not a refusal). {clue}",
                   room=repr(room[:30]), status=exc.response.status_code, clue=watch.clue()))
        sock = LiveSocket(server, room)
        sock.connection = client
        await sock.send("any room name works")
        got = await sock.receive(T("its message in this room"))
        assert got["message"] == "any room name works", T("Room {room} echoed {got}.", room=repr(room[:30]),
                                                          got=repr(got['message']))
        await sock.close()

    run(scenario)
    watch.assert_clean(T("a client joined room {room}", room=repr(room[:30])))


def test_live_flood_does_not_silence_others(server):
    _, rate = limits()
    watch = LogWatch(server)
    flood = 10 * rate + 20

    async def scenario():
        alice, bob = LiveSocket(server, "floodroom"), LiveSocket(server, "floodroom")
        await alice.connect()
        await bob.connect()
        for number in range(flood):
            await alice.connection.send(json.dumps({"message": f"flood {number}"}))
        await bob.send("bob is unaffected")
        for _ in range(flood + 1):
            got = await bob.receive(T("its own message while another client flooded the room"))
            if got["message"] == "bob is unaffected":
                break
        else:
            fail(T("While another client flooded the room, a client never got its own message back."))
        await close_all(alice, bob)

    run(scenario)
    watch.assert_clean(T("a client flooded the room"))


def test_html_in_a_message_is_shown_as_text(server):
    """What the page shows is text: a message holding HTML, and the error frame that refuses a message of its own."""
    from kit.services import browser, page as pages

    browser.require()
    _, rate = limits()
    payload = '<img src=x onerror="window.__kitXss=1">'
    # What the page's own socket received and what the page fetched, as the browser itself reports them:
    # an <img src=x> made from a message makes the browser fetch x, whatever the page's scripts say.
    received, requested = [], []
    with browser.chromium(only=server) as chromium:   # the page reaches its server alone
        context = chromium.new_context()
        session = login(required=False)
        if session:  # logged in: a tree that passed `users` may refuse anonymous sockets at the handshake
            context.add_cookies([{"name": session["name"], "value": session["value"], "url": server.url}])
        page = context.new_page()
        page.set_default_timeout(WAIT * 4 * 1000)
        page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: received.append(frame)))
        page.on("request", lambda request: requested.append(request.url))
        page.goto(server.url + "/chat/xssroom/")
        send_when_page_listens(server, "xssroom", page, received, [payload, "after the html"])
        pages.wait_until(page, lambda: "after the html" in shown(page), timeout=WAIT * 4)
        injected = page.locator('img[src="x"]').count()
        ran = any(url == urljoin(page.url, "x") for url in requested)
        assert not injected and not ran, T(
            "A message holding HTML became part of the page (an <img> whose onerror runs code): show messages "
            "as text, with textContent or a textarea's value, never innerHTML.")
        assert payload in shown(page), T(
            "A message holding HTML was not shown as typed: the page shows {shown}.", shown=repr(shown(page)[-120:]))
        page_shows_its_refusal(page, rate, received)



def shown_in_body(page) -> str:
    """The page's rendered text (never its scripts, never a textarea's value), read in Playwright's own world."""
    from playwright.sync_api import Error

    try:
        return page.locator("body").inner_text(timeout=WAIT * 1000)
    except Error:
        return ""


def page_shows_its_refusal(page, rate: int, received: list) -> None:
    """The person typing sends more than CHAT_RATE_LIMIT messages at once; the server refuses one with an
    error frame (a visitor who may not post is refused at the first), and the page must show its text.
    received: the frames the page's socket received, as the browser reports them (filled as they come)."""
    from kit.services.page import wait_until

    def refusals() -> list:
        return [error_of(frame) for frame in list(received)]

    shown_before = shown_in_body(page)
    # Typed and sent in one go: Playwright's own typing is slower than the bucket refills.
    page.evaluate("""(count) => {
        const input = document.querySelector('#chat-message-input');
        const send = document.querySelector('#chat-message-submit');
        for (let number = 0; number < count; number++) { input.value = 'one of many ' + number; send.click(); }
    }""", rate + 3)
    wait_until(page, lambda: any(refusals()), timeout=WAIT)
    error = next((e for e in refusals() if e), None)
    if error is None:
        fail(T("Your page sent {count} messages at once and its socket never got an error frame back: the server "
               "must refuse messages beyond CHAT_RATE_LIMIT with {{\"error\": \"...\"}}.", count=rate + 3))
    before = shown_before.count(error)
    if not wait_until(page, lambda: shown_in_body(page).count(error) > before, timeout=WAIT):
        fail(T("Your server refused a message from your page with an error frame ({error}), but the page never "
               "showed it: in chatSocket.onmessage, when data.error is set, put it in an element of its own with "
               "textContent, such as <p id=\"chat-error\">, and leave it out of the chat log.", error=repr(error)))


def shown(page) -> str:
    """The text of the page's chat log, whatever element the learner made it, read in Playwright's own world."""
    from kit.services.page import shown_text

    return shown_text(page, "#chat-log") or ""


def send_when_page_listens(server, room, page, received, messages) -> None:
    """Send messages from a `websockets` client once the page's own socket is in the room."""
    from websockets.sync.client import connect

    from kit.services.page import holds

    try:
        client = connect(server.ws_url(room), origin=server.origin, open_timeout=WAIT,
                         additional_headers=LiveSocket(server, room).headers())
    except Exception as exc:
        fail(T("A client could not join room '{room}' to talk to the page ({error}). {clue}", room=room,
               error=str(exc), clue=server_clue(server)))
    with client:
        # The page joins when its script has run; a probe that its socket receives and it shows proves it joined.
        deadline = time.monotonic() + 4 * WAIT
        probes = []
        for attempt in range(1000):
            probes.append(f"is the page listening? {attempt}")
            client.send(json.dumps({"message": probes[-1]}))
            client.recv(WAIT)
            log = shown(page)
            if any(probe in log and any(holds(frame, probe) for frame in received if isinstance(frame, str))
                   for probe in probes):
                break
            if time.monotonic() > deadline:
                fail(T("The chat page never showed a message sent to its room: finish the frontend stage first. "
                       "{clue}", clue=server_clue(server)))
            page.wait_for_timeout(250)
        for message in messages:
            client.send(json.dumps({"message": message}))
            client.recv(WAIT)
