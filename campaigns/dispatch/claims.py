"""Leases: a batch claims its message rows before it sends them, renews the lease while it works, and gives
back what it did not send.

A claim is one statement. On PostgreSQL the rows are picked ``FOR UPDATE SKIP LOCKED`` in a CTE and leased
by the ``UPDATE … FROM picked … RETURNING`` around it, so two batches racing for one range each get other
rows and never wait for each other. SQLite has a single writer: the ``UPDATE … WHERE id IN (SELECT … LIMIT
n) RETURNING`` takes the write lock first, so no second claim can see the rows before they are leased.

A row is claimable when it is due (``queued`` or ``deferred``, ``not_before`` empty or past) and nobody
holds it (no lease, or an expired one: its worker died before the row went ``sending``, so nothing left).
The status does not change: ``queued`` + lease means "ours, the request has not left" (see
``campaigns.dispatch``). Functions flush nothing and commit nothing; the batch commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update

from campaigns.models import Message, MessageStatus
from dbtypes import one_of
from extensions import db

DUE_STATUSES = (MessageStatus.QUEUED, MessageStatus.DEFERRED)
# Rows a batch may hold under its lease: claimed (not sent yet) or in flight. They are also what is left to
# send: a campaign is not done while any is left (``completion``).
HELD_STATUSES = (*DUE_STATUSES, MessageStatus.SENDING)


@dataclass(frozen=True, slots=True)
class Claimed:
    """One claimed row: what sending it needs."""

    id: int
    phone: str
    key: str
    variables: dict[str, str]
    attempts: int
    contact_id: int = 0
    address: str | None = None  # a bot's address for the person (``Message.address``); None on WhatsApp


def due(campaign_id: int | ColumnElement[int], now: datetime, step: int | None = None) -> ColumnElement[bool]:
    """Rows of the campaign (of its cascade step ``step``, when given) that a batch may claim at ``now``
    (``campaign_id`` may be a column, e.g. a correlated ``Campaign.id``)."""
    return and_(
        Message.campaign_id == campaign_id,
        *(() if step is None else (Message.step == step,)),
        Message.status.in_(DUE_STATUSES),
        or_(Message.not_before.is_(None), Message.not_before <= now),
        or_(Message.lease_until.is_(None), Message.lease_until < now),
    )


def _postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def claim(campaign_id: int, first_id: int, last_id: int, owner: str, limit: int, now: datetime,
          lease_seconds: float, step: int = 0) -> list[Claimed]:
    """Lease up to ``limit`` due rows of the campaign's cascade step ``step`` with ids in ``[first_id, last_id]``
    to ``owner``, by id; returns them in id order. (A batch sends one step: one sender, one channel.)"""
    condition = and_(due(campaign_id, now, step), Message.id.between(first_id, last_id))
    picked = select(Message.id).where(condition).order_by(Message.id).limit(limit)
    values = {"lease_owner": owner, "lease_until": now + timedelta(seconds=lease_seconds)}
    columns = (Message.id, Message.phone, Message.idempotency_key, Message.variables, Message.attempts,
               Message.contact_id, Message.address)
    if _postgresql():
        cte = picked.with_for_update(skip_locked=True).cte("picked")
        statement = update(Message).where(Message.id == cte.c.id)
    else:
        statement = update(Message).where(Message.id.in_(picked.scalar_subquery()))
    rows = db.session.execute(
        statement.values(**values).returning(*columns).execution_options(synchronize_session=False)
    ).all()
    return sorted((Claimed(row[0], row[1], row[2], row[3] or {}, row[4] or 0, row[5], row[6]) for row in rows),
                  key=_by_id)


def _by_id(row: Claimed) -> int:
    return row.id


def _held(owner: str, first_id: int, last_id: int) -> ColumnElement[bool]:
    # The id range keeps these statements on the primary key instead of scanning for the owner.
    return and_(Message.id.between(first_id, last_id), Message.lease_owner == owner)


def renew(owner: str, first_id: int, last_id: int, now: datetime, lease_seconds: float) -> int:
    """Extend ``owner``'s lease on every row it still holds in the range; returns how many."""
    return _update(and_(_held(owner, first_id, last_id), Message.status.in_(HELD_STATUSES)),
                   lease_until=now + timedelta(seconds=lease_seconds))


def release(owner: str, first_id: int, last_id: int, *, ids: list[int] | None = None,
            not_before: datetime | None = None) -> int:
    """Give back the rows ``owner`` claimed but did not send (all of them in the range, or only ``ids``): lease
    cleared, status unchanged; with ``not_before`` they wait until then. Rows in flight are not touched.
    Returns how many."""
    condition = and_(_held(owner, first_id, last_id), Message.status.in_(DUE_STATUSES))
    if ids is not None:
        if not ids:
            return 0
        condition = and_(condition, one_of(Message.id, ids, db.session.get_bind().dialect.name))
    values: dict[str, Any] = {"lease_owner": None, "lease_until": None}
    if not_before is not None:
        values["not_before"] = not_before
    return _update(condition, **values)


def _update(condition: ColumnElement[bool], **values: Any) -> int:
    return db.session.execute(
        update(Message).where(condition).values(**values).execution_options(synchronize_session=False)
    ).rowcount
