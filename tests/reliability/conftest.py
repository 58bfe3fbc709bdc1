"""Fixtures of the reliability suite: a Redis of each test's own, real workers, the sandbox with latency.

Every test here gets its own ``redis-server`` (so that one test may kill and restart it, and no rate-limit
or queue state leaks from one test to the next) and an ``app`` built on it with the dispatch settings the
workers get. ``workers`` starts ``python worker.py`` processes and, however the test ends, kills them and
everything below them, and fails the test if any process outlives that.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import build_app
from tests.reliability.harness import DISPATCH_SETTINGS, RedisServer, Workers, assert_no_leftovers, worker_env
from tests.sandbox_provider import SandboxProcess

# The sandbox answers after this many milliseconds: a real round trip, yet fast enough for a short suite.
LATENCY_MS = 5


@pytest.fixture
def redis_server():
    # Short path: unix socket paths are limited to ~100 bytes, pytest's tmp paths can be longer.
    directory = Path(subprocess.check_output(["mktemp", "-d", "/tmp/vestnik-rel-redis.XXXXXX"], text=True).strip())
    server = RedisServer(directory).start()
    yield server
    server.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def app(database_url, redis_server):
    application = build_app(database_url, redis_server.url, **DISPATCH_SETTINGS)
    with application.app_context():
        from extensions import db

        yield application
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def workers(app, database_url, redis_server, tmp_path):
    started = Workers(worker_env(database_url, redis_server.url), tmp_path)
    yield started
    assert_no_leftovers(started)


@pytest.fixture
def provider(sandbox):
    """The worker's sandbox (idempotent, as it starts by default), answering after ``LATENCY_MS``."""
    sandbox.configure(latency_ms=LATENCY_MS)
    return sandbox


@pytest.fixture
def provider_without_idempotency():
    """A sandbox of the test's own started with ``--no-idempotency``: a repeated key is a new message, as on
    the real Cloud API."""
    with SandboxProcess("--no-idempotency", "--latency-ms", str(LATENCY_MS)) as process:
        yield process


@pytest.fixture
def people(app, make_user):
    """The marketer who writes the campaigns and the reviewer who approves them."""
    return make_user("marketer"), make_user("reviewer")
