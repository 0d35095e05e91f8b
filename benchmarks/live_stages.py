"""How long the live stages take on this machine: Chromium, Redis, and grading `frontend` and `redis`.

Figures, not a test. Targets on a 2-core machine: Chromium ready under 3 s,
a private Redis under 1 s, each of the two stages graded under 20 s.

    python -m benchmarks.live_stages [--runs 3]  # from the kit's folder
"""
import argparse
import os
import subprocess
import sys

from benchmarks.timing import print_medians
from kit.services import browser
from kit.course.catalogue import KIT_ROOT as ROOT
from kit.services.redis import RedisServer


def chromium_ready() -> None:
    with browser.chromium() as chromium:
        chromium.new_page().close()


def redis_ready() -> None:
    with RedisServer(use_env=False):
        pass


def grade(stage: str):
    def action():
        env = dict(os.environ, REDIS_URL="")  # the kit starts its own Redis
        done = subprocess.run([sys.executable, "-m", "kit", "check", stage, "--project", str(ROOT / "solutions"),
                               "--json", "-"], capture_output=True, text=True, cwd=ROOT, env=env)
        if done.returncode != 0:
            raise SystemExit(f"solutions/ did not pass {stage}: {done.stdout[-400:]!r}")
    return action


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    reason = browser.why_unavailable()
    if reason:
        raise SystemExit(reason)
    measures = {
        "Chromium launch + first page": (chromium_ready, 3.0),
        "private Redis start + stop": (redis_ready, 1.0),
        "kit check frontend": (grade("frontend"), 20.0),
        "kit check redis": (grade("redis"), 20.0),
    }
    print_medians("Live stages", measures, runs)

if __name__ == "__main__":
    main()
