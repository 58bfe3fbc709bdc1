"""What cancelling a launched campaign does to its message rows.

The rows not yet sent — ``queued`` (claimed by a batch or not) and ``deferred`` — become ``skipped`` with
``error_code`` ``cancelled``, in one statement and in the cancel's own transaction, so the campaign is never
cancelled with rows still waiting to go. Rows in flight (``sending``) finish as they are: their requests may
have left. A batch that claimed some of the skipped rows finds the campaign cancelled at its next gate and
stops; its lease is cleared here, so it cannot write over them either.
"""

from __future__ import annotations

from sqlalchemy import update

from campaigns.models import Message, MessageStatus
from extensions import db

CANCELLED = "cancelled"


def skip_unsent(campaign_id: int) -> int:
    """Mark the campaign's ``queued`` and ``deferred`` rows ``skipped`` (``cancelled``); returns how many.
    Flushes only: call it in the transaction that cancels the campaign."""
    return db.session.execute(
        update(Message)
        .where(Message.campaign_id == campaign_id, Message.status.in_((MessageStatus.QUEUED, MessageStatus.DEFERRED)))
        .values(status=MessageStatus.SKIPPED, error_code=CANCELLED, error_message=None, lease_owner=None,
                lease_until=None, not_before=None)
        .execution_options(synchronize_session=False)
    ).rowcount
