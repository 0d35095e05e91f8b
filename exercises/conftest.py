"""Checkpoint configuration: which tree is graded, and how it is put on the path.

Run through `kit check` (one fresh process per stage), or directly:
    pytest exercises/test_consumer.py --project path/to/tree
"""
import os
import sys
from pathlib import Path

import pytest


def pytest_addoption(parser):
    parser.addoption("--project", default=None,
                     help="the project tree to grade (default: $KIT_PROJECT or the kit's project/)")


def pytest_configure(config):
    chosen = config.getoption("--project") or os.environ.get("KIT_PROJECT") \
        or Path(__file__).resolve().parent.parent / "project"
    project = Path(chosen).resolve()
    os.environ["KIT_GRADED_PROJECT"] = str(project)
    os.environ["DJANGO_SETTINGS_MODULE"] = "myproject.settings"
    sys.path.insert(0, str(project))
    sys.dont_write_bytecode = True  # leave no __pycache__ in the learner's tree
    config.addinivalue_line("markers", "hint(text): what to try when this check fails")


@pytest.fixture
def project():
    return Path(os.environ["KIT_GRADED_PROJECT"])


@pytest.fixture(scope="module")
def server():
    """One daphne per checkpoint module on the graded tree, in-memory layer whatever REDIS_URL says."""
    from kit.server import DaphneServer, ServerError
    from support import PROJECT, fail

    daphne = DaphneServer(PROJECT, env={"REDIS_URL": ""})
    try:
        daphne.start()
    except ServerError as exc:
        fail(f"daphne did not start on this project. {exc}")
    yield daphne
    daphne.stop()
