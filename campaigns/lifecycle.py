"""The one owner of a campaign's status: every transition goes through ``transition``.

A transition is a compare-and-set in the database (``UPDATE … WHERE id = :id AND status = :from``),
so two schedulers, a retried job or two reviewers clicking at once can never both move a campaign
out of the same state: exactly one wins, the other gets ``TransitionError``. Each transition is
written to the audit log with its actor and reason, in the caller's transaction.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from campaigns.models import Campaign, CampaignStatus
from compliance import audit
from dbtypes import utcnow
from domain_errors import DomainError
from extensions import db

# (from, to) → the action's name, as the audit log records it.
TRANSITIONS: dict[tuple[CampaignStatus, CampaignStatus], str] = {
    (CampaignStatus.DRAFT, CampaignStatus.IN_REVIEW): "submit",
    (CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED): "approve",
    (CampaignStatus.IN_REVIEW, CampaignStatus.REJECTED): "reject",
    (CampaignStatus.REJECTED, CampaignStatus.DRAFT): "revise",
    # An edit voids a pending review or an approval: the campaign is a draft again.
    (CampaignStatus.IN_REVIEW, CampaignStatus.DRAFT): "edit",
    (CampaignStatus.APPROVED, CampaignStatus.DRAFT): "edit",
    (CampaignStatus.SCHEDULED, CampaignStatus.DRAFT): "edit",
    (CampaignStatus.APPROVED, CampaignStatus.SCHEDULED): "schedule",
    (CampaignStatus.SCHEDULED, CampaignStatus.SENDING): "launch",
    (CampaignStatus.SENDING, CampaignStatus.PAUSED): "pause",
    (CampaignStatus.PAUSED, CampaignStatus.SENDING): "resume",
    (CampaignStatus.SENDING, CampaignStatus.COMPLETED): "complete",
    (CampaignStatus.PAUSED, CampaignStatus.COMPLETED): "complete",
    (CampaignStatus.DRAFT, CampaignStatus.CANCELLED): "cancel",
    (CampaignStatus.IN_REVIEW, CampaignStatus.CANCELLED): "cancel",
    (CampaignStatus.APPROVED, CampaignStatus.CANCELLED): "cancel",
    (CampaignStatus.REJECTED, CampaignStatus.CANCELLED): "cancel",
    (CampaignStatus.SCHEDULED, CampaignStatus.CANCELLED): "cancel",
    (CampaignStatus.SENDING, CampaignStatus.CANCELLED): "cancel",
    (CampaignStatus.PAUSED, CampaignStatus.CANCELLED): "cancel",
    (CampaignStatus.SENDING, CampaignStatus.FAILED): "fail",
    (CampaignStatus.SCHEDULED, CampaignStatus.FAILED): "fail",
}

STATUS_LABELS = {
    CampaignStatus.DRAFT: _l("Draft"),
    CampaignStatus.IN_REVIEW: _l("In review"),
    CampaignStatus.APPROVED: _l("Approved"),
    CampaignStatus.REJECTED: _l("Rejected"),
    CampaignStatus.SCHEDULED: _l("Scheduled"),
    CampaignStatus.SENDING: _l("Sending"),
    CampaignStatus.PAUSED: _l("Paused"),
    CampaignStatus.COMPLETED: _l("Completed"),
    CampaignStatus.CANCELLED: _l("Cancelled"),
    CampaignStatus.FAILED: _l("Failed"),
}

# Statuses in which the campaign's content may still be edited (an edit returns it to draft).
EDITABLE = frozenset(
    {
        CampaignStatus.DRAFT,
        CampaignStatus.IN_REVIEW,
        CampaignStatus.APPROVED,
        CampaignStatus.REJECTED,
        CampaignStatus.SCHEDULED,
    }
)


class TransitionError(DomainError):
    """The campaign cannot move as asked (a step its status does not allow, or a compare-and-set lost
    to someone who moved it first); the message is a sentence for the person who asked."""

    status = 409


def can(campaign: Campaign, to: CampaignStatus) -> bool:
    return (campaign.status, to) in TRANSITIONS


def transition(campaign: Campaign, to: CampaignStatus, *, actor: Any = None, reason: str = "",
               details: dict[str, Any] | None = None, **values: Any) -> None:
    """Move ``campaign`` to ``to`` if its status in the database is still what this object says.

    ``values`` are further columns set by the same statement (``approved_hash=…``), so the move and
    what it means are one atomic write. Flushes only; raises TransitionError with a sentence.
    """
    source = campaign.status
    action = TRANSITIONS.get((source, to))
    if action is None:
        raise TransitionError(_("A campaign that is “%(source)s” cannot become “%(target)s”.",
                                source=STATUS_LABELS[source], target=STATUS_LABELS[to]))
    db.session.flush()
    now = utcnow()
    changed = db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign.id, Campaign.status == source)
        .values(status=to, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        db.session.refresh(campaign)
        raise TransitionError(
            _(
                "Someone else changed this campaign a moment ago (it is now “%(now)s”); reload it and try again.",
                now=STATUS_LABELS[campaign.status],
            )
        )
    db.session.refresh(campaign)
    audit.record(
        f"campaign.{action}",
        actor=actor,
        target=campaign,
        details={"from": source.value, "to": to.value, **({"reason": reason} if reason else {}), **(details or {})},
    )
