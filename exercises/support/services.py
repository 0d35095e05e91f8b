"""The stage's services (its Redis, its channel layer) as the learner's processes reach them."""
from __future__ import annotations

import json

from kit.isolation import sandbox
from kit.course.i18n import T, recall

from .base import fail, PROJECT, run_in_tree, WAIT


def sandboxed() -> bool:
    isolation = sandbox.for_grading()
    return bool(isolation and isolation.sandboxed)


def layer_config(redis_url: str, binds=()) -> dict:
    """CHANNEL_LAYERS['default'] as the settings file builds it, in a fresh process with this REDIS_URL."""
    script = ("import json, myproject.settings as s; "
              "print(json.dumps(getattr(s, 'CHANNEL_LAYERS', {}).get('default', {}), default=str))")
    code, out, err = run_in_tree(["-c", script], env={"REDIS_URL": redis_url}, timeout=6 * WAIT,
                                 binds=binds)
    if code != 0:
        last = (err.strip().splitlines() or ["no output"])[-1]
        fail(T("Importing myproject/settings.py with REDIS_URL={url} failed: {error}", url=redis_url or T("(empty)"),
               error=last))
    try:
        layer = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        fail(T("Importing myproject/settings.py printed something unexpected; settings should not print."))
    return layer if isinstance(layer, dict) else {}


def learner_layer(redis) -> tuple[str, bool]:
    """The prefix of the layer the settings build with REDIS_URL set, and whether it is the pub/sub layer: what
    the checker needs to find the room's group on the stage's Redis. Asked: a wrong answer only hides the room."""
    url, binds = redis_for_learner(redis)
    config = layer_config(url, binds)
    options = config.get("CONFIG") if isinstance(config.get("CONFIG"), dict) else {}
    return str(options.get("prefix", "asgi")), "pubsub" in str(config.get("BACKEND", ""))


def redis_for_learner(redis) -> tuple[str, list]:
    """The REDIS_URL learner processes get for the stage's Redis (kit/services/redis.py, grading=True), and the
    folder binds that show its socket inside their sandbox."""
    inside = sandboxed()
    return redis.learner_url(inside), redis.binds(inside)


def daphne_on_redis(redis):
    """A daphne of the learner's tree started with REDIS_URL naming the stage's Redis (a worker of the room)."""
    from kit.services.server import DaphneServer, ServerError

    url, binds = redis_for_learner(redis)
    daphne = DaphneServer(PROJECT, env={"REDIS_URL": url}, binds=binds)
    try:
        daphne.start()
    except ServerError as exc:
        fail(T("daphne did not start with REDIS_URL set. {error}", error=recall(str(exc))))
    return daphne
