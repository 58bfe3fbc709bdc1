"""Real services for the suite: a Redis server of its own, SQLite always, PostgreSQL when asked.

Every test that uses ``app`` runs once per database backend: SQLite, and PostgreSQL when
``TEST_DATABASE_URL`` is set (otherwise those cases are skipped with the reason). The schema is
built by the real Alembic migrations once per backend; each test then starts from empty tables.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import redis as redis_client
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from embedded_redis import server_args
from tests.helpers import PASSWORD, IsolatedClient, signed_in_client
from tests.processes import wait_for

FAST_HASHING = {"PASSWORD_HASH_TIME_COST": 1, "PASSWORD_HASH_MEMORY_KIB": 64}


def pytest_collection_modifyitems(config, items):
    """Run tests marked ``one_database`` on SQLite only: what they prove is about processes and Redis
    (signals, drains, the cron lease), and each PostgreSQL variant would only start the same processes again."""
    kept, dropped = [], []
    for item in items:
        variant = getattr(item, "callspec", None) and item.callspec.params.get("migrated_database")
        (dropped if variant == "postgresql" and item.get_closest_marker("one_database") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_report_header(config):
    if postgres_url():
        return "databases: SQLite and PostgreSQL (TEST_DATABASE_URL)"
    return "databases: SQLite only; TEST_DATABASE_URL is not set, so every PostgreSQL variant is skipped"


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory):
    """Keep the suite away from the developer's instance/ folder and their settings."""
    saved = dict(os.environ)
    for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "VESTNIK_ENV", "METRICS_TOKEN", "PUBLIC_URL"):
        os.environ.pop(name, None)
    os.environ["VESTNIK_INSTANCE_PATH"] = str(tmp_path_factory.mktemp("instance"))
    yield
    os.environ.clear()
    os.environ.update(saved)


def start_redis(directory: Path) -> tuple[subprocess.Popen, str]:
    """Start a real redis-server on a unix socket in ``directory``; returns it and its URL."""
    socket_path = directory / "redis.sock"
    process = subprocess.Popen(server_args(socket_path, directory, persistent=False), stdout=subprocess.DEVNULL)
    client = redis_client.Redis(unix_socket_path=str(socket_path))

    def answers() -> bool:
        if process.poll() is not None:
            pytest.fail("the test Redis server exited while starting")
        try:
            return client.ping()
        except redis_client.ConnectionError:
            return False

    try:
        wait_for(answers, "the test Redis server to start", timeout=10)
    except BaseException:
        process.kill()
        raise
    return process, f"unix://{socket_path}"


@pytest.fixture(scope="session")
def redis_url():
    # Short path: unix socket paths are limited to ~100 bytes, pytest's tmp paths can be longer.
    directory = Path(subprocess.check_output(["mktemp", "-d", "/tmp/vestnik-test-redis.XXXXXX"], text=True).strip())
    process, url = start_redis(directory)
    yield url
    process.terminate()
    process.wait(timeout=10)
    shutil.rmtree(directory, ignore_errors=True)


def build_app(database_url: str, redis_url: str, **overrides):
    from app import create_app

    application = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key-that-is-long-enough-for-prod",
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": redis_url,
            **FAST_HASHING,
            **overrides,
        }
    )
    application.test_client_class = IsolatedClient
    return application


def migrate_to_head(database_url: str, redis_url: str) -> None:
    """Run the real migrations against ``database_url``."""
    from flask_migrate import upgrade

    app = build_app(database_url, redis_url)
    with app.app_context():
        upgrade()
        from extensions import db

        db.engine.dispose()


def postgres_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if url and url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def worker_database_url(url: str, worker: str | None) -> str:
    """The PostgreSQL database of one pytest-xdist worker: ``<database>_<worker>`` beside the given one.

    Parallel workers must not share a database (each truncates the tables between its tests). The given
    database only serves as the place to connect from; without xdist it is used itself.
    """
    if not worker or worker == "master":
        return url
    base = make_url(url)
    return base.set(database=f"{base.database}_{worker}").render_as_string(hide_password=False)


def recreate_postgres_database(url: str, maintenance_url: str) -> None:
    """Drop and create the database of ``url``, connecting through ``maintenance_url``."""
    engine = create_engine(maintenance_url, isolation_level="AUTOCOMMIT")
    name = make_url(url).database
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_database(worker_id):
    """This worker's PostgreSQL database URL (created for it, dropped at the end), or None."""
    url = postgres_url()
    if not url:
        yield None
        return
    own = worker_database_url(url, worker_id)
    if own == url:
        yield url
        return
    recreate_postgres_database(own, url)
    yield own
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{make_url(own).database}" WITH (FORCE)'))
    engine.dispose()


def reset_postgres_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_database(request, redis_url, tmp_path_factory):
    """A database at the newest migration: a SQLite template file, or this worker's PostgreSQL database."""
    if request.param == "sqlite":
        template = tmp_path_factory.mktemp("sqlite") / "template.db"
        migrate_to_head(f"sqlite:///{template}", redis_url)
        return "sqlite", template
    url = request.getfixturevalue("postgres_database")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set, so the PostgreSQL variant of this test is skipped")
    reset_postgres_schema(url)
    migrate_to_head(url, redis_url)
    return "postgresql", url


@pytest.fixture
def database_url(migrated_database, tmp_path):
    """A URL of an empty, fully migrated database for this test alone."""
    backend, source = migrated_database
    if backend == "sqlite":
        copy = tmp_path / "vestnik.db"
        shutil.copyfile(source, copy)
        return f"sqlite:///{copy}"
    empty_postgres_tables(source)
    return source


class PostgresEmptier:
    """Empties every table of one PostgreSQL test database between tests, and restarts its sequences.

    The tables are a handful of rows each, for which DELETE is ten times faster than TRUNCATE (which
    makes new files for every table and index: ~50 ms a test). Row triggers — the append-only audit
    log refuses deletes — and foreign-key checks are switched off for the transaction with the
    replica role; a role not allowed to do that gets TRUNCATE, which fires no row triggers either.
    """

    def __init__(self, url: str):
        self.engine = create_engine(url, pool_size=1)
        self.tables = [name for name in inspect(self.engine).get_table_names() if name != "alembic_version"]
        self.replica_allowed = True

    def empty(self) -> None:
        with self.engine.begin() as connection:
            if self.replica_allowed:
                try:
                    with connection.begin_nested():
                        connection.execute(text("SET LOCAL session_replication_role = replica"))
                except DBAPIError:
                    self.replica_allowed = False
            if self.replica_allowed:
                for name in self.tables:
                    connection.execute(text(f'DELETE FROM "{name}"'))
                connection.execute(text("SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S'"))
            else:
                connection.execute(text(f"TRUNCATE {', '.join(self.tables)} RESTART IDENTITY CASCADE"))


_EMPTIERS: dict[str, PostgresEmptier] = {}


def empty_postgres_tables(url: str) -> None:
    """Empty the migrated PostgreSQL database at ``url`` (its table list is read once per session)."""
    if url not in _EMPTIERS:
        _EMPTIERS[url] = PostgresEmptier(url)
    _EMPTIERS[url].empty()


@pytest.fixture
def app(database_url, redis_url):
    application = build_app(database_url, redis_url)
    with application.app_context():
        from extensions import db, redis_queues

        redis_queues.connection.flushdb()
        yield application
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_user(app):
    """Create an active user with ``PASSWORD`` and commit it."""
    from accounts import users
    from accounts.models import Role
    from extensions import db

    counter = iter(range(1, 10_000))

    def make(role: Role | str = "marketer", email: str | None = None, **fields):
        user = users.create_user(
            email or f"user{next(counter)}@example.com", Role(role), password=PASSWORD, actor=None, **fields
        )
        db.session.commit()
        return user

    return make


@pytest.fixture
def token_of(make_user):
    """A new user of the given role and their API token's plaintext."""
    from accounts import tokens
    from extensions import db

    def make(role: str = "marketer") -> str:
        _row, plaintext = tokens.create_token(make_user(role), "script")
        db.session.commit()
        return plaintext

    return make


@pytest.fixture
def call_as(client, token_of):
    """``call_as(method, path, role, json=…)``: one API request with a new token of ``role``."""

    def request(method: str, path: str, role: str | None = "marketer", **kwargs):
        headers = {"Authorization": f"Bearer {token_of(role)}"} if role else {}
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return request


@pytest.fixture
def admin(make_user):
    """An administrator, boss@example.com."""
    return make_user("admin", email="boss@example.com")


@pytest.fixture
def admin_browser(app, admin):
    """A browser signed in as ``admin``."""
    return signed_in_client(app, admin.email)


# --- the sandbox provider (channels/sandbox): one real process per xdist worker -----------------------

@pytest.fixture(scope="session")
def sandbox_process():
    """The sandbox provider, started once per worker (``--latency-ms 0``), stopped at the end."""
    from tests.sandbox_provider import SandboxProcess

    with SandboxProcess() as process:
        yield process


@pytest.fixture
def sandbox(sandbox_process):
    """The worker's sandbox, reset (state, settings, ledger, pending webhooks) before the test."""
    sandbox_process.reset()
    return sandbox_process


@pytest.fixture
def callback_receiver():
    """A real HTTP server that records the webhooks it gets (point the sandbox at ``.url``)."""
    from tests.sandbox_provider import CallbackReceiver

    receiver = CallbackReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def sandbox_sender(app, sandbox):
    """A committed sender on the worker's sandbox: its default number and business account."""
    from campaigns import senders
    from extensions import db

    sender = senders.create_sender("Sandbox", "+74950000001", channel="sandbox", base_url=sandbox.url,
                                   tier="TIER_250")
    db.session.commit()
    return sender
