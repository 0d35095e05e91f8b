"""How fast the grader answers, on this machine (figures, not a test).

The floor is measured in the same run: a fresh Python process that sets Django
up on solutions/ and makes one WebSocket round trip with a communicator, which
is what grading one in-process stage cannot avoid. Grading does more: the
host serves the app on a real socket and the checks' own WebSocket clients
observe it (kit/grading/serving.py), all in the sandbox. Targets on a 2-core
machine: one in-process stage (`consumer`, sandbox and all) within 1.5x that
floor; the four in-process stages under 3 s; the whole `kit check` of
solutions/ within 20 s; daphne start-to-ready under 2 s.

    python -m benchmarks.grading [--runs 5] [--quick]   # from the kit's folder; --quick: floor and consumer
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

from benchmarks.timing import print_medians
from kit.course import catalogue
from kit.course.catalogue import KIT_ROOT as ROOT
from kit.course.project import django_env
from kit.services.server import DaphneServer

IN_PROCESS = [stage.id for stage in catalogue.STAGES if stage.available and not stage.live]


def timed_check(*stages: str) -> float:
    begun = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "kit", "check", *stages, "--project", str(ROOT / "solutions"),
                           "--json", "-"], capture_output=True, cwd=ROOT)
    elapsed = time.perf_counter() - begun
    if done.returncode != 0:
        raise SystemExit(f"solutions/ did not pass ({' '.join(stages) or 'all'}): {done.stdout[-400:]!r}")
    return elapsed


FLOOR = """
import asyncio
import django
django.setup()
from channels.testing import WebsocketCommunicator
from myproject.asgi import application

async def round_trip():
    page = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")]
    socket = WebsocketCommunicator(application, "/ws/chat/lobby/", headers=page)
    await socket.connect()
    await socket.send_to(text_data='{"message": "hi"}')
    await socket.receive_from()
    await socket.disconnect()

asyncio.run(round_trip())
"""


def floor() -> float:
    begun = time.perf_counter()
    subprocess.run([sys.executable, "-c", FLOOR], check=True, cwd=ROOT,
                   env=django_env(ROOT / "solutions", {**os.environ, "REDIS_URL": ""}))
    return time.perf_counter() - begun


def daphne_ready() -> float:
    with DaphneServer(ROOT / "solutions") as server:
        return server.started_in


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="only the floor and one in-process stage")
    options = parser.parse_args()
    runs = options.runs
    floor()  # warm the disk cache, as every later run finds it
    base = statistics.median(floor() for _ in range(runs))
    measures = {
        "floor: fresh Python, django.setup, one round trip": (floor, base),
        "one in-process stage (consumer)": (lambda: timed_check("consumer"), 1.5 * base),
        "four in-process stages": (lambda: timed_check(*IN_PROCESS), 3.0),
        "whole kit check": (lambda: timed_check(), 20.0),
        "daphne start-to-ready": (daphne_ready, 2.0),
    }
    if options.quick:
        measures = dict(list(measures.items())[:2])
    print_medians("Grading speed", measures, runs)

if __name__ == "__main__":
    main()
