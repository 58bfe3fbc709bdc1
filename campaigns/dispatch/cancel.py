"""What cancelling a launched campaign does to its message rows.

The rows not yet sent — ``queued`` (claimed by a batch or not) and ``deferred`` — become ``skipped`` with
``error_code`` ``cancelled``, in one statement and in the cancel's own transaction, so the campaign is never
cancelled with rows still waiting to go. Rows in flight (``sending``) finish as they are: their requests may
have left; one whose answer is a retry comes back ``queued``, and the sweep skips it too
(``skip_left_behind``). A batch that claimed some of the skipped rows finds the campaign cancelled at its
next gate and stops; its lease is cleared here, so it cannot write over them either.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, update

from campaigns.dispatch.claims import DUE_STATUSES
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from extensions import db

CANCELLED = "cancelled"


def skip_unsent(campaign_id: int) -> int:
    """Mark the campaign's ``queued`` and ``deferred`` rows ``skipped`` (``cancelled``); returns how many.
    Flushes only: call it in the transaction that cancels the campaign."""
    return _skip(Message.campaign_id == campaign_id)


def skip_left_behind() -> int:
    """Skip (``cancelled``) the ``queued`` and ``deferred`` rows of cancelled campaigns: rows that were in
    flight at the cancel and came back for a retry, or that a batch put back after it. No batch sends a
    cancelled campaign's rows, so without this they would wait for ever. One statement (the sweep's);
    returns how many; flushes only."""
    cancelled = select(Campaign.id).where(Campaign.status == CampaignStatus.CANCELLED)
    return _skip(Message.campaign_id.in_(cancelled))


def _skip(campaigns: ColumnElement[bool]) -> int:
    return db.session.execute(
        update(Message)
        .where(campaigns, Message.status.in_(DUE_STATUSES))
        .values(status=MessageStatus.SKIPPED, error_code=CANCELLED, error_message=None, lease_owner=None,
                lease_until=None, not_before=None)
        .execution_options(synchronize_session=False)
    ).rowcount
