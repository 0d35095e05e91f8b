"""`redis` and `push` are graded on what crossed the stage's Redis, never on the settings' word (review 11).

Both daphne workers run on the same scratch tree, so a file there can carry a room between them: a tree whose
settings name channels_redis when asked (`python -c`, the kit's question) and a layer of its own, kept in a
SQLite file in the tree, when daphne loads them crossed frames between the workers and scored 10/10 on `redis`
and on `push` with no Redis at all. The room's group must now be seen on the stage's Redis, carry a message to
the checker's own channel there, and deliver what the checker sends to it.
"""
from __future__ import annotations

import json

from conftest import MUST_FAIL, SOLUTIONS, copy_tree, grade_only, solved_through, stage

from kit.course import catalogue

FILE_LAYER = '''
import asyncio, json, os, sqlite3, uuid

from channels.layers import BaseChannelLayer

DB = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".layer.sqlite3")


def _db():
    db = sqlite3.connect(DB, timeout=10, isolation_level=None)
    db.execute("CREATE TABLE IF NOT EXISTS g (grp TEXT, ch TEXT)")
    db.execute("CREATE TABLE IF NOT EXISTS m (id INTEGER PRIMARY KEY AUTOINCREMENT, ch TEXT, body TEXT)")
    return db


def _run(sql, args=()):
    db = _db()
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def _take(channel):
    db = _db()
    try:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute("SELECT id, body FROM m WHERE ch=? ORDER BY id LIMIT 1", (channel,)).fetchone()
        if row:
            db.execute("DELETE FROM m WHERE id=?", (row[0],))
        db.execute("COMMIT")
        return row[1] if row else None
    finally:
        db.close()


class FileLayer(BaseChannelLayer):
    extensions = ["groups"]

    def __init__(self, **kwargs):
        super().__init__()

    async def new_channel(self, prefix="specific."):
        return f"{prefix}{uuid.uuid4().hex}"

    async def send(self, channel, message):
        await asyncio.to_thread(_run, "INSERT INTO m (ch, body) VALUES (?, ?)", (channel, json.dumps(message)))

    async def receive(self, channel):
        while True:
            body = await asyncio.to_thread(_take, channel)
            if body:
                return json.loads(body)
            await asyncio.sleep(0.02)

    async def group_add(self, group, channel):
        await asyncio.to_thread(_run, "INSERT INTO g VALUES (?, ?)", (group, channel))

    async def group_discard(self, group, channel):
        await asyncio.to_thread(_run, "DELETE FROM g WHERE grp=? AND ch=?", (group, channel))

    async def group_send(self, group, message):
        for (channel,) in await asyncio.to_thread(_run, "SELECT ch FROM g WHERE grp=?", (group,)):
            await self.send(channel, message)

    async def flush(self):
        pass
'''

# channels_redis when the kit asks (`python -c` with no arguments: its question about CHANNEL_LAYERS), the file
# layer when daphne or the push sender (`python -c SCRIPT ROOM TEXT`, manage.py) loads them.
SAYS_REDIS = '''
import sys as _sys
if os.environ.get("REDIS_URL"):
    if _sys.argv == ["-c"]:
        CHANNEL_LAYERS = {"default": {"BACKEND": "BACKEND_SAID", "CONFIG": {"hosts": [os.environ["REDIS_URL"]]}}}
    else:
        CHANNEL_LAYERS = {"default": {"BACKEND": "myproject.filelayer.FileLayer"}}
'''


def file_layer_tree(dest, through: str, said: str):
    tree = solved_through(catalogue.get(through), dest)
    (tree / "myproject" / "filelayer.py").write_text(FILE_LAYER, encoding="utf-8")
    settings = tree / "myproject" / "settings.py"
    settings.write_text(settings.read_text(encoding="utf-8") + SAYS_REDIS.replace("BACKEND_SAID", said),
                        encoding="utf-8")
    return tree


def test_workers_that_meet_through_a_file_fail_redis(tmp_path):
    tree = file_layer_tree(tmp_path / "tree", "frontend", "channels_redis.core.RedisChannelLayer")
    report = grade_only(tree, "redis", env=MUST_FAIL)
    redis = stage(report, "redis")
    assert not redis["passed"], json.dumps(report)[:3000]
    assert redis["failures"][0]["test"] == "test_message_crosses_from_one_worker_to_the_other", redis["failures"]


def test_a_push_over_a_file_layer_fails_push(tmp_path):
    tree = file_layer_tree(tmp_path / "tree", "push", "channels_redis.pubsub.RedisPubSubChannelLayer")
    report = grade_only(tree, "push", env=MUST_FAIL)
    push = stage(report, "push")
    assert not push["passed"], json.dumps(report)[:3000]
    assert push["failures"][0]["test"] == "test_send_to_room_reaches_the_room", push["failures"]
    assert "group" in push["failures"][0]["message"], push["failures"]   # delivered, but not through Redis


def test_the_finished_tree_passes_redis_and_push_on_the_stages_redis(tmp_path):
    """The control: the same checks pass a tree whose layer really is on Redis (pub/sub, as solutions/ has it)."""
    report = grade_only(copy_tree(SOLUTIONS, tmp_path / "tree"), "redis", "push")
    assert stage(report, "redis")["passed"] and stage(report, "push")["passed"], json.dumps(report)[:3000]
