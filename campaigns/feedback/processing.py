"""Applying stored callback bodies: claimed in batches, parsed, routed to the handlers, marked processed.

A batch is up to ``WEBHOOK_BATCH_SIZE`` pending bodies (``processed_at`` empty, fewer than
``WEBHOOK_MAX_ATTEMPTS`` failed tries), oldest first. On PostgreSQL they are claimed ``FOR UPDATE SKIP
LOCKED``, so any number of workers share the queue without waiting for each other or applying a body twice;
SQLite has one writer, and its claim is a write that takes the lock first. The handlers' effects and
``processed_at`` commit in ONE transaction per batch: a worker that dies mid-batch leaves every body of it
pending, and the next worker applies them (the handlers are idempotent).

A batch that raises is rolled back and retried body by body, each in its own transaction, so one poison body
cannot hold up the others: the bodies that apply are committed, the one that raises gets ``attempts + 1`` and
its error and is not tried again by the same drain (the next drain or sweep tries it again); after
``WEBHOOK_MAX_ATTEMPTS`` it is left for the operator (logged). A database that is
unavailable, a lock timeout or a deadlock is not the body's fault: the batch is tried again a few times, then
the job raises (RQ retries it; the sweep comes anyway).

After each committed batch the ``routing.AFTER_BATCH`` functions run for every sender context of it, each in
a transaction of its own; one that raises is logged, the others still run, and the error is raised when the
drain ends.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import Row, select, update
from sqlalchemy.exc import InterfaceError, OperationalError

from campaigns import metrics
from campaigns.feedback import routing
from campaigns.feedback.models import WebhookEvent
from campaigns.feedback.routing import FeedbackContext
from campaigns.models import Sender
from campaigns.senders import settings_for
from channels.registry import channel_for
from dbtypes import one_of, utcnow
from extensions import db

log = logging.getLogger(__name__)

# How often a lingering drain looks for bodies that arrived after its last batch.
LINGER_POLL_SECONDS = 0.02

# A batch that meets a transient database error (a deadlock, a lock timeout, a lost connection) is tried again
# this many times before the drain gives up and raises.
TRANSIENT_RETRIES = 3
ERROR_LENGTH = 2000

_table = WebhookEvent.__table__
# What a claim reads of each body: to apply it, and to count it once applied (its family, its arrival).
_CLAIMED = (_table.c.id, _table.c.sender_id, _table.c.body, _table.c.channel, _table.c.received_at)


@dataclass
class Drained:
    """What one drain did: batches committed, bodies applied, bodies that failed, events handled by class."""

    batches: int = 0
    bodies: int = 0
    failed: int = 0
    given_up: int = 0
    isolated: int = 0  # batches that raised and were applied body by body
    events: Counter[str] = field(default_factory=Counter)
    more: bool = False  # stopped by the time budget with bodies still pending
    failed_ids: set[int] = field(default_factory=set, repr=False)  # not claimed again by the same drain

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "bodies": self.bodies, "failed": self.failed, "given_up": self.given_up,
                "isolated": self.isolated, "events": dict(self.events), "more": self.more}


def _transient(error: BaseException) -> bool:
    return isinstance(error, OperationalError | InterfaceError)


def _pending(max_attempts: int) -> Any:
    return (_table.c.processed_at.is_(None)) & (_table.c.attempts < max_attempts)


def claim(limit: int, max_attempts: int, ids: Sequence[int] | None = None,
          skip: Collection[int] = ()) -> list[Row]:
    """Lock up to ``limit`` pending bodies (of ``ids`` only, if given; none of ``skip``) for this transaction,
    oldest first: ``(id, sender_id, body, channel, received_at)``. PostgreSQL skips bodies another worker holds;
    SQLite takes its write lock."""
    dialect = db.session.get_bind().dialect.name
    condition = _pending(max_attempts)
    if ids is not None:
        condition = condition & one_of(_table.c.id, ids, dialect)
    if skip:
        condition = condition & ~one_of(_table.c.id, skip, dialect)

    def oldest(*columns: Any) -> Any:
        return select(*columns).where(condition).order_by(_table.c.id).limit(limit)

    if dialect == "postgresql":
        rows = db.session.execute(
            oldest(*_CLAIMED).with_for_update(skip_locked=True)
        ).all()
        return list(rows)
    # A write first: SQLite's lock is taken before the rows are read, so a second worker waits, then sees them done.
    rows = db.session.execute(
        update(_table).where(_table.c.id.in_(oldest(_table.c.id).scalar_subquery())).values(attempts=_table.c.attempts)
        .returning(*_CLAIMED)
    ).all()
    return sorted(rows, key=lambda row: row[0])


@dataclass
class Applied:
    """What ``apply`` did to one batch, for the drain to act on once it commits."""

    contexts: list[FeedbackContext]  # one per sender, for the AFTER_BATCH functions
    handled: Counter[str]  # events handled by class
    events: dict[str, list[Any]]  # every parsed event by the provider family that posted it (the metrics)


def apply(rows: Sequence[Row], now: datetime) -> Applied:
    """Parse the claimed bodies, route their events sender by sender, and mark them processed; flushes only.
    A body whose sender no longer exists is marked processed with nothing applied (logged)."""
    by_sender: dict[int | None, list[Row]] = {}
    for row in rows:
        by_sender.setdefault(row.sender_id, []).append(row)
    applied = Applied([], Counter(), {})
    orphans: list[int] = []
    for sender_id, group in by_sender.items():
        sender = db.session.get(Sender, sender_id) if sender_id is not None else None
        if sender is None:
            orphans.extend(row.id for row in group)
            continue
        channel = channel_for(settings_for(sender), None)  # type: ignore[arg-type]  # parsing needs no HTTP
        events = []
        for row in group:
            parsed = channel.parse_webhook(row.body)
            events.extend(parsed)
            applied.events.setdefault(row.channel, []).extend(parsed)
        context = FeedbackContext(sender=sender, now=now)
        applied.handled.update(routing.route(context, events))
        applied.contexts.append(context)
    if orphans:
        log.warning("event=webhooks_without_sender count=%d ids=%s", len(orphans), orphans[:20])
    ids = [row.id for row in rows]
    db.session.execute(update(_table).where(one_of(_table.c.id, ids, db.session.get_bind().dialect.name))
                       .values(processed_at=now, error=None))
    return applied


def _count_applied(rows: Sequence[Row], applied: Applied) -> None:
    """After the commit of a batch: its events by kind, and each body's lag from arrival to now."""
    now = utcnow()
    lags: dict[str, list[float]] = {}
    for row in rows:
        lags.setdefault(row.channel, []).append((now - row.received_at).total_seconds())
    for channel, channel_lags in lags.items():
        metrics.webhook_applied(channel, applied.events.get(channel, ()), channel_lags)


def _record_failure(event_id: int, error: BaseException, max_attempts: int, done: Drained) -> None:
    """Count a failed try of one body and keep its error (its own transaction)."""
    words = f"{type(error).__name__}: {error}"[:ERROR_LENGTH]
    db.session.execute(update(_table).where(_table.c.id == event_id)
                       .values(attempts=_table.c.attempts + 1, error=words))
    attempts = db.session.scalar(select(_table.c.attempts).where(_table.c.id == event_id))
    db.session.commit()
    done.failed += 1
    done.failed_ids.add(event_id)
    if attempts is not None and attempts >= max_attempts:
        done.given_up += 1
        log.error("event=webhook_given_up webhook_event_id=%s attempts=%s error=%r", event_id, attempts, words)
    else:
        log.warning("event=webhook_failed webhook_event_id=%s attempts=%s error=%r", event_id, attempts, words)


def _one_by_one(ids: Sequence[int], max_attempts: int, done: Drained) -> list[FeedbackContext]:
    """Apply the bodies of a batch that raised one at a time; the ones that raise again are counted as failed."""
    contexts: list[FeedbackContext] = []
    for event_id in ids:
        try:
            rows = claim(1, max_attempts, [event_id])
            if not rows:  # another worker took it meanwhile, or it is done
                db.session.rollback()
                continue
            applied = apply(rows, utcnow())
            db.session.commit()
        except Exception as error:
            db.session.rollback()
            if _transient(error):
                raise
            log.exception("event=webhook_apply_error webhook_event_id=%s", event_id)
            _record_failure(event_id, error, max_attempts, done)
            continue
        _count_applied(rows, applied)
        done.bodies += 1
        done.events.update(applied.handled)
        contexts.extend(applied.contexts)
    return contexts


def _after_batch(contexts: Sequence[FeedbackContext]) -> BaseException | None:
    first: BaseException | None = None
    for hook in routing.AFTER_BATCH:
        for context in contexts:
            try:
                hook(context)
                db.session.commit()
            except Exception as error:
                db.session.rollback()
                log.exception("event=webhook_after_batch_error hook=%s sender_id=%s",
                              getattr(hook, "__qualname__", hook), context.sender.id)
                first = first or error
    return first


def drain(budget_seconds: float | None = None, linger_seconds: float = 0.0) -> Drained:
    """Apply pending bodies batch by batch until none is left (or, with ``budget_seconds``, until that time is
    spent: ``more`` says bodies are still pending). Commits each batch; raises after the drain when an
    ``AFTER_BATCH`` function raised, and at once when the database keeps failing.

    With ``linger_seconds``, a drain that found nothing pending looks again every ``LINGER_POLL_SECONDS`` until
    that long has passed since its last batch: under a sustained stream of callbacks one job keeps applying
    them, instead of the worker forking a job for every wake-up (the fork cost more CPU than the batch)."""
    limit = current_app.config["WEBHOOK_BATCH_SIZE"]
    max_attempts = current_app.config["WEBHOOK_MAX_ATTEMPTS"]
    started = time.monotonic()
    done = Drained()
    hook_error: BaseException | None = None
    transient = 0
    last_batch = started
    while True:
        if budget_seconds is not None and time.monotonic() - started > budget_seconds:
            done.more = bool(db.session.scalar(select(_table.c.id).where(
                _pending(max_attempts) & ~one_of(_table.c.id, done.failed_ids, db.session.get_bind().dialect.name))
                .limit(1)))
            db.session.rollback()
            break
        ids: list[int] = []
        try:
            rows = claim(limit, max_attempts, skip=done.failed_ids)
            if not rows:
                db.session.rollback()
                if time.monotonic() - last_batch >= linger_seconds:
                    break
                time.sleep(LINGER_POLL_SECONDS)
                continue
            last_batch = time.monotonic()
            ids = [row.id for row in rows]
            applied = apply(rows, utcnow())
            db.session.commit()
        except Exception as error:
            db.session.rollback()
            if _transient(error):
                transient += 1
                log.warning("event=webhook_batch_transient_error attempt=%d error=%r", transient, error)
                if transient > TRANSIENT_RETRIES:
                    raise
                time.sleep(random.uniform(0.05, 0.2) * transient)  # let the other transaction finish
                continue
            if not ids:  # the claim itself failed: nothing to isolate
                raise
            log.warning("event=webhook_batch_error bodies=%d error=%r; applying them one by one", len(ids), error)
            done.isolated += 1
            contexts = _one_by_one(ids, max_attempts, done)
        else:
            _count_applied(rows, applied)
            contexts = applied.contexts
            done.bodies += len(rows)
            done.events.update(applied.handled)
        transient = 0
        done.batches += 1
        hook_error = _after_batch(contexts) or hook_error
    if hook_error is not None:
        raise hook_error
    return done
