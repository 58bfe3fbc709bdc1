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

from sqlalchemy import and_, func, literal, or_, update

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


def settle(key: str, status: MessageStatus | str, provider_id: str | None = None, at: datetime | None = None,
           error_code: str | None = None, error_title: str = "") -> bool:
    """Move the row of idempotency key ``key`` to ``status`` (sent, delivered, read or failed) if that is
    forward from where it stands; True if it moved. ``provider_id`` is recorded when given, ``at`` (the
    provider's time, else now) is the time of that status; a failure keeps ``error_code`` and the provider's
    ``error_title``. One UPDATE; flushes only (the webhook commits). ValueError for any other status."""
    status = MessageStatus(status)
    if status not in _FROM:
        raise ValueError(f"a status cannot settle a message as {status.value!r}")
    at = at or utcnow()
    movable = Message.status.in_(_FROM[status])
    if status is not MessageStatus.FAILED:
        movable = or_(movable, and_(Message.status == MessageStatus.FAILED, Message.error_code == UNKNOWN_OUTCOME))
    when = literal(at, UTCDateTime())
    values: dict[str, Any] = {"status": status, "lease_owner": None, "lease_until": None}
    if provider_id:
        values["provider_message_id"] = provider_id
    if status is MessageStatus.FAILED:
        values.update(failed_at=at, error_message=error_title or None)
        if error_code:
            values["error_code"] = error_code
    else:
        # Sent after all: a failure or an uncertain retry recorded before no longer holds.
        values.update(failed_at=None, error_code=None, error_message=None,
                      sent_at=at if status is MessageStatus.SENT else func.coalesce(Message.sent_at, when))
        if status is MessageStatus.DELIVERED:
            values["delivered_at"] = at
        if status is MessageStatus.READ:
            values.update(read_at=at, delivered_at=func.coalesce(Message.delivered_at, when))
    changed = db.session.execute(
        update(Message)
        .where(Message.idempotency_key == key, movable)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1
