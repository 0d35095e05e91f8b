"""What the host's parts share: a refusal said in plain words, and settings values as JSON data."""
from __future__ import annotations

import json


class Refusal(Exception):
    """What the learner's code did wrong, already said in plain words; sent back as {"error": ...}."""


def plain(value):
    """Any settings value as JSON data (what JSON cannot hold is sent as its repr)."""
    return json.loads(json.dumps(value, default=repr))
