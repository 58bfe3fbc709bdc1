"""Pausing and resuming a sending campaign, by the people allowed to: reviewers and the campaign's owner.

Both are lifecycle transitions (``campaigns.lifecycle.transition``): a compare-and-set audited with
its actor. A pause takes effect within one batch — the gate reads the campaign's status before each
chunk leaves and releases what it claimed — so nothing is lost and nothing is doubled. A resume
enqueues the campaign's batches once the caller commits (the sweep would find them too, a few
seconds later).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask_babel import lazy_gettext as _l

from accounts.models import Role, User
from campaigns.dispatch.jobs import enqueue_batches
from campaigns.lifecycle import TransitionError, transition
from campaigns.models import Campaign, CampaignStatus
from domain_errors import DomainError
from extensions import after_commit

_NOT_STARTED = (CampaignStatus.DRAFT, CampaignStatus.IN_REVIEW, CampaignStatus.APPROVED, CampaignStatus.REJECTED,
                CampaignStatus.SCHEDULED)

# Why a campaign in this status cannot be paused (only a sending one can).
PAUSE_REFUSALS = {
    **dict.fromkeys(_NOT_STARTED, _l("The campaign has not started sending yet, so there is nothing to pause.")),
    CampaignStatus.PAUSED: _l("The campaign is already paused."),
    CampaignStatus.COMPLETED: _l("The campaign has finished sending, so there is nothing left to pause."),
    CampaignStatus.CANCELLED: _l("The campaign was cancelled, so there is nothing to pause."),
    CampaignStatus.FAILED: _l("The campaign failed to launch, so there is nothing to pause."),
}
# Why a campaign in this status cannot be resumed (only a paused one can).
RESUME_REFUSALS = {
    **dict.fromkeys(_NOT_STARTED, _l("The campaign has not started sending yet, so there is nothing to resume.")),
    CampaignStatus.SENDING: _l("The campaign is already sending."),
    CampaignStatus.COMPLETED: _l("The campaign has finished sending, so there is nothing left to resume."),
    CampaignStatus.CANCELLED: _l("A cancelled campaign cannot be resumed."),
    CampaignStatus.FAILED: _l("The campaign failed to launch, so it cannot be resumed."),
}
NOT_ALLOWED = _l("Only compliance reviewers and the campaign's author can pause or resume it.")


class ControlError(DomainError):
    """The person asking may not pause or resume this campaign."""

    status = 403


def may_control(campaign: Campaign, user: Any) -> bool:
    """Whether ``user`` may pause and resume ``campaign``: a reviewer (admins hold every role) or its author.
    ``None`` is the operator at the shell, who may."""
    if user is None:
        return True
    if not isinstance(user, User):
        return False
    return user.has_role(Role.REVIEWER) or (campaign.created_by_id is not None and campaign.created_by_id == user.id)


def pause(campaign: Campaign, actor: Any = None) -> None:
    """Pause a sending campaign: sending → paused, audited with ``actor``. Raises ``ControlError`` when
    the actor may not, ``TransitionError`` (with a sentence) when the campaign is not sending. Flushes only."""
    _check(campaign, actor, CampaignStatus.SENDING, PAUSE_REFUSALS)
    transition(campaign, CampaignStatus.PAUSED, actor=actor)


def resume(campaign: Campaign, actor: Any = None) -> None:
    """Resume a paused campaign: paused → sending, audited with ``actor``, and its batches enqueued once
    the caller commits. Raises like ``pause``. Flushes only."""
    _check(campaign, actor, CampaignStatus.PAUSED, RESUME_REFUSALS)
    transition(campaign, CampaignStatus.SENDING, actor=actor)
    after_commit(partial(enqueue_batches, campaign.id))


def _check(campaign: Campaign, actor: Any, needed: CampaignStatus, refusals: dict[CampaignStatus, Any]) -> None:
    if not may_control(campaign, actor):
        raise ControlError(NOT_ALLOWED)
    if campaign.status is not needed:
        raise TransitionError(refusals[campaign.status])
