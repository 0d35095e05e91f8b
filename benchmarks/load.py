"""Load, bursts and faults on real daphne workers (figures, not a test; tests/test_load.py asserts them).

    python -m benchmarks.load [--sockets 200] [--messages 10] [--burst 400]   # from the kit's folder

The load and its counting are kit/benchmark/load.py's, the ones `kit bench` and the tests
use: no fixed wait decides that a message is lost (see its docstring).
Loopback only; every server is stopped on exit.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from kit.course.catalogue import KIT_ROOT
from kit.benchmark.load import UNLIMITED, burst, describe, room_traffic
from kit.services.redis import RedisServer
from kit.services.server import DaphneServer
from tests.classic import classic_tree

SOLUTIONS = KIT_ROOT / "solutions"


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
