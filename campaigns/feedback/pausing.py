"""Pausing campaigns for the platform's own reasons: a paused or disabled template, the number's quality at RED,
the complaint circuit breaker. One function for all three, so every automatic pause looks the same.

``pause_automatically`` moves each campaign still ``sending`` to ``paused`` with no actor (the system, in the
audit log) through ``lifecycle.transition``, setting ``pause_reason``, ``pause_details`` and ``paused_at`` in
the same compare-and-set statement, and opens one ``Notification`` per campaign paused for the reviewers. A
campaign not sending (already paused, by a person or by an earlier event, finished, cancelled) is left as it
is, so a repeated webhook pauses nothing twice and notifies nobody twice. The dispatch gate reads the
campaign's status before each chunk leaves, so sending stops within a chunk. Only a reviewer's resume
(``dispatch.control.resume``, audited) sends again. Adds and flushes; the caller commits.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select

from campaigns.feedback.models import Notification, NotificationKind
from campaigns.lifecycle import TransitionError, transition
from campaigns.models import Campaign, CampaignStatus
from extensions import db

log = logging.getLogger(__name__)


class PauseReason(str, enum.Enum):
    """``Campaign.pause_reason`` of an automatic pause (a person's is ``manual``); the notification kinds' values,
    which ``notices`` labels and words (``notices.PAUSE_REASON_LABELS``, ``notices.pause_sentence``)."""

    TEMPLATE_PAUSED = "template_paused"
    QUALITY_RED = "quality_red"
    CIRCUIT_BREAKER = "circuit_breaker"


NOTIFICATION_KINDS = {
    PauseReason.TEMPLATE_PAUSED: NotificationKind.TEMPLATE_PAUSED,
    PauseReason.QUALITY_RED: NotificationKind.QUALITY_RED,
    PauseReason.CIRCUIT_BREAKER: NotificationKind.CIRCUIT_BREAKER,
}


def pause_automatically(campaigns: Iterable[Campaign | int], reason: PauseReason, details: Mapping[str, Any],
                        now: datetime, *, sender_id: int | None = None) -> list[Campaign]:
    """Pause each campaign of ``campaigns`` (objects or ids) that is still sending, for ``reason`` with
    ``details`` (JSON: also the notification's ``params``, with the campaign's name added); returns the ones
    paused now. Idempotent: a campaign not sending is left as it is. Flushes only."""
    ids = sorted({getattr(item, "id", item) for item in campaigns})
    if not ids:
        return []
    # In id order, as every pause locks them: two batches pausing the same campaigns wait, never deadlock.
    found = db.session.scalars(select(Campaign).where(Campaign.id.in_(ids), Campaign.status == CampaignStatus.SENDING)
                               .order_by(Campaign.id).execution_options(populate_existing=True)).all()
    paused = []
    for campaign in found:
        try:
            transition(campaign, CampaignStatus.PAUSED, actor=None, reason=reason.value,
                       details={"pause_details": dict(details)},
                       pause_reason=reason.value, pause_details=dict(details), paused_at=now)
        except TransitionError:  # a person paused, cancelled or completed it a moment ago: theirs stands
            continue
        db.session.add(Notification(kind=NOTIFICATION_KINDS[reason], campaign_id=campaign.id,
                                    sender_id=sender_id if sender_id is not None else campaign.sender_id,
                                    params={"campaign": campaign.name, **details}, created_at=now))
        paused.append(campaign)
        log.warning("event=campaign_paused_automatically campaign_id=%s reason=%s", campaign.id, reason.value)
    db.session.flush()
    return paused
