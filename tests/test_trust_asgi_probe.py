"""The `asgi` stage's probe is the kit's, reached only through a router the tree builds.

The attack (the sixth review): the probe route stands in for the routes a learner writes one stage later,
and it ran in the tree's own daphne as `kit.services.daphne_app.probe`. An asgi.py with no ProtocolTypeRouter, no
URLRouter and no route imported it, matched the probe's path with its own regex, and served it by hand:
10/10 at `asgi`. The defence (kit/services/daphne_app.py): the probe is made inside the patch of URLRouter and is
no name of any module, so the tree reaches it only by building a URLRouter, which is the wiring the stage
asks for.
"""
from __future__ import annotations

import textwrap

from conftest import grade_only, solved_through, stage

from kit.course import catalogue

BY_HAND = textwrap.dedent('''\
    import os
    import re

    from django.core.asgi import get_asgi_application

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "myproject.settings")
    django_app = get_asgi_application()


    async def application(scope, receive, send):
        if scope["type"] == "websocket":
            import kit.services.daphne_app as kit_app
            from channels.auth import AuthMiddlewareStack

            found = re.match(kit_app.PROBE, scope["path"].lstrip("/"))
            if found:
                scope = dict(scope, url_route={"args": (), "kwargs": found.groupdict()})
                return await AuthMiddlewareStack(kit_app.probe)(scope, receive, send)
            await receive()
            await send({"type": "websocket.close"})
            return
        return await django_app(scope, receive, send)
''')


def test_a_tree_that_serves_the_kits_probe_by_hand_scores_nothing_at_asgi(tmp_path):
    tree = solved_through(catalogue.get("settings"), tmp_path / "t")
    (tree / "myproject/asgi.py").write_text(BY_HAND, encoding="utf-8")
    verdict = stage(grade_only(tree, "asgi"), "asgi")
    assert not verdict["passed"] and verdict["points"] == 0, verdict


def test_the_asgi_stage_passes_on_its_own_solution(tmp_path):
    """The control: the probe still answers through a router the tree builds."""
    tree = solved_through(catalogue.get("asgi"), tmp_path / "t")
    verdict = stage(grade_only(tree, "asgi"), "asgi")
    assert verdict["passed"], verdict["failures"][:1]
