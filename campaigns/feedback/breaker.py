"""The complaint circuit breaker: a sending campaign that draws too many complaints pauses itself.

Run after each committed batch of webhooks (``routing.AFTER_BATCH``) for the campaigns the batch touched
(``context.touched_campaigns``: an opt-out, a block or a spam report of a number the campaign had messaged).
For each one still sending, over its last ``BREAKER_WINDOW`` delivered messages, a message counts as complained
about, per reason, when its number has an opt-out, a block or a spam report that was not over before the
message was sent (the dispatch gate sends nothing to a number suppressed at the time, so such an entry began
after the send; one lifted since — a resume — still counted as a complaint when it was made). Once at least
``BREAKER_MIN_DELIVERED`` are delivered and at least ``BREAKER_MIN_COMPLAINTS`` complained, the campaign pauses
(``pausing``: reason ``circuit_breaker``, a notification) when blocks + spam reports pass
``BREAKER_BLOCK_THRESHOLD`` of the window, or all complaints pass ``BREAKER_THRESHOLD``.

One statement per touched campaign: the window walks ``ix_messages_sent_at`` newest first and stops after its
rows, the suppressions of their numbers come by ``ix_suppressions_phone``; nothing for a batch that touched none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import and_, case, distinct, func, or_, select

from campaigns.feedback.pausing import PauseReason, pause_automatically
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from compliance.models import Suppression, SuppressionReason
from extensions import db

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

log = logging.getLogger(__name__)

COMPLAINTS = (SuppressionReason.OPT_OUT, SuppressionReason.BLOCK, SuppressionReason.SPAM_REPORT)
DELIVERED = (MessageStatus.DELIVERED, MessageStatus.READ)


@dataclass(frozen=True)
class Reading:
    """A campaign's complaints over its window of delivered messages."""

    delivered: int
    opt_outs: int
    blocks: int
    spam_reports: int

    @property
    def complaints(self) -> int:
        return self.opt_outs + self.blocks + self.spam_reports

    def rate(self, count: int) -> float:
        return count / self.delivered if self.delivered else 0.0


def read(campaign_id: int, window: int) -> Reading:
    """The complaints of the campaign's last ``window`` delivered messages (the latest sent of those delivered),
    by reason: one statement."""
    # By ``ix_messages_sent_at``, newest first: the walk stops after the window's rows, however large the campaign
    # (ordering its delivered rows by ``delivered_at`` would sort all of them: 0.2 s at 100,000).
    recent = (select(Message.id, Message.phone, Message.sent_at)
              .where(Message.sent_at.is_not(None), Message.campaign_id == campaign_id, Message.status.in_(DELIVERED))
              .order_by(Message.sent_at.desc()).limit(window).subquery())
    complaint = and_(Suppression.phone == recent.c.phone, Suppression.reason.in_(COMPLAINTS),
                     or_(Suppression.lifted_at.is_(None), Suppression.lifted_at >= recent.c.sent_at))

    def of(reason: SuppressionReason) -> Any:
        return func.count(distinct(case((Suppression.reason == reason, recent.c.id))))

    row = db.session.execute(
        select(func.count(distinct(recent.c.id)), of(SuppressionReason.OPT_OUT), of(SuppressionReason.BLOCK),
               of(SuppressionReason.SPAM_REPORT))
        .select_from(recent).outerjoin(Suppression, complaint)).one()
    return Reading(*row)


def verdict(reading: Reading, config: Any) -> dict[str, Any] | None:
    """The pause's details when ``reading`` trips the breaker under ``config``'s settings, else None."""
    if reading.delivered < config["BREAKER_MIN_DELIVERED"]:
        return None
    measures = (("blocks", reading.blocks + reading.spam_reports, config["BREAKER_BLOCK_THRESHOLD"]),
                ("complaints", reading.complaints, config["BREAKER_THRESHOLD"]))
    for measure, count, threshold in measures:
        if count >= config["BREAKER_MIN_COMPLAINTS"] and reading.rate(count) > threshold:
            # ``window``: the delivered messages counted (at most ``window_size``), as notices words it.
            return {"measure": measure, "rate": round(reading.rate(count), 6), "threshold": threshold,
                    "window": reading.delivered, "window_size": config["BREAKER_WINDOW"],
                    "complaints": reading.complaints, "opt_outs": reading.opt_outs, "blocks": reading.blocks,
                    "spam_reports": reading.spam_reports}
    return None


def check(context: FeedbackContext) -> None:
    """Pause each touched campaign of the sender that is still sending and trips the breaker; flushes only."""
    if not context.touched_campaigns:
        return
    config = current_app.config
    sending = db.session.scalars(select(Campaign.id).where(
        Campaign.id.in_(sorted(context.touched_campaigns)), Campaign.sender_id == context.sender.id,
        Campaign.status == CampaignStatus.SENDING).order_by(Campaign.id)).all()
    for campaign_id in sending:
        reading = read(campaign_id, config["BREAKER_WINDOW"])
        details = verdict(reading, config)
        log.info("event=breaker_checked campaign_id=%s delivered=%d opt_outs=%d blocks=%d spam_reports=%d "
                 "tripped=%s", campaign_id, reading.delivered, reading.opt_outs, reading.blocks,
                 reading.spam_reports, details is not None)
        if details is not None:
            pause_automatically([campaign_id], PauseReason.CIRCUIT_BREAKER, details, context.now)
