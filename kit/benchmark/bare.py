"""A bare `websockets` broadcast server, no Django, no Channels: `kit bench`'s baseline.

It does the least a chat server does (every frame's message, re-encoded, to
every connected socket), so the same load against it shows the pure-Python
limit of the machine, and so what the framework costs.

    python -m kit.benchmark.bare 8765     # what BareServer runs; not a command of its own
"""
from __future__ import annotations

import asyncio
import json
import sys

from kit.isolation import procs


async def serve_forever(port: int) -> None:
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
    """The server in a child process, like daphne, so both pay the same process costs."""

    def __init__(self):
        self.port = procs.free_port()
        self.process = None
        self.origin = None  # it checks no Origin

    def __enter__(self):
        self.process = procs.spawn([sys.executable, "-m", "kit.benchmark.bare", str(self.port)])
        if not procs.wait_until(lambda: self.process.poll() is not None or procs.port_answers(self.port), 30):
            raise RuntimeError("the bare websockets server did not listen within 30 s")
        if self.process.poll() is not None:
            raise RuntimeError(f"the bare websockets server exited with code {self.process.returncode}")
        return self

    def __exit__(self, *exc):
        procs.stop_tree(self.process)

    def ws_url(self, room: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/chat/{room}/"


if __name__ == "__main__":
    try:
        asyncio.run(serve_forever(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
