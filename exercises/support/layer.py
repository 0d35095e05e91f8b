"""The room's group on the stage's Redis, seen by the checker itself (never asked of the tree)."""
from __future__ import annotations

import asyncio
import time

from kit.course.i18n import T

from .base import fail, WAIT
from .host import checker_redis, host


class Layer:
    """The checker's own view of the host's channel layer, on the checker's Redis (async with Layer() as layer).

    channels_redis keeps each group as a sorted set `kit:group:<name>` of channel
    names: the checker reads them there, and joins a group and sends to it with a
    channels_redis layer of its own. Learner code can reach this Redis too, but a
    group it only pretends to keep never delivers what the checker sends to it."""

    PREFIX = "kit"   # kit/services/daphne_app.py LAYER_PREFIX

    def __init__(self, redis=None, *, prefix: str | None = None, pubsub: bool = False):
        self.redis = redis   # the Redis a graded daphne's layer runs on (layer_daphne); else the host's
        # The learner's own layer on the stage's Redis (the redis and push stages): its prefix, and whether it is
        # channels_redis's pub/sub layer, whose groups are Redis channels with one subscriber per worker.
        self.learners = prefix is not None
        self.prefix, self.pubsub = (prefix if self.learners else self.PREFIX), pubsub

    async def __aenter__(self) -> "Layer":
        import redis.asyncio

        from channels_redis.core import RedisChannelLayer
        from channels_redis.pubsub import RedisPubSubChannelLayer

        url = (self.redis or host().redis or checker_redis()).url
        self.client = redis.asyncio.from_url(url, socket_timeout=4 * WAIT)
        self.layer = (RedisPubSubChannelLayer(hosts=[url], prefix=self.prefix) if self.pubsub else
                      RedisChannelLayer(hosts=[{"address": url, "socket_timeout": None}], prefix=self.prefix))
        self.channel = None
        await self.client.flushdb()  # groups an earlier check's sockets left behind do not count
        return self

    async def __aexit__(self, *exc) -> None:
        await (self.layer.flush() if self.pubsub else self.layer.close_pools())
        await self.client.aclose()

    async def groups(self) -> dict[str, set[str]]:
        """Every group on the layer: name -> its members' channel names (on the pub/sub layer, where Redis
        knows no channel of a group, one name per worker subscribed to it)."""
        found = {}
        if self.pubsub:
            start = f"{self.prefix}__group__"
            names = await self.client.pubsub_channels(start + "*")
            for name, count in await self.client.pubsub_numsub(*names) if names else []:
                found[name.decode(errors="replace")[len(start):]] = {f"worker {n}" for n in range(count)}
            return found
        start = f"{self.prefix}:group:"
        async for key in self.client.scan_iter(match=start + "*", count=1000):
            members = await self.client.zrange(key, 0, -1)
            found[key.decode(errors="replace")[len(start):]] = {m.decode(errors="replace") for m in members}
        return found

    async def group_of(self, size: int, *, wait: float = WAIT, like=None, room: str | None = None) -> str | None:
        """A group holding exactly `size` channels (the one named `like`, when given), waited for; of several,
        one whose name holds `room` first (a chat may keep its sockets in more groups than the room's)."""
        deadline = time.monotonic() + wait
        while True:
            groups = await self.groups()
            found = sorted((name for name, members in groups.items()
                            if len(members) == size and (like is None or name == like)),
                           key=lambda name: room is None or room not in name)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)

    async def joined(self, room: str, count: int) -> str:
        """The group that holds the `count` sockets just opened in room, or a plain failure."""
        group = await self.group_of(count)
        if group is None:
            not_joined(room, count)
        return group

    async def left(self, group: str, remaining: int) -> None:
        """A socket of group just closed: its channel must be gone from it, the other `remaining` still there."""
        if not await self.group_of(remaining, like=group, wait=2 * WAIT):
            fail(T("After a socket closed, its channel was still in the group {wait:.0f} s later: disconnect() must "
                   "call group_discard(group, self.channel_name).", wait=2 * WAIT))

    async def listen(self, count: int, room: str | None = None) -> str | None:
        """The checker's own channel joins the group of the `count` sockets just opened in room, if there is
        one: it hears what the consumers send to it. The group's name, or None (relayed_by_layer then fails)."""
        group = await self.group_of(count, room=room)
        if group is not None:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(group, self.channel)
        return group

    async def heard(self) -> dict | None:
        try:
            return await asyncio.wait_for(self.layer.receive(self.channel), WAIT)
        except (asyncio.TimeoutError, TimeoutError):
            return None


def not_joined(room: str, count: int):
    fail(T("{count} sockets are open in room '{room}', but no group of the channel layer holds {count} "
           "channels: connect() must call self.channel_layer.group_add(group, self.channel_name).",
           count=count, room=room))


async def relayed_by_layer(layer: Layer, group: str | None, sockets, text: str) -> None:
    """After a socket sent text: the consumer's event reached the group on the layer (Layer.listen), and the
    same event, sent by the checker itself to that group, comes out of every socket as the frame again."""
    if group is None and layer.learners:
        fail(T("The room's sockets got their messages, but no group of room '{room}' is on the Redis that "
               "REDIS_URL names: with REDIS_URL set, daphne and every process that sends to a room must use the "
               "channel layer CHANNEL_LAYERS builds on it (channels_redis), not a way of their own.",
               room=sockets[0].room))
    if group is None:
        not_joined(sockets[0].room, len(sockets))
    event = await layer.heard()
    if event is None:
        fail(T("The message did not pass through the room's group on the channel layer: receive() must send it "
               "with self.channel_layer.group_send(group, {'type': ..., ...}), not to the sockets directly."))
    await layer.layer.group_send(group, event)
    for sock in sockets:
        got = await sock.receive(T("a message the room's group delivered"))
        assert got.get("message") == text, T(
            "An event sent to the room's group on the channel layer came out of a socket as {got}, not {text}: "
            "the consumer must send every event of its group to its socket.", got=repr(got.get("message")),
            text=repr(text))
