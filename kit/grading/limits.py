"""The grader's limits, in one home: a stage's checking process and each check in it (the checker reads them
too: exercises/conftest.py), how many stages run at once, how often a running stage's scratch tree is looked at."""
from __future__ import annotations

import os

# The time limits' one home, in seconds: a stage's checking process, and each check in it (which the checker
# reads too: exercises/conftest.py). The environment may change them; tests/test_docs.py keeps the README's
# defaults equal to these.
DEFAULT_STAGE_TIME_LIMIT = 120
DEFAULT_TEST_TIME_LIMIT = 30
STAGE_TIME_LIMIT = float(os.environ.get("KIT_STAGE_TIME_LIMIT", DEFAULT_STAGE_TIME_LIMIT))
TEST_TIME_LIMIT = float(os.environ.get("KIT_TEST_TIME_LIMIT", DEFAULT_TEST_TIME_LIMIT))
# Live stages mostly wait on sockets, a browser or a server's start-up, so they overlap well even on 2 cores.
PARALLEL = int(os.environ.get("KIT_PARALLEL", "4"))
WATCH_EVERY = 0.5   # seconds between two looks at a running stage's scratch tree (_watch)
