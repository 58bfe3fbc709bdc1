"""What an edit of a segment's definition does to the campaigns that use it.

A review and an approval bind to the campaign's content hash, which covers the segment's definition:
the reviewer judged that audience. So a campaign in review, approved or scheduled whose segment gets
a new definition returns to draft (through the lifecycle, audited, its launch job removed), after
the editor was shown which campaigns that is and confirmed. A campaign already launched (sending,
paused, completed…) has its recipients materialised as message rows, so its audience no longer
follows the segment and it is left alone; drafts and rejected campaigns have no approval to lose.

Audience must not import campaigns, so this module answers the signals of ``audience.segment_uses``;
``init_app`` connects it.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, url_for
from sqlalchemy import select

from audience.models import Segment
from audience.segment_uses import SegmentUse, redefined, uses_asked
from campaigns.launch import return_to_draft
from campaigns.lifecycle import STATUS_LABELS, TransitionError
from campaigns.models import Campaign, CampaignStatus
from extensions import db

# The statuses whose review or approval covers the segment's definition as it is.
VOIDED = (CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.SCHEDULED)


def init_app(app: Flask) -> None:
    """Answer the segment signals of the audience package."""
    uses_asked.connect(campaign_uses, weak=False)
    redefined.connect(void_approvals, weak=False)


def _voided_campaigns(segment: Segment) -> list[Campaign]:
    query = select(Campaign).where(Campaign.segment_id == segment.id, Campaign.status.in_(VOIDED)).order_by(Campaign.id)
    return list(db.session.scalars(query))


def campaign_uses(segment: Segment) -> list[SegmentUse]:
    """The campaigns whose review or approval a new definition of ``segment`` voids."""
    return [SegmentUse("campaign", campaign.id, campaign.name, campaign.status.value,
                       str(STATUS_LABELS[campaign.status]),
                       url_for("campaigns.campaign", campaign_id=campaign.id) if has_request_context() else "")
            for campaign in _voided_campaigns(segment)]


def void_approvals(segment: Segment, actor: Any = None) -> list[Campaign]:
    """Return every campaign in review, approved or scheduled on ``segment`` to draft; flushes only."""
    voided = []
    for campaign in _voided_campaigns(segment):
        # Lost a compare-and-set to a reviewer or a launcher (the campaign is re-read then): try once
        # more if what it became still relies on the old definition; a launched one is left alone.
        for _attempt in range(2):
            if campaign.status not in VOIDED:
                break
            try:
                return_to_draft(campaign, actor=actor, reason="segment edited",
                                details={"segment_id": segment.id, "segment": segment.name})
            except TransitionError:
                continue
            voided.append(campaign)
            break
    return voided
