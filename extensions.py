"""Unbound extension singletons; ``create_app()`` binds them. A leaf: imports no project package."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, current_app
from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from sqlalchemy import MetaData, event
from sqlalchemy.orm import Session, SessionTransaction

# Deterministic constraint names, so Alembic migrations can alter them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
log = logging.getLogger(__name__)

# Queues by purpose, in the order a worker drains them: sending first, imports and chores last.
QUEUE_NAMES = ("dispatch", "webhooks", "imports", "default")
DONE_STATUSES = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELED, JobStatus.STOPPED}


class RedisQueues:
    """The Redis connection and the RQ queues, bound to an app by ``init_app``."""

    extension_key = "vestnik.redis"

    def init_app(self, app: Flask) -> None:
        """Create the connection pool for this app; nothing connects until first use."""
        app.extensions[self.extension_key] = Redis.from_url(
            app.config["REDIS_URL"], socket_connect_timeout=5, health_check_interval=30
        )

    @property
    def connection(self) -> Redis:
        """The current app's Redis client."""
        return current_app.extensions[self.extension_key]

    def queue(self, name: str) -> Queue:
        """One of the purpose-named queues."""
        if name not in QUEUE_NAMES:
            raise ValueError(f"unknown queue {name!r}; queues are {QUEUE_NAMES}")
        return Queue(name, connection=self.connection)

    def enqueue(
        self,
        queue_name: str,
        func: Callable[..., Any],
        *args: Any,
        job_id: str | None = None,
        timeout: timedelta = timedelta(minutes=10),
        retries: int = 0,
        failure_ttl: timedelta = timedelta(days=7),
        at: datetime | None = None,
        **kwargs: Any,
    ) -> Job:
        """Enqueue ``func(*args, **kwargs)`` with explicit timeout, retry and failure TTL.

        Every job goes through here (via one small helper per job), so no job is enqueued with
        RQ's defaults by accident. With a ``job_id`` the job is unique while it is queued,
        scheduled or running: enqueueing it again returns the pending job instead of a second one.
        With ``at`` (timezone-aware) the job waits in RQ's scheduled registry until then; a worker's
        scheduler enqueues it at that time, or as soon as a worker starts if the time has passed.
        """
        options = {
            "args": args,
            "kwargs": kwargs,
            "job_id": job_id,
            "unique": job_id is not None,
            "job_timeout": int(timeout.total_seconds()),
            "retry": Retry(max=retries, interval=[10, 60, 300]) if retries else None,
            "failure_ttl": int(failure_ttl.total_seconds()),
            "result_ttl": int(timedelta(days=1).total_seconds()),
        }
        queue = self.queue(queue_name)

        def put() -> Job:
            return queue.enqueue(func, **options) if at is None else queue.enqueue_at(at, func, **options)

        try:
            return put()
        except DuplicateJobError:
            existing = Job.fetch(job_id, connection=self.connection)
            if existing.get_status() not in DONE_STATUSES:
                return existing
        # A finished or failed run only keeps its result; it must not block the next run.
        existing.delete()
        try:
            return put()
        except DuplicateJobError:  # another process re-enqueued it between our delete and enqueue
            return Job.fetch(job_id, connection=self.connection)


redis_queues = RedisQueues()


# --- after commit -------------------------------------------------------------------------------------
# session.info keys: the pending actions as [transaction, action] pairs in the order they were
# registered, and whether the transaction now ending was committed (SQLAlchemy's after_commit fires
# for a released savepoint too, after_transaction_end for every transaction, outcome unsaid).
_PENDING = "vestnik.after_commit.pending"
_COMMITTED = "vestnik.after_commit.committed"


def after_commit(action: Callable[[], object]) -> None:
    """Run ``action`` once the current database transaction commits; forget it if it rolls back.

    Edges (views, API, CLI) start their jobs through this, so a worker that picks a job up at once
    always finds what the edge committed, and a rolled-back request leaves no job behind. Savepoints
    are honoured: an action registered inside ``db.session.begin_nested()`` waits for the outer
    commit if the savepoint is released, and is forgotten if the savepoint rolls back, while actions
    registered outside it are kept. Actions run in the order they were registered; if one raises,
    the others still run and the first error is raised from the commit (which has happened).
    """
    session = db.session()
    if not event.contains(session, "after_transaction_end", _settle_pending):
        event.listen(session, "after_commit", _note_commit)
        event.listen(session, "after_transaction_end", _settle_pending)
    # None stands for the outermost transaction when none has begun yet.
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(_PENDING, []).append([transaction, action])


def _note_commit(session: Session) -> None:
    session.info[_COMMITTED] = True


def _settle_pending(session: Session, transaction: SessionTransaction) -> None:
    committed = session.info.pop(_COMMITTED, False)
    pending = session.info.get(_PENDING)
    if not pending:
        return
    if transaction.parent is not None:  # a savepoint: its actions join the enclosing transaction, or go
        if committed:
            for entry in pending:
                if entry[0] is transaction:
                    entry[0] = transaction.parent
        else:
            session.info[_PENDING] = [entry for entry in pending if entry[0] is not transaction]
        return
    session.info[_PENDING] = []
    if committed:
        _run_all([action for _transaction, action in pending])


def _run_all(actions: list[Callable[[], object]]) -> None:
    first_error: Exception | None = None
    for action in actions:
        try:
            action()
        except Exception as error:  # the commit stands; the sweeps heal a lost job, the log says which
            log.exception("event=after_commit_action_failed action=%r", action)
            first_error = first_error or error
    if first_error is not None:
        raise first_error
