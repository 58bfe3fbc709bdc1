"""Settling a message row by a status the provider sent for its key.

Every status the Cloud API sends back carries our key (``biz_opaque_callback_data``), so the webhook can find
the row even when we never learnt its provider id: an ``unknown`` row (its worker died with the request maybe
gone) is settled this way, and so is a row still ``sending`` whose status overtook the batch's own result.

Statuses only move a row forward — ``sent`` < ``delivered`` < ``read``, and ``failed`` only from a row not yet
delivered — in whatever order they arrive, so a late ``sent`` after ``read`` changes nothing, and the same
status twice changes nothing the second time. One exception: ``failed`` with ``unknown_outcome`` is our own
guess after the timeout (``recovery.fail_unsettled``), not the provider's word, so a later ``sent``,
``delivered`` or ``read`` for it wins.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, Update, and_, bindparam, func, or_, update

from campaigns.dispatch.recovery import UNKNOWN_OUTCOME
from campaigns.models import Message, MessageStatus
from dbtypes import UTCDateTime, utcnow
from extensions import db

# The states a row may be in for each status to move it; a row in any other state is already further on.
_FROM: dict[MessageStatus, tuple[MessageStatus, ...]] = {
    MessageStatus.SENT: (MessageStatus.SENDING, MessageStatus.UNKNOWN),
    MessageStatus.DELIVERED: (MessageStatus.SENDING, MessageStatus.UNKNOWN, MessageStatus.SENT),
    MessageStatus.READ: (MessageStatus.SENDING, MessageStatus.UNKNOWN, MessageStatus.SENT, MessageStatus.DELIVERED),
    MessageStatus.FAILED: (MessageStatus.SENDING, MessageStatus.UNKNOWN, MessageStatus.SENT),
}
# The statuses a provider reports, in the order one batch applies them: a row with several statuses in the same
# batch takes each of its times (sent, then delivered, then read), and a failure after a delivery stays ignored.
SETTLING = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED)

_table = Message.__table__


def forward(status: MessageStatus) -> ColumnElement[bool]:
    """The rows ``status`` may move: those it is forward from, and for a status other than failed also the rows
    failed by our own ``unknown_outcome`` guess."""
    movable = _table.c.status.in_(_FROM[status])
    if status is not MessageStatus.FAILED:
        movable = or_(movable, and_(_table.c.status == MessageStatus.FAILED, _table.c.error_code == UNKNOWN_OUTCOME))
    return movable


def moving(status: MessageStatus | str, target: ColumnElement[bool]) -> Update:
    """The UPDATE that moves the rows ``target`` picks to ``status`` where that is forward (``forward``), with the
    parameters of ``parameters()``; executed with a list of them it settles many rows in one statement. The
    provider's id is recorded when given; ``at`` is the time of that status; a failure keeps the code and the
    provider's words. ValueError for a status a provider does not report."""
    status = MessageStatus(status)
    if status not in _FROM:
        raise ValueError(f"a status cannot settle a message as {status.value!r}")
    column = _table.c
    at = bindparam("at", type_=UTCDateTime())
    values: dict[str, Any] = {
        "status": status, "lease_owner": None, "lease_until": None,
        "provider_message_id": func.coalesce(bindparam("provider_id", type_=String()), column.provider_message_id),
    }
    if status is MessageStatus.FAILED:
        values.update(failed_at=at, error_message=bindparam("error_title", type_=String()),
                      error_code=func.coalesce(bindparam("error_code", type_=String()), column.error_code))
    else:
        # Sent after all: a failure or an uncertain retry recorded before no longer holds.
        values.update(failed_at=None, error_code=None, error_message=None,
                      sent_at=at if status is MessageStatus.SENT else func.coalesce(column.sent_at, at))
        if status is MessageStatus.DELIVERED:
            values["delivered_at"] = at
        if status is MessageStatus.READ:
            values.update(read_at=at, delivered_at=func.coalesce(column.delivered_at, at))
    return update(_table).where(target, forward(status)).values(**values)


def parameters(at: datetime | None = None, provider_id: str | None = None, error_code: str | None = None,
               error_title: str = "") -> dict[str, Any]:
    """The parameters of one row's ``moving`` statement (``at`` defaults to now)."""
    return {"at": at or utcnow(), "provider_id": provider_id or None, "error_code": error_code or None,
            "error_title": error_title[:2000] or None}


def settle(key: str, status: MessageStatus | str, provider_id: str | None = None, at: datetime | None = None,
           error_code: str | None = None, error_title: str = "") -> bool:
    """Move the row of idempotency key ``key`` to ``status`` (sent, delivered, read or failed) if that is
    forward from where it stands; True if it moved. ``provider_id`` is recorded when given, ``at`` (the
    provider's time, else now) is the time of that status; a failure keeps ``error_code`` and the provider's
    ``error_title``. One UPDATE; flushes only (the webhook commits). ValueError for any other status."""
    statement = moving(status, _table.c.idempotency_key == bindparam("key"))
    changed = db.session.execute(statement, {"key": key, **parameters(at, provider_id, error_code, error_title)})
    return changed.rowcount == 1
