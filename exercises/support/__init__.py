"""What every checkpoint shares: the host that runs the learner's code, plain failures, sockets.

The checks never import the learner's tree. The in-process stages talk to a
host process (kit/grading/host.py) that loads the tree inside the sandbox and serves
it on a listening socket this process made: the checks' own HTTP and
WebSocket clients observe it there, as a browser would. What the host says
over its other socket is a claim: it may explain a failure or answer a fact
without behaviour (docs/architecture.md lists them), never earn a pass alone.
The live stages talk to daphne. A checkpoint fails with one sentence a
learner can act on, naming the file and line of their code where it can;
never with a wall of traceback.

base.py: The checks' shared limits and the plain failure every check raises; running the learner's code once.
services.py: The stage's services (its Redis, its channel layer) as the learner's processes reach them.
host.py: The host: the learner's code in its own sandboxed process, serving the tree on a socket the checker
app.py: Questions about the tree, and the checks' own HTTP client for the apps the host serves.
layer.py: The room's group on the stage's Redis, seen by the checker itself (never asked of the tree).
users.py: Who is chatting (users logged in by the kit's own writer) and the tree's database, read by the checks.
sockets.py: WebSocket clients for the in-process checks, and the checks that rooms stay apart.
live.py: WebSocket clients for the live checks, against a real daphne.
"""
from .base import (fail, LearnerCodeError, LINE_LIMIT, MARGIN, PAGE_ORIGIN, PLACES, PROJECT, run_in_tree,
    server_clue, UntrustedDatabase, WAIT)
from .services import daphne_on_redis, layer_config, learner_layer, redis_for_learner, sandboxed
from .host import (checker_redis, Host, host, layer_daphne, layer_on_redis, ON_REDIS, run, start_host_early,
    stop_daphne, stop_host)
from .app import App, consumer_app, django_setup, get_page, layer_app, project_app, setting_values
from .layer import Layer, not_joined, relayed_by_layer
from .users import (cookie_header, DATABASE, DATABASE_LIMIT, LEARNER, log_in_users, login, read_database,
    refuse_untrusted_database, session_of)
from .sockets import (apart_on_layer, close_all, error_of, is_history, layer_channels, LEAK_WAIT, no_late_leak, parse_frame,
    rooms_stay_apart, Socket)
from .live import LiveSocket, SkipHistory

__all__ = ["apart_on_layer", "App", "checker_redis", "close_all", "consumer_app", "cookie_header", "daphne_on_redis", "DATABASE", "error_of",
           "DATABASE_LIMIT", "django_setup", "fail", "get_page", "Host", "host", "is_history", "Layer",
           "layer_app", "layer_channels", "layer_config", "layer_daphne", "layer_on_redis", "LEAK_WAIT",
           "LEARNER", "learner_layer", "LearnerCodeError", "LINE_LIMIT", "LiveSocket", "log_in_users", "login",
           "MARGIN", "no_late_leak", "not_joined", "ON_REDIS", "PAGE_ORIGIN", "parse_frame", "PLACES", "PROJECT",
           "project_app", "read_database", "redis_for_learner", "refuse_untrusted_database", "relayed_by_layer",
           "rooms_stay_apart", "run", "run_in_tree", "sandboxed", "server_clue", "session_of", "setting_values",
           "SkipHistory", "Socket", "start_host_early", "stop_daphne", "stop_host", "UntrustedDatabase", "WAIT"]
