"""`kit bench`: what each channel layer delivers, how fast, and what it silently loses.

For every layer (in-memory, Redis, Redis pub/sub; each at a chosen capacity)
it starts daphne on the graded tree, connects N `websockets` clients to one
room, lets S of them send M messages each as fast as they can, and counts at
every client what arrived: deliveries per second, p50/p99 latency (send to
receive), lost, duplicated and out-of-order messages. The same load against a
bare `websockets` broadcast server, with no Django or Channels, shows the
pure-Python limit of this machine, and so what the framework costs.

The layer is chosen without touching the learner's settings file: daphne runs
with DJANGO_SETTINGS_MODULE pointing at a small bench-only module (written to a
temporary folder put first on PYTHONPATH) that imports `myproject.settings` and
replaces CHANNEL_LAYERS (and lifts a chat rate limit, which a flood would hit).

Loss is counted, not guessed: a run ends when every expected delivery arrived,
or when nothing more has arrived for `--quiet` seconds after the last send.

    kit bench                          # defaults finish in under 30 s
    kit bench --clients 20 --senders 2 --messages 50 --layers memory,redis:10000 --json -
    python -m kit.bench --bare-port 8765   # the bare broadcast server alone
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import procs

DEFAULT_CAPACITY = 100  # Channels' and channels_redis's own default
BACKENDS = {
    "memory": "channels.layers.InMemoryChannelLayer",
    "redis": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
}
DEFAULT_LAYERS = "memory,redis,pubsub,redis:10000"
BENCH_SETTINGS = '''"""Written by `kit bench`: the graded tree's settings with the channel layer under test."""
import json
import os

from myproject.settings import *  # noqa: F401,F403

CHANNEL_LAYERS = {"default": json.loads(os.environ["KIT_BENCH_LAYER"])}
CHAT_RATE_LIMIT = 10 ** 9  # the bench floods on purpose; a hardened consumer would refuse it
'''
ROOM = "bench"


@dataclass
class Setup:
    """One thing to measure: a channel layer at a capacity, or the bare websockets server."""
    name: str                  # memory | redis | pubsub | bare
    capacity: int | None = None

    @property
    def label(self) -> str:
        if self.name == "bare":
            return "bare websockets"
        if self.name == "pubsub":
            return "Redis pub/sub"
        title = {"memory": "in-memory", "redis": "Redis"}[self.name]
        return f"{title} (cap {self.capacity})"

    def layer(self, redis_url: str | None) -> dict:
        layer = {"BACKEND": BACKENDS[self.name], "CONFIG": {}}
        if self.name != "memory":
            layer["CONFIG"]["hosts"] = [redis_url]
        if self.name != "pubsub":  # pub/sub keeps no queue, so it has no capacity
            layer["CONFIG"]["capacity"] = self.capacity
        return layer


@dataclass
class Result:
    label: str
    clients: int
    senders: int
    messages: int
    expected: int = 0
    delivered: int = 0          # unique (sender, number) pairs received, summed over clients
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    refused: int = 0            # error frames the server answered instead of relaying
    server_errors: int = 0      # tracebacks in daphne's log: a crash loses messages too, and is no capacity drop
    seconds: float = 0.0
    deliveries_per_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    error: str | None = None

    @property
    def lost_percent(self) -> float:
        return 100.0 * self.lost / self.expected if self.expected else 0.0


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    @property
    def bare(self) -> Result | None:
        return next((r for r in self.results if r.label == "bare websockets" and not r.error), None)

    def ratio(self, result: Result) -> float | None:
        """How many times the bare server's deliveries per second this setup's are."""
        bare = self.bare
        if bare is None or result is bare or result.error or not result.deliveries_per_s:
            return None
        return bare.deliveries_per_s / result.deliveries_per_s

    def to_dict(self) -> dict:
        rows = []
        for r in self.results:
            row = asdict(r)
            row["lost_percent"] = round(r.lost_percent, 2)
            ratio = self.ratio(r)
            row["bare_ratio"] = round(ratio, 2) if ratio else None
            rows.append(row)
        return {"results": rows}


class UsageError(ValueError):
    """A bad option; the message says which and why."""


def parse_setups(text: str, bare: bool = True) -> list[Setup]:
    """'memory,redis:10000,pubsub' -> setups; a bare websockets baseline is added last."""
    setups = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, capacity = item.partition(":")
        if name not in BACKENDS:
            raise UsageError(f"unknown layer {name!r}: choose from {', '.join(BACKENDS)} "
                             "(optionally with a capacity, e.g. redis:10000)")
        try:
            value = int(capacity) if capacity else DEFAULT_CAPACITY
        except ValueError:
            raise UsageError(f"capacity in {item!r} is not a whole number") from None
        if value < 1:
            raise UsageError(f"capacity in {item!r} must be at least 1")
        setups.append(Setup(name, None if name == "pubsub" else value))
    if not setups and not bare:
        raise UsageError("no layers to measure")
    return setups + ([Setup("bare")] if bare else [])


# -- the load --------------------------------------------------------------------
class Tally:
    """What every client received, and when; shared by all reader tasks."""

    def __init__(self, clients: int, senders: int, messages: int):
        self.messages = messages
        self.seen = [[bytearray(messages) for _ in range(senders)] for _ in range(clients)]
        self.last = [[-1] * senders for _ in range(clients)]
        self.latencies: list[int] = []
        self.delivered = self.duplicated = self.out_of_order = self.refused = 0
        self.last_arrival = time.perf_counter()

    def record(self, client: int, frame: str | bytes) -> None:
        now = time.perf_counter_ns()
        self.last_arrival = time.perf_counter()
        try:
            text = json.loads(frame)["message"]
            _, sender, number, sent_at = text.split("|")
            sender, number, sent_at = int(sender), int(number), int(sent_at)
        except (ValueError, KeyError, TypeError):
            self.refused += 1
            return
        seen = self.seen[client][sender]
        if seen[number]:
            self.duplicated += 1
            return
        seen[number] = 1
        self.delivered += 1
        self.latencies.append(now - sent_at)
        if number < self.last[client][sender]:
            self.out_of_order += 1
        else:
            self.last[client][sender] = number


async def _read(ws, client: int, tally: Tally) -> None:
    from websockets.exceptions import ConnectionClosed

    try:
        async for frame in ws:
            tally.record(client, frame)
    except ConnectionClosed:
        pass


async def _send(ws, sender: int, messages: int) -> None:
    for number in range(messages):
        await ws.send(json.dumps({"message": f"b|{sender}|{number}|{time.perf_counter_ns()}"}))


async def drive(url: str, origin: str | None, clients: int, senders: int, messages: int, *,
                quiet: float = 1.5, on_progress=None) -> Result:
    """Connect, flood, count. Runs in its own event loop; never raises for lost messages."""
    from websockets.asyncio.client import connect

    result = Result(label="", clients=clients, senders=senders, messages=messages,
                    expected=clients * senders * messages)
    tally = Tally(clients, senders, messages)
    sockets = []
    readers = []
    try:
        for _ in range(clients):
            # Handshakes one at a time: a connect() that returned has joined the room's group.
            sockets.append(await connect(url, origin=origin, compression=None, open_timeout=30,
                                         max_queue=None, close_timeout=2))
        readers = [asyncio.create_task(_read(ws, i, tally)) for i, ws in enumerate(sockets)]
        begun = time.perf_counter()
        await asyncio.gather(*(_send(sockets[s], s, messages) for s in range(senders)))
        tally.last_arrival = max(tally.last_arrival, time.perf_counter())
        while tally.delivered + tally.duplicated < result.expected:
            if on_progress:
                on_progress(tally.delivered)
            if time.perf_counter() - tally.last_arrival > quiet:
                break  # nothing more is coming: the rest was lost
            await asyncio.sleep(0.05)
        if on_progress:
            on_progress(tally.delivered)
        result.seconds = max(tally.last_arrival - begun, 1e-9)
    finally:
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    result.delivered, result.duplicated = tally.delivered, tally.duplicated
    result.out_of_order, result.refused = tally.out_of_order, tally.refused
    result.lost = result.expected - result.delivered
    result.deliveries_per_s = result.delivered / result.seconds
    if tally.latencies:
        ordered = sorted(tally.latencies)
        result.p50_ms = statistics.median(ordered) / 1e6
        result.p99_ms = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1e6
    return result


# -- the servers -------------------------------------------------------------------
async def _bare_server(port: int) -> None:
    """Every frame's message, re-encoded, to every connected socket: the least a chat server does."""
    from websockets.asyncio.server import broadcast, serve

    everyone = set()

    async def handler(ws):
        everyone.add(ws)
        try:
            async for frame in ws:
                broadcast(everyone, json.dumps({"message": json.loads(frame)["message"]}))
        finally:
            everyone.discard(ws)

    async with serve(handler, "127.0.0.1", port, compression=None):
        await asyncio.Future()


class BareServer:
    """The bare broadcast server in a child process, like daphne, so both pay the same process costs."""

    def __init__(self):
        self.port = procs.free_port()
        self.process = None

    def __enter__(self):
        self.process = procs.spawn([sys.executable, "-m", "kit.bench", "--bare-port", str(self.port)])
        if not procs.wait_until(lambda: self.process.poll() is not None or procs.port_answers(self.port), 30):
            raise RuntimeError("the bare websockets server did not listen within 30 s")
        if self.process.poll() is not None:
            raise RuntimeError(f"the bare websockets server exited with code {self.process.returncode}")
        return self

    def __exit__(self, *exc):
        procs.stop_tree(self.process)

    def ws_url(self, room: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/{room}/"


def _bench_settings_dir() -> tempfile.TemporaryDirectory:
    folder = tempfile.TemporaryDirectory(prefix="kit-bench-")
    (Path(folder.name) / "kit_bench_settings.py").write_text(BENCH_SETTINGS, encoding="utf-8")
    return folder


def measure(setup: Setup, project: Path, redis_url: str | None, settings_dir: str, load: dict,
            on_progress=None) -> Result:
    """Start the server for one setup, run the load against it, stop it."""
    from .server import DaphneServer, ServerError

    if setup.name == "bare":
        with BareServer() as bare:
            result = asyncio.run(drive(bare.ws_url(ROOM), None, on_progress=on_progress, **load))
    else:
        if setup.name != "memory" and redis_url is None:
            return Result(setup.label, load["clients"], load["senders"], load["messages"], error="no Redis")
        layer = setup.layer(redis_url)
        env = {"DJANGO_SETTINGS_MODULE": "kit_bench_settings", "KIT_BENCH_LAYER": json.dumps(layer),
               "REDIS_URL": redis_url or "",
               "PYTHONPATH": os.pathsep.join([settings_dir, str(project), os.environ.get("PYTHONPATH", "")])}
        try:
            with DaphneServer(project, env=env, extra_args=("-v", "0")) as server:
                result = asyncio.run(drive(server.ws_url(ROOM), server.origin, on_progress=on_progress, **load))
                result.server_errors = server.log_text().count("Traceback")
        except ServerError as exc:
            return Result(setup.label, load["clients"], load["senders"], load["messages"],
                          error=str(exc).splitlines()[0])
        except Exception as exc:  # a refused handshake and the like: the tree is not finished yet
            return Result(setup.label, load["clients"], load["senders"], load["messages"],
                          error=f"the clients could not chat: {type(exc).__name__}: {exc}".splitlines()[0])
    result.label = setup.label
    return result


def run_bench(project: Path, setups: list[Setup], *, clients: int, senders: int, messages: int,
              quiet: float = 1.5, console=None) -> Report:
    """Measure every setup in turn, with one progress bar each on console (rich) when given."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from .redis import RedisServer, RedisUnavailable

    load = {"clients": clients, "senders": senders, "messages": messages, "quiet": quiet}
    report = Report()
    redis = RedisServer()
    redis_error = None
    if any(s.name in ("redis", "pubsub") for s in setups):
        try:
            redis.start()
        except RedisUnavailable as exc:
            redis_error = str(exc)
    progress = Progress(TextColumn("{task.description:<26}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("deliveries"), TimeElapsedColumn(), console=console, transient=False,
                        disable=console is None)
    try:
        with _bench_settings_dir() as settings_dir, progress:
            for setup in setups:
                task = progress.add_task(setup.label, total=clients * senders * messages)
                result = measure(setup, project, redis.url, settings_dir, load,
                                 on_progress=lambda done, task=task: progress.update(task, completed=done))
                progress.stop_task(task)  # stops its clock: a lossy run never reaches its total
                if result.error == "no Redis":
                    result.error = redis_error
                report.results.append(result)
    finally:
        redis.stop()
    return report


# -- output ------------------------------------------------------------------------
def print_report(report: Report, console) -> None:
    from rich.table import Table

    first = report.results[0] if report.results else None
    title = (f"{first.clients} clients in one room, {first.senders} senders x {first.messages} messages"
             if first else "nothing measured")
    table = Table(title=title)
    for column in ("setup", "msgs/s", "p50 ms", "p99 ms", "lost", "dup", "reordered", "bare ÷"):
        table.add_column(column, justify="left" if column == "setup" else "right")
    for r in report.results:
        if r.error:
            table.add_row(r.label, "[red]failed[/]", "", "", "", "", "", "")
            continue
        ratio = report.ratio(r)
        lost = f"{r.lost} ({r.lost_percent:.0f}%)"
        table.add_row(r.label, f"{r.deliveries_per_s:,.0f}", _ms(r.p50_ms), _ms(r.p99_ms),
                      f"[red]{lost}[/]" if r.lost else lost, str(r.duplicated), str(r.out_of_order),
                      f"{ratio:.1f}x" if ratio else "")
    console.print(table)
    console.print("msgs/s: deliveries per second, summed over clients. bare ÷: how many times faster the bare "
                  "websockets broadcast server (no Django, no Channels) delivered the same load here.")
    bare = report.bare
    measured = [r for r in report.results if r is not bare and not r.error and r.deliveries_per_s]
    if bare and measured:
        best = max(measured, key=lambda r: r.deliveries_per_s)
        console.print(f"Pure-Python limit on this machine: {bare.deliveries_per_s:,.0f} deliveries/s, "
                      f"{report.ratio(best):.1f}x the best Channels setup ({best.label}).")
    for r in report.results:
        if r.error:
            console.print(f"[red]{r.label} failed:[/] {r.error}")
    if any(r.error and "could not chat" in r.error for r in report.results):
        console.print("The bench needs a finished chat: run `kit check` and fix the failing stages first.")
    lossy = [r.label for r in report.results if r.lost and not r.error]
    if lossy:
        console.print(f"[yellow]Lost without an error: {', '.join(lossy)}.[/] A channel holds at most "
                      "`capacity` messages; past that, group_send drops new ones and only logs it (at INFO). "
                      "Raise CONFIG['capacity'] or use RedisPubSubChannelLayer.")
    crashed = [r.label for r in report.results if r.server_errors]
    if crashed:
        console.print(f"[red]daphne logged errors during: {', '.join(crashed)}[/] (run `kit serve` and read the log): "
                      "some of the loss there is a crash, not a full channel.")
    if any(r.refused for r in report.results):
        console.print("[yellow]Some frames were refused with an error frame (a hardened consumer's limits).[/]")


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


# -- command line -----------------------------------------------------------------
def add_bench_parser(sub) -> None:
    """Adds `kit bench` to the kit's subcommands (kit/cli.py calls this)."""
    bench = sub.add_parser("bench", help="measure each channel layer: throughput, latency, lost messages")
    bench.add_argument("--project", help="the tree to serve (default: project/ or $KIT_PROJECT)")
    # Defaults: a burst 5x the default capacity into every socket's channel, done in under 30 s on 2 cores.
    bench.add_argument("--clients", type=int, default=20, help="sockets in the room (default 20)")
    bench.add_argument("--senders", type=int, default=5, help="how many of them send (default 5)")
    bench.add_argument("--messages", type=int, default=100, help="messages per sender (default 100)")
    bench.add_argument("--layers", default=DEFAULT_LAYERS,
                       help=f"comma-separated memory, redis, pubsub, each optionally :capacity (default {DEFAULT_LAYERS})")
    bench.add_argument("--no-bare", action="store_true", help="skip the bare websockets baseline")
    bench.add_argument("--quiet", type=float, default=1.5,
                       help="seconds with no delivery after which the rest counts as lost (default 1.5)")
    bench.add_argument("--json", metavar="FILE", help="write the figures as JSON to FILE ('-' for stdout)")
    bench.set_defaults(run=cmd_bench)


def cmd_bench(args) -> int:
    from rich.console import Console

    from .cli import UsageError as CliUsageError, chosen_project

    for name in ("clients", "senders", "messages"):
        if getattr(args, name) < 1:
            raise CliUsageError(f"--{name} must be at least 1")
    if args.senders > args.clients:
        raise CliUsageError("--senders cannot exceed --clients: senders are clients of the room")
    if args.quiet <= 0:
        raise CliUsageError("--quiet must be more than 0 seconds")
    try:
        setups = parse_setups(args.layers, bare=not args.no_bare)
    except UsageError as exc:
        raise CliUsageError(str(exc)) from None
    project = chosen_project(args)
    to_stdout = args.json == "-"
    console = Console(stderr=True) if to_stdout else Console()
    report = run_bench(project, setups, clients=args.clients, senders=args.senders, messages=args.messages,
                       quiet=args.quiet, console=console)
    if to_stdout:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        print_report(report, console)
        if args.json:
            Path(args.json).write_text(json.dumps(report.to_dict(), indent=1), encoding="utf-8")
    return 1 if any(r.error for r in report.results) else 0


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m kit.bench", description="the bare websockets broadcast server")
    parser.add_argument("--bare-port", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        asyncio.run(_bare_server(args.bare_port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
