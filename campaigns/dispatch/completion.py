"""A sending campaign completes when nothing is left to send.

"Left to send" is a row ``queued``, ``deferred`` or ``sending``. An ``unknown`` row does not hold the
campaign open: whether it went out is settled later by a status (or, failing that, by time), and sending
it again is exactly what must not happen. Skipped and failed rows are final. A cascade also stays open while a
sent row may still time out into its next step (``fallbacks.awaiting_fallback``).
"""

from __future__ import annotations

from sqlalchemy import select

from campaigns.dispatch.claims import HELD_STATUSES
from campaigns.dispatch.fallbacks import awaiting_fallback
from campaigns.lifecycle import TransitionError, transition
from campaigns.models import Campaign, CampaignStatus, Message
from extensions import db

# Rows left to send: due, or in flight under a batch's lease.
OPEN_STATUSES = HELD_STATUSES


def complete_if_done(campaign_id: int) -> bool:
    """Move a ``sending`` campaign with no row left to send to ``completed`` (audited, through the lifecycle);
    True if this call did. Flushes only: the caller commits."""
    campaign = db.session.get(Campaign, campaign_id, populate_existing=True)
    if campaign is None or campaign.status is not CampaignStatus.SENDING:
        return False
    left = db.session.scalar(
        select(Message.id).where(Message.campaign_id == campaign_id, Message.status.in_(OPEN_STATUSES)).limit(1)
    )
    if left is not None or awaiting_fallback(campaign):
        return False
    try:
        transition(campaign, CampaignStatus.COMPLETED)
    except TransitionError:  # paused, cancelled or completed by someone else a moment ago
        return False
    return True
