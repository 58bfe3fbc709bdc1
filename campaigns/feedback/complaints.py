"""Which campaigns a complaint counts against: the sender's sending campaigns that had sent the number a
message before the complaint (an opt-out, a block, a spam report). The circuit breaker (``breaker``) checks
those campaigns after the batch; this module only names them in ``context.touched_campaigns``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from campaigns.models import Campaign, CampaignStatus, Message
from dbtypes import one_of
from extensions import db

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

# Provider timestamps are whole seconds and our send times are not: a complaint stamped a moment "before" the
# message it answers still counts against it (the dispatch gate never sends to a number already suppressed).
CLOCK_SLACK = timedelta(seconds=60)


def touch(context: FeedbackContext, complaints: Iterable[tuple[str, datetime]]) -> None:
    """Add to ``context.touched_campaigns`` every sending campaign of the sender that sent a message to one of
    the complaining numbers (E.164, with the complaint's time) before its complaint. One query."""
    first: dict[str, datetime] = {}
    for phone, at in complaints:
        first[phone] = max(first.get(phone, at), at)
    if not first:
        return
    dialect = db.session.get_bind().dialect.name
    rows = db.session.execute(
        select(Message.campaign_id, Message.phone, func.min(Message.sent_at))
        .join(Campaign, Campaign.id == Message.campaign_id)
        .where(one_of(Message.phone, sorted(first), dialect), Message.sent_at.is_not(None),
               Campaign.sender_id == context.sender.id, Campaign.status == CampaignStatus.SENDING)
        .group_by(Message.campaign_id, Message.phone))
    for campaign_id, phone, sent_at in rows:
        if sent_at is not None and sent_at - CLOCK_SLACK <= first[phone]:
            context.touched_campaigns.add(campaign_id)
