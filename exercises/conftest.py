"""Checkpoint configuration: which tree is graded, and the services the checks share.

`kit check` runs these checkpoints in a trusted process that never imports the
learner's code: the tree is named by KIT_GRADED_PROJECT (a scratch copy the
grader made), never put on sys.path. For authors, directly:
    pytest exercises/test_consumer.py -c exercises/pytest.ini --project path/to/tree
"""
import os
from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addoption("--project", default=None,
                     help="the project tree to grade (default: $KIT_GRADED_PROJECT, $KIT_PROJECT or project/)")


@pytest.hookimpl(tryfirst=True)  # before pytest-timeout reads its settings
def pytest_configure(config):
    from kit.grading.limits import TEST_TIME_LIMIT
    from kit.course.project import active_project

    chosen = config.getoption("--project") or os.environ.get("KIT_GRADED_PROJECT") or active_project()
    os.environ["KIT_GRADED_PROJECT"] = str(Path(chosen).resolve())
    # The grader passes its limit per check as --timeout; a checkpoint run directly gets the same one.
    if getattr(config.option, "timeout", None) is None and not os.environ.get("PYTEST_TIMEOUT"):
        config.option.timeout = TEST_TIME_LIMIT
    # Only an instructor's hidden check carries its hint so (docs/instructors.md); the kit's are in kit/course/hint_ladders/.
    config.addinivalue_line("markers", "hint(text): what to try when this check fails")
    if any(Path(arg).stem in HOSTED for arg in config.args):
        from support import start_host_early

        start_host_early([Path(arg).stem for arg in config.args])


HOSTED = {"test_settings", "test_asgi", "test_consumer", "test_routing", "test_hardening", "test_users"}


def pytest_unconfigure(config):
    from support import stop_host

    stop_host()


@pytest.fixture
def project():
    return Path(os.environ["KIT_GRADED_PROJECT"])


@pytest.fixture(scope="module")
def server():
    """One daphne per checkpoint module on the graded tree, in-memory layer whatever REDIS_URL says."""
    from kit.services.server import DaphneServer, ServerError
    from support import PROJECT, fail

    daphne = DaphneServer(PROJECT, env={"REDIS_URL": ""})
    try:
        daphne.start()
    except ServerError as exc:
        fail(f"daphne did not start on this project. {exc}")
    yield daphne
    daphne.stop()


@pytest.fixture(scope="module")
def redis():
    """The kit's own hardened Redis for a checkpoint module (redis, push), whatever REDIS_URL says; no Redis is
    "not graded", never a failure of the learner's code."""
    from kit.course.i18n import T
    from kit.services.redis import RedisServer, RedisUnavailable

    server = RedisServer(grading=True)
    try:
        server.start()
    except RedisUnavailable as exc:
        pytest.skip(T("Not graded: no Redis could start on this machine. {error}", error=str(exc)))
    yield server
    server.stop()
