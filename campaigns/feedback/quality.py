"""What a batch's number quality updates do: the sender's quality rating and messaging tier as the provider
now has them (audited), a ``quality_change`` notification, and — at RED — every sending campaign of the sender
paused (``pausing``: reason ``quality_red``), since each more message risks the number's tier and, in the
end, the number.

The Cloud API's ``phone_number_quality_update`` says what happened (``event``) and the tier, but not always
the rating: a rating in the body is taken as it is; without one, FLAGGED is Meta's word for a number whose
quality became low (RED), and UNFLAGGED for one that left it (the rating is then unknown until the sender's
connection is checked). A repeat changes nothing and notifies nobody again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import select

from campaigns.feedback.models import Notification, NotificationKind
from campaigns.feedback.pausing import PauseReason, pause_automatically
from campaigns.models import Campaign, CampaignStatus, Sender
from channels.base import NumberQualityChange
from compliance import audit
from compliance.sending import TIER_LIMITS
from extensions import db

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

log = logging.getLogger(__name__)

RED = "RED"


def rating_of(event: NumberQualityChange, previous: str | None) -> str | None:
    """The number's rating after ``event``: the one it names, else what FLAGGED/UNFLAGGED imply, else unchanged."""
    if event.quality:
        return event.quality
    if event.event == "FLAGGED":
        return RED
    if event.event == "UNFLAGGED" and previous == RED:
        return "UNKNOWN"
    return previous


def handle(context: FeedbackContext, events: Sequence[NumberQualityChange]) -> None:
    """Apply a batch's quality updates of one sender's account, in arrival order; flushes only."""
    for event in events:
        sender = _sender_of(context.sender, event.display_phone_number)
        if sender is None:
            log.info("event=quality_update_unknown_number number=%s", event.display_phone_number)
            continue
        before = (sender.quality_rating, sender.provider_tier)
        known_tier = sender.provider_tier or sender.tier  # the provider's word, else the tier we plan with
        quality = rating_of(event, sender.quality_rating)
        tier = event.tier or sender.provider_tier
        if (quality, tier) == before:
            continue  # a repeat, or an event that changes neither
        sender.quality_rating, sender.provider_tier = quality, tier
        if tier in TIER_LIMITS:
            sender.tier = tier
        db.session.flush()
        # What changed only (notices words a quality change and a tier change each when present).
        params: dict[str, str] = {"sender": sender.name, "phone": sender.phone, "event": event.event}
        if quality != before[0]:
            params |= {"quality": quality or "UNKNOWN", "previous": before[0] or "UNKNOWN"}
        if tier != known_tier:
            params |= {"tier": tier or "", "previous_tier": known_tier or ""}
        audit.record("sender.quality_changed", actor=None, target=sender, details=params)
        if "quality" in params or "tier" in params:  # else the provider said the tier we planned with: no news
            db.session.add(Notification(kind=NotificationKind.QUALITY_CHANGE, sender_id=sender.id, params=params,
                                        created_at=context.now))
        log.warning("event=sender_quality_changed sender_id=%s quality=%s tier=%s", sender.id, quality, tier)
        if quality == RED and before[0] != RED:
            sending = db.session.scalars(select(Campaign.id).where(
                Campaign.sender_id == sender.id, Campaign.status == CampaignStatus.SENDING)).all()
            pause_automatically(sending, PauseReason.QUALITY_RED,
                                {"sender": sender.name, "phone": sender.phone, "quality": quality,
                                 "previous": before[0] or "UNKNOWN", "tier": tier or ""}, context.now,
                                sender_id=sender.id)
    db.session.flush()


def _sender_of(receiving: Sender, display_phone_number: str) -> Sender | None:
    """The sender of that number: usually the one whose address the update came to; another number of the same
    business account otherwise (Meta posts an account's events to its app's one callback)."""
    digits = "".join(ch for ch in display_phone_number if ch.isdigit())
    if digits == receiving.phone.lstrip("+"):
        return receiving
    return db.session.scalar(select(Sender).where(Sender.phone == f"+{digits}", Sender.waba_id == receiving.waba_id))
