"""The one load driver and the one tally: `kit bench`, benchmarks/load.py and tests/test_load.py count alike.

Every message carries its sender, its number and when it was sent
("<sender>:<n>:<perf_counter_ns>"; the time may be left out), so each receiver
can count, per sender, what was lost, duplicated or out of order, and how long
each message took.

When a message counts as lost: nothing waits a fixed time to decide it. After
its messages a sender repeats a done marker until every receiver in its room
has seen it; a sender's consumer handles its frames in order and each
receiver's channel is first in, first out, so whatever of that sender is still
missing then was dropped by the server. A run also ends at its time limit, or
after `quiet` seconds without any frame (a dead server relays no marker); what
is missing then is lost too, and the tally's notes say why the run ended.
"""
from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

# Load measures the channel layer, not the flood guard: the solutions' settings read this from the environment.
UNLIMITED = {"CHAT_RATE_LIMIT": "1000000"}
DONE = "done"


def message(sender: str, number: int) -> str:
    """One numbered frame, stamped with its send time for the latency figures."""
    return json.dumps({"message": f"{sender}:{number}:{time.perf_counter_ns()}"})


def done_marker(sender: str) -> str:
    return json.dumps({"message": f"{sender}:{DONE}"})


@dataclass
class Tally:
    """What every receiver got, per sender, summed over the receivers."""
    expected: int = 0
    delivered: int = 0          # distinct numbered messages that arrived
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0       # arrived after a later message of the same sender
    corrupted: int = 0          # frames that are no numbered message: an error frame, an altered one
    seconds: float = 0.0        # from the first send to the last numbered arrival
    sent: int = 0
    send_seconds: float = 0.0
    latencies_ns: list[int] = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def delivered_per_second(self) -> float:
        return self.delivered / self.seconds if self.seconds else 0.0

    @property
    def sent_per_second(self) -> float:
        return self.sent / self.send_seconds if self.send_seconds else 0.0

    @property
    def lost_share(self) -> float:
        return self.lost / self.expected if self.expected else 0.0

    @property
    def p50_ms(self) -> float | None:
        return statistics.median(self.latencies_ns) / 1e6 if self.latencies_ns else None

    @property
    def p99_ms(self) -> float | None:
        if not self.latencies_ns:
            return None
        ordered = sorted(self.latencies_ns)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1e6


class Receiver:
    """One socket's record of what arrived from whom, in what order, and when."""

    def __init__(self):
        self.seen: dict[str, list[int]] = defaultdict(list)
        self.done_from: set[str] = set()
        self.corrupted = 0
        self.numbered = 0
        self.latencies_ns: list[int] = []
        self.last_frame = self.last_numbered = 0.0   # time.monotonic() of the last arrival

    def take(self, text: str | bytes) -> None:
        self.last_frame = time.monotonic()
        try:
            frame = json.loads(text)
            if isinstance(frame, dict) and frame.get("history") is True:
                return  # a room's saved messages, replayed on joining (stage history): not this run's traffic
            sender, number, *stamp = frame["message"].split(":")
            if len(stamp) > 1:
                raise ValueError("a numbered message has at most three fields")
            if number == DONE:
                self.done_from.add(sender)
                return
            number, sent_at = int(number), (int(stamp[0]) if stamp else None)
        except (ValueError, KeyError, TypeError, AttributeError):
            self.corrupted += 1
            return
        self.seen[sender].append(number)
        self.numbered += 1
        self.last_numbered = self.last_frame
        if sent_at is not None:
            self.latencies_ns.append(time.perf_counter_ns() - sent_at)


def score(receivers: list[tuple[Receiver, list[str]]], per_sender: int, tally: Tally) -> Tally:
    """Count lost, duplicated and out-of-order messages for each (receiver, its room's senders)."""
    for receiver, senders in receivers:
        tally.corrupted += receiver.corrupted
        tally.latencies_ns += receiver.latencies_ns
        for sender in senders:
            got = receiver.seen.get(sender, [])
            unique = set(got) & set(range(per_sender))
            tally.expected += per_sender
            tally.delivered += len(unique)
            tally.duplicated += len(got) - len(set(got))
            tally.lost += per_sender - len(unique)
            highest = -1
            for number in got:
                if number < highest:
                    tally.out_of_order += 1
                highest = max(highest, number)
    return tally


# -- who the load clients are --------------------------------------------------------
# From the `users` stage on, the chat relays only what logged-in people say, so load clients log
# in: one user for all (the rate limit is per socket), its session in the served tree's database.
_SESSIONS: dict[str, dict] = {}     # "127.0.0.1:port" -> the headers a logged-in client sends
_BY_TREE: dict[str, dict] = {}

def log_in(*servers) -> None:
    """The clients of these servers chat as a logged-in user; a tree that cannot log in yet, anonymously.

    The session is made as the checks' host makes one (kit/grading/sessions.py), in a sandboxed process of its own:
    it runs the tree's settings. It gets the server's own variables and Django's (DJANGO_SECRET_KEY signs
    the session), as daphne does."""
    import os
    import subprocess
    import sys
    from pathlib import Path
    from urllib.parse import urlsplit

    from kit.isolation import procs, sandbox

    for server in servers:
        if getattr(server, "project", None) is None:  # the bare baseline has no Django, and no users
            continue
        tree = str(server.project)
        if tree not in _BY_TREE:
            env = {name: value for name, value in os.environ.items() if name.startswith("DJANGO_")}
            env.update(getattr(server, "extra_env", None) or {})
            cookie = ""
            try:
                cmd = [sys.executable, "-P", "-m", "kit.grading.sessions", tree, "load"]
                if sandbox.for_grading():
                    proc = sandbox.spawn(cmd, Path(tree), env=env, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, text=True)
                else:  # like the server it logs in to (kit bench, a lesson): as this user, the tree left as it is
                    proc = procs.spawn(cmd, cwd=tree, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL, text=True)
                try:
                    out, _ = proc.communicate(timeout=120)
                except subprocess.TimeoutExpired:
                    procs.stop_tree(proc)
                    out = ""
                lines = out.strip().splitlines()
                cookie = lines[-1] if proc.returncode == 0 and lines else ""
            except OSError:
                pass
            _BY_TREE[tree] = {"Cookie": cookie} if cookie else {}
        _SESSIONS[urlsplit(server.url).netloc] = _BY_TREE[tree]


async def open_socket(url: str, origin: str | None):
    from urllib.parse import urlsplit

    from websockets.asyncio.client import connect

    return await connect(url, origin=origin, open_timeout=30, max_queue=None, ping_interval=None,
                         compression=None, close_timeout=2,
                         additional_headers=_SESSIONS.get(urlsplit(url).netloc, {}))


async def pump(connection, receiver: Receiver) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for frame in connection:
            receiver.take(frame)
    except ConnectionClosed:
        pass


@dataclass
class Member:
    """One client of a run: where it connects, its room, and its sender name (None: it only listens)."""
    url: str
    origin: str | None
    room: str
    name: str | None = None


async def drive(members: list[Member], messages: int, *, limit: float = 120.0, quiet: float | None = None,
                marker_every: float = 0.1, on_progress=None) -> Tally:
    """Connect every member, let each sender write `messages` as fast as it can, count what arrived.

    A refused handshake raises (after closing the sockets already open); lost messages never do.
    on_progress(numbered arrivals so far) is called a few times a second.
    """
    opened = await asyncio.gather(*(open_socket(m.url, m.origin) for m in members), return_exceptions=True)
    failed = [c for c in opened if isinstance(c, BaseException)]
    if failed:
        await asyncio.gather(*(c.close() for c in opened if not isinstance(c, BaseException)))
        raise failed[0]
    receivers = [Receiver() for _ in members]
    pumps = [asyncio.create_task(pump(c, r)) for c, r in zip(opened, receivers)]
    senders_of: dict[str, list[str]] = defaultdict(list)
    for member in members:
        if member.name is not None:
            senders_of[member.room].append(member.name)
    audience = {m.name: [r for r, other in zip(receivers, members) if other.room == m.room]
                for m in members if m.name is not None}
    tally = Tally(sent=len(audience) * messages)
    sent_by = {}

    async def send_all(name: str, connection) -> None:
        for number in range(messages):
            await connection.send(message(name, number))
        sent_by[name] = time.monotonic()
        # The marker may be dropped or refused like any message: repeat it until its room has it, less and
        # less often: each copy is relayed (and saved) too, and repeating at a fixed rate fed a busy worker
        # copies faster than it relayed them (200 sockets took 40 s or 300 s). Well within `quiet`, which
        # would take a pause for the end.
        pause, longest = marker_every, max(marker_every, min(2.0, quiet / 3 if quiet else 2.0))
        while not all(name in r.done_from for r in audience[name]):
            await connection.send(done_marker(name))
            await asyncio.sleep(pause)
            pause = min(pause * 2, longest)

    def complete() -> bool:
        return all(all(name in r.done_from for r in audience[name]) for name in audience)

    begun = time.monotonic()
    writers = [asyncio.create_task(send_all(m.name, c)) for m, c in zip(members, opened) if m.name is not None]
    try:
        while not complete():
            now = time.monotonic()
            if on_progress:
                on_progress(sum(r.numbered for r in receivers))
            if now - begun > limit:
                tally.notes.append(f"not every done marker arrived within {limit:.0f} s")
                break
            if quiet and len(sent_by) == len(audience) and \
                    now - max([r.last_frame for r in receivers] + [max(sent_by.values())]) > quiet:
                tally.notes.append(f"nothing arrived for {quiet:g} s")
                break
            await asyncio.sleep(0.02)
        if on_progress:
            on_progress(sum(r.numbered for r in receivers))
    finally:
        for writer in writers:
            writer.cancel()
        await asyncio.gather(*writers, return_exceptions=True)
        await asyncio.gather(*(c.close() for c in opened), return_exceptions=True)
        await asyncio.gather(*pumps, return_exceptions=True)
    last = max((r.last_numbered for r in receivers), default=0.0)
    tally.seconds = max(last - begun, 1e-9) if last else time.monotonic() - begun
    tally.send_seconds = max(sent_by.values(), default=begun) - begun
    return score([(r, senders_of[m.room]) for r, m in zip(receivers, members)], messages, tally)


# -- the shapes of load the benchmarks and tests use --------------------------------
async def room_traffic(servers, *, sockets: int, rooms: int, messages: int, limit: float = 120.0) -> Tally:
    """`sockets` clients spread over `rooms` and over the servers; every one sends `messages`.

    Its markers are slow (4 a second) so that they stay under the solutions' default rate limit.
    """
    log_in(*servers)
    members = [Member(servers[i % len(servers)].ws_url(f"load{i % rooms}"), servers[i % len(servers)].origin,
                      f"load{i % rooms}", f"s{i}") for i in range(sockets)]
    return await drive(members, messages, limit=limit, marker_every=0.25)


async def burst(server, *, senders: int, listeners: int, messages: int, limit: float = 120.0) -> Tally:
    """`senders` clients write `messages` each into one room as fast as they can; `listeners` only read."""
    log_in(server)
    url = server.ws_url("burst")
    members = [Member(url, server.origin, "burst", f"b{i}" if i < senders else None)
               for i in range(senders + listeners)]
    return await drive(members, messages, limit=limit)


def describe(label: str, tally: Tally) -> str:
    return (f"{label:<46} {tally.expected:>7} expected {tally.delivered:>7} delivered "
            f"{tally.lost:>6} lost ({tally.lost_share:5.1%}) {tally.duplicated:>3} dup {tally.out_of_order:>3} "
            f"disordered  {tally.seconds:6.2f} s  {tally.delivered_per_second:8.0f} deliveries/s"
            + (f"  [{'; '.join(tally.notes)}]" if tally.notes else ""))
