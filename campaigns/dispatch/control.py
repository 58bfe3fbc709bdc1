"""Pausing and resuming a sending campaign, by the people allowed to: reviewers and the campaign's owner.

Both are lifecycle transitions (``campaigns.lifecycle.transition``): a compare-and-set audited with
its actor. A person's pause is recorded as ``pause_reason = "manual"``. A campaign the platform paused
on its own (the circuit breaker, the number's quality, the template: any other ``pause_reason``) resumes
only by a reviewer's decision (admins hold every role; the operator at the shell may too), with a reason
that the audit log keeps beside the pause's reason; the resume clears the pause and resolves the
campaign's open notifications about it.

A pause takes effect within one batch — the gate reads the campaign's status before each chunk leaves
and releases what it claimed — so nothing is lost and nothing is doubled. A resume enqueues the
campaign's batches once the caller commits (the sweep would find them too, a few seconds later).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from accounts.models import Role, User
from campaigns.dispatch.jobs import enqueue_batches
from campaigns.feedback import notices
from campaigns.lifecycle import TransitionError, transition
from campaigns.models import Campaign, CampaignStatus
from dbtypes import utcnow
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
REASON_NEEDED = _l("Say why it is safe to send again: a campaign the platform paused resumes only with a "
                   "reviewer's reason.")
MAX_REASON = 2000


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


def may_resume(campaign: Campaign, user: Any) -> bool:
    """Whether ``user`` may resume ``campaign``: as ``may_control`` says for a person's pause; a reviewer (or
    the operator, ``None``) when the platform paused it."""
    if not notices.is_automatic(campaign):
        return may_control(campaign, user)
    return user is None or (isinstance(user, User) and user.has_role(Role.REVIEWER))


def reviewer_only(campaign: Campaign) -> str:
    """Why a person who is not a reviewer may not resume the campaign the platform paused."""
    return _("The platform paused this campaign on its own (%(reason)s): only a compliance reviewer can resume "
             "it, with a reason.", reason=notices.pause_label(campaign))


def pause(campaign: Campaign, actor: Any = None) -> None:
    """Pause a sending campaign: sending → paused (``pause_reason`` "manual"), audited with ``actor``. Raises
    ``ControlError`` when the actor may not, ``TransitionError`` (with a sentence) when the campaign is not
    sending. Flushes only."""
    if not may_control(campaign, actor):
        raise ControlError(NOT_ALLOWED)
    _check_status(campaign, CampaignStatus.SENDING, PAUSE_REFUSALS)
    transition(campaign, CampaignStatus.PAUSED, actor=actor, pause_reason=notices.MANUAL, pause_details=None,
               paused_at=utcnow())


def resume(campaign: Campaign, actor: Any = None, reason: str = "") -> None:
    """Resume a paused campaign: paused → sending, audited with ``actor`` and ``reason``, the pause cleared,
    its open notifications resolved, and its batches enqueued once the caller commits. A campaign the
    platform paused needs a reviewer and a reason (``ControlError`` 403 without the role, ``DomainError``
    400 on the ``reason`` field without one). Raises like ``pause`` otherwise. Flushes only."""
    automatic = notices.is_automatic(campaign)
    if not may_resume(campaign, actor):
        raise ControlError(reviewer_only(campaign) if automatic else NOT_ALLOWED)
    _check_status(campaign, CampaignStatus.PAUSED, RESUME_REFUSALS)
    reason = (reason or "").strip()
    if automatic and not reason:
        raise DomainError(REASON_NEEDED, field="reason")
    if len(reason) > MAX_REASON:
        raise DomainError(_("The reason is at most %(count)s characters.", count=MAX_REASON), field="reason")
    paused = {"pause_reason": campaign.pause_reason, "pause_details": campaign.pause_details} if automatic else {}
    transition(campaign, CampaignStatus.SENDING, actor=actor, reason=reason, details=paused, pause_reason=None,
               pause_details=None, paused_at=None)
    notices.resolve_campaign(campaign, actor)
    after_commit(partial(enqueue_batches, campaign.id))


def _check_status(campaign: Campaign, needed: CampaignStatus, refusals: dict[CampaignStatus, Any]) -> None:
    if campaign.status is not needed:
        raise TransitionError(refusals[campaign.status])
