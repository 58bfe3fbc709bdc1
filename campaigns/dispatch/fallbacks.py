"""A cascade's fallbacks: a row that cannot reach its person hands them to the campaign's next channel, once.

Three things make a row fall back (``campaigns.cascade``): a send answer or a failed status whose meaning says
the channel cannot reach the person (``FALLBACK_MEANINGS``), the gate finding the channel closed to them
(``FALLBACK_SKIPS``), and no delivery status within its step's wait after it was sent (``fall_back_overdue``, from
the dispatch sweep). Each marks ``Message.fallback_at`` in the same statement that picks the rows, so a row falls
back at most once whoever notices first, and gives the contacts their next step's row
(``materialise.materialise_fallbacks``), queued for the sweep (or the batch that noticed) to send.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, update

from campaigns.cascade import is_cascade, receipts, steps
from campaigns.materialise import materialise_fallbacks
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Sender
from campaigns.preflight import sending_rules_for
from dbtypes import one_of
from extensions import db

log = logging.getLogger(__name__)

_OPEN = (CampaignStatus.SENDING, CampaignStatus.PAUSED)


def _fall_back(campaign: Campaign, condition: ColumnElement[bool], now: datetime) -> int:
    """Mark the campaign's rows that match ``condition`` and have not fallen back yet, and make their next rows;
    returns how many rows fell back."""
    last = len(steps(campaign)) - 1
    marked = db.session.execute(
        update(Message)
        .where(Message.campaign_id == campaign.id, Message.step < last, Message.fallback_at.is_(None), condition)
        .values(fallback_at=now)
        .returning(Message.step, Message.contact_id)
        .execution_options(synchronize_session=False)
    ).all()
    by_step: dict[int, list[int]] = defaultdict(list)
    for step, contact_id in marked:
        by_step[step].append(contact_id)
    rules = sending_rules_for(campaign)
    for step, contact_ids in sorted(by_step.items()):
        made = materialise_fallbacks(campaign, contact_ids, step, now, rules)
        log.info("event=cascade_fallback campaign_id=%s from_step=%s rows=%d made=%s", campaign.id, step,
                 len(contact_ids), made)
    return len(marked)


def fall_back(campaign_id: int, row_ids: list[int], status: MessageStatus, now: datetime) -> int:
    """The rows ``row_ids`` of the campaign, now ``status`` (failed, or skipped by the gate), could not reach
    their person: try each on the next step of the cascade (nothing for a campaign without one, or rows of its
    last step). A row no longer in ``status`` (another worker's write won) does not fall back. Returns how many
    fell back; flushes only."""
    campaign = db.session.get(Campaign, campaign_id)
    # A paused campaign's fallback rows wait for the resume; a cancelled or completed campaign sends no more.
    if not row_ids or campaign is None or not is_cascade(campaign) or campaign.status not in _OPEN:
        return 0
    chosen = one_of(Message.id, sorted(set(row_ids)), db.session.get_bind().dialect.name)
    return _fall_back(campaign, and_(chosen, Message.status == status), now)


def fall_back_overdue(now: datetime) -> int:
    """Every sending cascade's rows sent on a channel with delivery receipts that got no delivery within their
    step's wait: tried on the next step. Returns how many; flushes only."""
    total = 0
    cascades = db.session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.SENDING,
                                                         Campaign.cascade.is_not(None))).all()
    for campaign in filter(is_cascade, cascades):
        overdue = []
        for step in steps(campaign)[:-1]:
            sender = db.session.get(Sender, step.sender_id)
            if step.wait_seconds is None or sender is None or not receipts(sender.channel):
                continue
            overdue.append(and_(Message.step == step.index, Message.status == MessageStatus.SENT,
                                Message.sent_at <= now - timedelta(seconds=step.wait_seconds)))
        for condition in overdue:
            total += _fall_back(campaign, condition, now)
    return total


def awaiting_fallback(campaign: Campaign) -> bool:
    """Whether a row of the cascade may still time out into a fallback: sent on a step with a wait, no delivery
    yet, not fallen back. The campaign is not done while one is."""
    if not is_cascade(campaign):
        return False
    waiting = [step.index for step in steps(campaign)[:-1] if step.wait_seconds is not None]
    if not waiting:
        return False
    return db.session.scalar(
        select(Message.id).where(Message.campaign_id == campaign.id, Message.step.in_(waiting),
                                 Message.status == MessageStatus.SENT, Message.fallback_at.is_(None)).limit(1)
    ) is not None
