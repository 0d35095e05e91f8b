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

Loss is counted, not guessed, by the kit's one load driver (kit/benchmark/load.py): a
run ends when every client has seen every sender's done marker, or after
`--quiet` seconds in which nothing at all arrived. The baseline server is
kit/benchmark/bare.py; the options are parsed in kit/commands/cli.py.

    kit bench                          # defaults finish in under 30 s
    kit bench --clients 20 --senders 2 --messages 50 --layers memory,redis:10000 --json -
"""
from __future__ import annotations

import asyncio
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kit.benchmark import load as loads
from kit.course.i18n import N_, _

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
CANNOT_CHAT = N_("the clients could not chat")   # a setup's error, in the JSON as it is
TIME_LIMIT = 600.0  # a run stops here even if markers keep coming: a bench must end


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
            # The queued layer's blocking read must outlast a quiet moment (redis-py 8 cuts reads at 5 s).
            layer["CONFIG"]["hosts"] = ([redis_url] if self.name == "pubsub"
                                        else [{"address": redis_url, "socket_timeout": None}])
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

    @classmethod
    def of(cls, label: str, tally: loads.Tally, clients: int, senders: int, messages: int) -> "Result":
        return cls(label, clients, senders, messages, expected=tally.expected, delivered=tally.delivered,
                   lost=tally.lost, duplicated=tally.duplicated, out_of_order=tally.out_of_order,
                   refused=tally.corrupted, seconds=tally.seconds, deliveries_per_s=tally.delivered_per_second,
                   p50_ms=tally.p50_ms, p99_ms=tally.p99_ms)


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
    """A bad option; the message says which and why (kit/commands/cli.py makes it exit code 2)."""


def check_options(clients: int, senders: int, messages: int, quiet: float) -> None:
    for name, value in (("clients", clients), ("senders", senders), ("messages", messages)):
        if value < 1:
            raise UsageError(f"--{name} must be at least 1")
    if senders > clients:
        raise UsageError("--senders cannot exceed --clients: senders are clients of the room")
    if quiet <= 0:
        raise UsageError("--quiet must be more than 0 seconds")


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


# -- one setup at a time -----------------------------------------------------------
def _bench_settings_dir() -> tempfile.TemporaryDirectory:
    folder = tempfile.TemporaryDirectory(prefix="kit-bench-")
    (Path(folder.name) / "kit_bench_settings.py").write_text(BENCH_SETTINGS, encoding="utf-8")
    return folder


def measure(setup: Setup, project: Path, redis_url: str | None, settings_dir: str, load: dict,
            on_progress=None) -> Result:
    """Start the server for one setup, run the load against it, stop it."""
    from kit.benchmark.bare import BareServer
    from kit.services.server import DaphneServer, ServerError

    shape = (load["clients"], load["senders"], load["messages"])

    def run(server) -> Result:
        loads.log_in(server)
        members = [loads.Member(server.ws_url(ROOM), server.origin, ROOM, f"s{i}" if i < load["senders"] else None)
                   for i in range(load["clients"])]
        tally = asyncio.run(loads.drive(members, load["messages"], quiet=load["quiet"], limit=TIME_LIMIT,
                                        on_progress=on_progress))
        return Result.of(setup.label, tally, *shape)

    if setup.name == "bare":
        with BareServer() as bare:
            return run(bare)
    if setup.name != "memory" and redis_url is None:
        return Result(setup.label, *shape, error="no Redis")
    env = {"DJANGO_SETTINGS_MODULE": "kit_bench_settings", "KIT_BENCH_LAYER": json.dumps(setup.layer(redis_url)),
           "REDIS_URL": redis_url or "",
           "PYTHONPATH": os.pathsep.join([settings_dir, str(project), os.environ.get("PYTHONPATH", "")])}
    try:
        with DaphneServer(project, env=env, extra_args=("-v", "0")) as server:
            result = run(server)
            result.server_errors = server.log_text().count("Traceback")
            return result
    except ServerError as exc:
        return Result(setup.label, *shape, error=str(exc).splitlines()[0])
    except Exception as exc:  # a refused handshake and the like: the tree is not finished yet
        return Result(setup.label, *shape,
                      error=f"{CANNOT_CHAT}: {type(exc).__name__}: {exc}".splitlines()[0])


def run_bench(project: Path, setups: list[Setup], *, clients: int, senders: int, messages: int,
              quiet: float = 1.5, console=None) -> Report:
    """Measure every setup in turn, with one progress bar each on console (rich) when given."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from kit.services.redis import RedisServer, RedisUnavailable

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
                        TextColumn(_("deliveries")), TimeElapsedColumn(), console=console, transient=False,
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
    from rich.markup import escape
    from rich.table import Table

    from kit.output.render import aligned_table, measured_right

    first = report.results[0] if report.results else None
    # Said in the kit's language (`kit bench` in a Bengali terminal, or run by the Bengali lesson 07).
    title = (_("{clients} clients in one room, {senders} senders x {messages} messages").format(
        clients=first.clients, senders=first.senders, messages=first.messages) if first else _("nothing measured"))
    heads = [_("setup"), "msgs/s", "p50 ms", "p99 ms", _("lost"), _("dup"), _("reordered"), "bare ÷"]
    rows, reds = [], []   # plain values; per row, the columns shown in red
    for r in report.results:
        if r.error:
            rows.append([r.label, _("failed"), "", "", "", "", "", ""])
            reds.append({1})
            continue
        ratio = report.ratio(r)
        rows.append([r.label, f"{r.deliveries_per_s:,.0f}", _ms(r.p50_ms), _ms(r.p99_ms),
                     f"{r.lost} ({r.lost_percent:.0f}%)", str(r.duplicated), str(r.out_of_order),
                     f"{ratio:.1f}x" if ratio else ""])
        reds.append({4} if r.lost else set())
    if all(measured_right(text) for row in [heads, *rows] for text in row):
        table = Table(title=title)
        for n, column in enumerate(heads):
            table.add_column(column, justify="left" if n == 0 else "right")
        for values, red in zip(rows, reds):
            table.add_row(*(f"[red]{escape(v)}[/]" if n in red else escape(v) for n, v in enumerate(values)))
        console.print(table)
    else:   # Bengali: rich mis-measures its headings and a bordered table's right border slips (kit/output/render.py)
        console.print(aligned_table(title, heads, rows, right=set(range(1, len(heads))),
                                    styles=[{n: "red" for n in red} for red in reds]))
    console.print(_("msgs/s: deliveries per second, summed over clients. bare ÷: how many times faster the bare "
                    "websockets broadcast server (no Django, no Channels) delivered the same load here."))
    bare = report.bare
    measured = [r for r in report.results if r is not bare and not r.error and r.deliveries_per_s]
    if bare and measured:
        best = max(measured, key=lambda r: r.deliveries_per_s)
        console.print(_("Pure-Python limit on this machine: {rate} deliveries/s, {ratio}x the best Channels setup "
                        "({setup}).").format(rate=f"{bare.deliveries_per_s:,.0f}", ratio=f"{report.ratio(best):.1f}",
                                             setup=best.label))
    for r in report.results:
        if r.error:
            error = r.error.replace(CANNOT_CHAT, _(CANNOT_CHAT), 1)   # the JSON keeps it in English
            console.print("[red]" + _("{setup} failed:").format(setup=r.label) + f"[/] {error}")
    if any(r.error and CANNOT_CHAT in r.error for r in report.results):
        console.print(_("The bench needs a finished chat: run `kit check` and fix the failing stages first."))
    lossy = [r.label for r in report.results if r.lost and not r.error]
    if lossy:
        console.print("[yellow]" + _("Lost without an error: {setups}.").format(setups=", ".join(lossy)) + "[/] "
                      + _("A channel holds at most `capacity` messages; past that, group_send drops new ones and "
                          "only logs it (at INFO). Raise CONFIG['capacity'] or use RedisPubSubChannelLayer."))
    crashed = [r.label for r in report.results if r.server_errors]
    if crashed:
        console.print("[red]" + _("daphne logged errors during: {setups}").format(setups=", ".join(crashed)) + "[/] "
                      + _("(run `kit serve` and read the log): some of the loss there is a crash, not a full channel."))
    if any(r.refused for r in report.results):
        refused = _("Some frames were refused with an error frame (a hardened consumer's limits).")
        console.print(f"[yellow]{refused}[/]")


def _ms(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else "-"


# -- `kit bench` (its options: kit/commands/cli.py) -----------------------------------------
def command(args, project: Path) -> int:
    """Measure, then print the table or the JSON; exit code 1 when some setup could not be measured."""
    from rich.console import Console

    check_options(args.clients, args.senders, args.messages, args.quiet)
    setups = parse_setups(args.layers, bare=not args.no_bare)
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
