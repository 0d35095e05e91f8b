"""Load, bursts and faults on real daphne workers (figures, not a test; tests/test_load.py asserts them).

    python benchmarks/load.py [--sockets 200] [--messages 10] [--burst 400]

Every message carries its sender and sequence number ("<sender>:<n>"), so each
receiver can count what was lost, duplicated or out of order for each sender.
Nothing waits a fixed time to decide that a message is lost: a burst ends when
every receiver has seen a "done" marker from every sender; a sender's consumer
handles its frames in order and each receiver's channel is first in, first
out, so anything of that sender still missing then was dropped by the server.
Loopback only; every server is stopped on exit.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kit.classic import classic_tree  # noqa: E402,F401  (tests import it from here too)
from kit.redis import RedisServer  # noqa: E402
from kit.server import DaphneServer  # noqa: E402

SOLUTIONS = ROOT / "solutions"
# Burst and load measure the channel layer, not the flood guard: lift the rate limit.
UNLIMITED = {"CHAT_RATE_LIMIT": "1000000"}

@dataclass
class Tally:
    """What every receiver got, per sender."""
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    corrupted: int = 0
    seconds: float = 0.0
    sent: int = 0
    send_seconds: float = 0.0
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


class Receiver:
    """One socket's record of what arrived from whom, in what order."""

    def __init__(self):
        self.seen: dict[str, list[int]] = defaultdict(list)
        self.done_from: set[str] = set()
        self.corrupted = 0

    def take(self, text: str) -> None:
        import json

        try:
            message = json.loads(text)["message"]
            sender, number = message.rsplit(":", 1)
        except (ValueError, KeyError, TypeError):
            self.corrupted += 1
            return
        if number.startswith("done"):
            self.done_from.add(sender)
        else:
            self.seen[sender].append(int(number))


def score(receivers: list[tuple[Receiver, list[str]]], per_sender: int, tally: Tally) -> Tally:
    """Count lost, duplicated and out-of-order messages for each (receiver, its room's senders)."""
    for receiver, senders in receivers:
        tally.corrupted += receiver.corrupted
        for sender in senders:
            got = receiver.seen.get(sender, [])
            tally.expected += per_sender
            tally.delivered += len(got)
            unique = set(got)
            tally.duplicated += len(got) - len(unique)
            tally.lost += per_sender - len(unique & set(range(per_sender)))
            tally.out_of_order += sum(1 for a, b in zip(got, got[1:]) if b <= a)
    return tally


async def open_socket(url: str, origin: str):
    from websockets.asyncio.client import connect

    return await connect(url, origin=origin, open_timeout=30, max_queue=None, ping_interval=None)


async def pump(connection, receiver: Receiver, until: asyncio.Event | None = None) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for frame in connection:
            receiver.take(frame)
    except ConnectionClosed:
        pass


async def room_traffic(servers: list[DaphneServer], *, sockets: int, rooms: int, messages: int,
                       limit: float = 120.0) -> Tally:
    """`sockets` clients spread over `rooms` and over the servers; each sends `messages` then a done marker.

    Senders pace themselves under the solutions' default rate limit (10 a second, bursts of 10).
    """
    import json

    tally = Tally()
    members = [(f"s{i}", f"load{i % rooms}", servers[i % len(servers)]) for i in range(sockets)]
    connections = await asyncio.gather(*(open_socket(server.ws_url(room), server.origin)
                                         for _, room, server in members))
    receivers = [Receiver() for _ in members]
    pumps = [asyncio.create_task(pump(c, r)) for c, r in zip(connections, receivers)]
    senders_of = defaultdict(list)
    for name, room, _ in members:
        senders_of[room].append(name)

    async def send_all(name, connection):
        for number in range(messages):
            await connection.send(json.dumps({"message": f"{name}:{number}"}))
        # The done marker may be refused by a rate limit: repeat it, slowly, until it is seen.
        while not all(name in r.done_from for r, (_, room, _) in zip(receivers, members)
                      if name in senders_of[room]):
            await connection.send(json.dumps({"message": f"{name}:done"}))
            await asyncio.sleep(0.25)

    begun = time.monotonic()
    try:
        await asyncio.wait_for(asyncio.gather(*(send_all(name, c) for (name, _, _), c in
                                                 zip(members, connections))), limit)
    except (asyncio.TimeoutError, TimeoutError):
        tally.notes.append(f"not every done marker arrived within {limit:.0f} s")
    tally.seconds = time.monotonic() - begun
    tally.sent = sockets * messages
    tally.send_seconds = tally.seconds
    for connection in connections:
        await connection.close()
    await asyncio.gather(*pumps, return_exceptions=True)
    return score([(r, senders_of[room]) for r, (_, room, _) in zip(receivers, members)], messages, tally)


async def burst(server: DaphneServer, *, senders: int, listeners: int, messages: int,
                limit: float = 120.0) -> Tally:
    """`senders` clients write `messages` each into one room as fast as they can; `listeners` only read."""
    import json

    room = "burst"
    names = [f"b{i}" for i in range(senders)]
    connections = await asyncio.gather(*(open_socket(server.ws_url(room), server.origin)
                                         for _ in range(senders + listeners)))
    receivers = [Receiver() for _ in connections]
    pumps = [asyncio.create_task(pump(c, r)) for c, r in zip(connections, receivers)]
    tally = Tally(sent=senders * messages)
    finished = asyncio.Event()

    def complete() -> bool:
        return all(set(names) <= r.done_from for r in receivers)

    async def write(name, connection):
        frames = [json.dumps({"message": f"{name}:{n}"}) for n in range(messages)]
        for frame in frames:
            await connection.send(frame)
        # The marker may itself be dropped while queues are full: repeat it until everyone has it.
        while not finished.is_set():
            await connection.send(json.dumps({"message": f"{name}:done"}))
            await asyncio.sleep(0.1)

    async def watch():
        while not complete():
            await asyncio.sleep(0.02)
        finished.set()

    begun = time.monotonic()
    writers = [asyncio.create_task(write(n, c)) for n, c in zip(names, connections)]
    watcher = asyncio.create_task(watch())
    try:
        await asyncio.wait_for(asyncio.shield(watcher), limit)
    except (asyncio.TimeoutError, TimeoutError):
        tally.notes.append(f"the burst did not complete within {limit:.0f} s")
        finished.set()
        watcher.cancel()
    tally.seconds = time.monotonic() - begun
    tally.send_seconds = tally.seconds
    await asyncio.gather(*writers, return_exceptions=True)
    for connection in connections:
        await connection.close()
    await asyncio.gather(*pumps, return_exceptions=True)
    return score([(r, names) for r in receivers], messages, tally)


def describe(label: str, tally: Tally) -> str:
    return (f"{label:<46} {tally.expected:>7} expected {tally.delivered:>7} delivered "
            f"{tally.lost:>6} lost ({tally.lost_share:5.1%}) {tally.duplicated:>3} dup {tally.out_of_order:>3} "
            f"disordered  {tally.seconds:6.2f} s  {tally.delivered_per_second:8.0f} deliveries/s"
            + (f"  [{'; '.join(tally.notes)}]" if tally.notes else ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--rooms", type=int, default=20)
    parser.add_argument("--messages", type=int, default=10, help="messages per socket in the load runs")
    parser.add_argument("--senders", type=int, default=5)
    parser.add_argument("--listeners", type=int, default=5)
    parser.add_argument("--burst", type=int, default=400, help="messages per sender in the burst")
    args = parser.parse_args()
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kit-load-")))
        one = stack.enter_context(DaphneServer(SOLUTIONS, env={"REDIS_URL": ""}))
        tally = asyncio.run(room_traffic([one], sockets=args.sockets, rooms=args.rooms, messages=args.messages))
        print(describe(f"solutions, 1 worker, {args.sockets} sockets", tally))
        redis = stack.enter_context(RedisServer(use_env=False))
        workers = [stack.enter_context(DaphneServer(SOLUTIONS, env={"REDIS_URL": redis.url})) for _ in range(2)]
        tally = asyncio.run(room_traffic(workers, sockets=args.sockets, rooms=args.rooms, messages=args.messages))
        print(describe(f"solutions, 2 workers on Redis, {args.sockets} sockets", tally))
        shape = dict(senders=args.senders, listeners=args.listeners, messages=args.burst)
        classic = stack.enter_context(DaphneServer(classic_tree(scratch / "classic"), env={"REDIS_URL": ""}))
        print(describe(f"classic, burst {args.senders}x{args.burst}", asyncio.run(burst(classic, **shape))))
        hardened = stack.enter_context(DaphneServer(SOLUTIONS, env={"REDIS_URL": "", **UNLIMITED}))
        print(describe(f"solutions, burst {args.senders}x{args.burst}", asyncio.run(burst(hardened, **shape))))
        redis_classic = stack.enter_context(DaphneServer(scratch / "classic", env={"REDIS_URL": redis.url}))
        print(describe("classic on Redis, burst", asyncio.run(burst(redis_classic, **shape))))
        redis_hardened = stack.enter_context(DaphneServer(SOLUTIONS, env={"REDIS_URL": redis.url, **UNLIMITED}))
        print(describe("solutions on Redis, burst", asyncio.run(burst(redis_hardened, **shape))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
