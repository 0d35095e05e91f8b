"""A room leak sent long after the rooms check has looked fails every stage that keeps rooms apart.

The attack: a consumer that sends every room's messages to a group all sockets
joined, 4 s late. The rooms checks prove rooms apart by order (a leak sent at
once arrives before the other room's own message) and then watched the other
room for 2.5 s more (support.LEAK_WAIT): a leak later than that scored full
marks at consumer, routing and daphne. Waiting longer would cost every stage
those seconds; instead the checks read the groups on the checker's own Redis
(support.apart_on_layer): no group may hold both rooms' sockets, so a shared
group fails at once, however late it would have delivered.
"""
from __future__ import annotations

import json

from conftest import SOLUTIONS, copy_tree, grade_json, stage
from leaks import leftovers
from test_forgery import LIMITS
from test_trust_live import LATE_LEAK

# The third review's late leak (tests/test_trust_live.py), 4 s late: long after the rooms check has looked.
LEAK_4S = LATE_LEAK.replace("call_later(1.5,", "call_later(4,").replace("1.5 s late", "4 s late")


def test_a_room_that_leaks_4_s_late_scores_zero_at_consumer_routing_and_daphne(tmp_path):
    tree = copy_tree(SOLUTIONS, tmp_path / "leak-4s")
    (tree / "myapp" / "consumers.py").write_text(LEAK_4S)
    report = grade_json(tree, "consumer", "routing", "daphne", env=dict(LIMITS, KIT_BUSY_RETRY="0",
                                                                        TMPDIR=str(tmp_path)))
    text = json.dumps(report)
    assert report["score"] == 0, text[:3000]
    # Each fails at its rooms check, and only there: the rest of the chat works.
    for stage_id, check in (("consumer", "test_rooms_are_isolated"), ("routing", "test_route_passes_room_name"),
                            ("daphne", "test_two_rooms_stay_apart")):
        failures = stage(report, stage_id)["failures"]
        assert [f["test"] for f in failures] == [check], (stage_id, text[:3000])
    assert leftovers(tree) == [], "the leaking chat left processes running"


# The pub/sub layer of solutions/ takes no made-up channel name: no decoy here.
LEAK_8S = "\n".join(line for line in LEAK_4S.replace("call_later(4,", "call_later(8,").replace(
    "4 s late", "8 s late").splitlines() if "decoy" not in line) + "\n"


def test_a_room_that_leaks_8_s_late_scores_zero_at_redis(tmp_path):
    """The fourth review: the redis stage, on two workers, had no rooms check past 2.5 s. A room nobody writes
    to now listens through the quiet-room check (9 s): an 8 s-late leak of an earlier message reaches it."""
    tree = copy_tree(SOLUTIONS, tmp_path / "leak-8s")
    (tree / "myapp" / "consumers.py").write_text(LEAK_8S)
    report = grade_json(tree, "redis", env=dict(KIT_BUSY_RETRY="0", TMPDIR=str(tmp_path)))
    failures = stage(report, "redis")["failures"]
    assert [f["test"] for f in failures] == ["test_a_quiet_room_still_delivers"], json.dumps(report)[:3000]
    assert "redis_far" in failures[0]["message"]
    assert leftovers(tree) == [], "the leaking chat left processes running"
