"""Scheduling and launching a campaign, exactly once.

``schedule_launch`` moves an approved campaign to "scheduled" and, once that is committed, puts
its launch job in RQ's scheduled registry for ``send_at`` under a deterministic id
(``campaign-launch-<id>``). Any worker's scheduler enqueues it then — or, if no worker was running
at ``send_at``, as soon as one starts. ``cancel_launch`` cancels the campaign: its launch job before
the launch, its rows not yet sent after it.

``launch`` is what the job does. Its first write is the compare-and-set scheduled → sending
(``lifecycle.transition``), so of two schedulers, a retried job or a duplicate enqueue, exactly one
moves the campaign; every other one finds it no longer scheduled and does nothing. The winner then
materialises the recipients (``campaigns.materialise``) in the same transaction: the launch and its
message rows commit together, so a crash leaves a scheduled campaign with no rows, and the retry
launches it. The job commits; these functions add and flush.

Redis holds only the schedule; the database says what is scheduled. The periodic
``restore_launches`` (``periodic.py``) gives every scheduled campaign whose job Redis lost (a
flushed Redis, a failed enqueue after commit) its job back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select, update

from audience.models import Segment
from audience.segment_definition import parse_definition
from campaigns.content import content_hash
from campaigns.dispatch.cancel import skip_unsent
from campaigns.lifecycle import STATUS_LABELS, TransitionError, transition
from campaigns.materialise import MaterialiseError, check_variables, materialise
from campaigns.models import Campaign, CampaignStatus, Template
from campaigns.step_rendering import senders_without_template
from compliance.policy import current_policy
from dbtypes import utcnow
from domain_errors import DomainError
from extensions import after_commit, db, redis_queues

# The launch starts the send path, so it shares the most urgent queue rather than waiting behind chores.
LAUNCH_QUEUE = "dispatch"
LAUNCH_TIMEOUT = timedelta(minutes=30)
LAUNCH_RETRIES = 2
_PENDING = {JobStatus.SCHEDULED, JobStatus.QUEUED, JobStatus.DEFERRED}


class LaunchError(DomainError):
    """The campaign cannot be scheduled or launched as it stands; the message is a sentence."""

    status = 409


def launch_job_id(campaign_id: int) -> str:
    """The one job id a campaign's launch ever has, so no campaign can have two launch jobs."""
    return f"campaign-launch-{campaign_id}"


# --- scheduling ------------------------------------------------------------------------------------

def schedule_launch(campaign: Campaign, actor: Any = None) -> None:
    """Schedule an approved campaign to launch at its ``send_at`` (or now, when it has none).

    Only an approved campaign whose approval covers its current content, with an approved template
    and variables that can be filled in, can be scheduled; otherwise ``LaunchError`` (or
    ``TransitionError``) says why. The launch job is put in Redis after the caller commits, so it
    can never run before the campaign is "scheduled" in the database, and nothing is enqueued if
    the caller rolls back.
    """
    if campaign.status is not CampaignStatus.APPROVED:
        raise LaunchError(_("Only an approved campaign can be scheduled; this one is “%(status)s”.",
                            status=STATUS_LABELS[campaign.status]))
    if not campaign.approved_hash or campaign.approved_hash != content_hash(campaign):
        raise LaunchError(
            _("This campaign was changed after it was approved; it needs a new review before it can be scheduled.")
        )
    if senders_without_template(campaign, db.session.get(Template, campaign.template_id)):
        raise LaunchError(
            _("The campaign's template is not approved by WhatsApp for its sender, so the campaign cannot be "
              "scheduled.")
        )
    try:
        check_variables(campaign.variables or {})
    except MaterialiseError as error:
        raise LaunchError(str(error)) from None
    send_at = campaign.send_at
    transition(campaign, CampaignStatus.SCHEDULED, actor=actor,
               details={"send_at": send_at.isoformat() if send_at else None})
    campaign_id = campaign.id
    after_commit(lambda: enqueue_launch(campaign_id, send_at, replace=True))


def cancel_launch(campaign: Campaign, actor: Any = None, reason: str = "") -> None:
    """Cancel the campaign. Before its launch this also removes the scheduled launch job (once the
    caller commits); after it (sending or paused), the rows not yet sent are skipped as cancelled in
    the same transaction (``campaigns.dispatch.cancel``), while those in flight finish. Raises
    ``TransitionError`` when the campaign cannot be cancelled.
    """
    was = campaign.status
    transition(campaign, CampaignStatus.CANCELLED, actor=actor, reason=reason)
    campaign_id = campaign.id
    if was is CampaignStatus.SCHEDULED:
        after_commit(lambda: remove_launch_job(campaign_id))
    elif was in (CampaignStatus.SENDING, CampaignStatus.PAUSED):
        skip_unsent(campaign_id)


def return_to_draft(campaign: Campaign, actor: Any = None, reason: str = "",
                    details: dict[str, Any] | None = None) -> None:
    """Void the campaign's pending review or approval: back to draft, through the lifecycle, and a
    scheduled campaign's launch job removed once the caller commits. Raises ``TransitionError``
    when the campaign is not in review, approved or scheduled (any more).
    """
    was_scheduled = campaign.status is CampaignStatus.SCHEDULED
    transition(
        campaign,
        CampaignStatus.DRAFT,
        actor=actor,
        reason=reason,
        details=details,
        content_hash=content_hash(campaign),
        approved_hash=None,
        approved_by_id=None,
        approved_at=None,
    )
    if was_scheduled:
        campaign_id = campaign.id
        after_commit(lambda: remove_launch_job(campaign_id))


def enqueue_launch(campaign_id: int, at: datetime | None, *, replace: bool = False) -> Job:
    """Put the campaign's launch job in RQ's scheduler for ``at`` (now when None or past).

    Without ``replace`` an existing pending job is kept (and returned); with it, a pending job is
    removed first, so that a campaign scheduled again (edited, reviewed, scheduled for another time)
    launches at its new time rather than its old one.
    """
    if replace:
        remove_launch_job(campaign_id)
    from campaigns.jobs import launch_campaign  # the job module imports this one

    return redis_queues.enqueue(LAUNCH_QUEUE, launch_campaign, campaign_id, job_id=launch_job_id(campaign_id),
                                at=at or utcnow(), timeout=LAUNCH_TIMEOUT, retries=LAUNCH_RETRIES)


def remove_launch_job(campaign_id: int) -> bool:
    """Remove the campaign's launch job if it has not started; True if one was removed.

    A job already running is left alone: it either launches first (and a cancel then finds the
    campaign sending) or finds the campaign cancelled and does nothing.
    """
    try:
        job = Job.fetch(launch_job_id(campaign_id), connection=redis_queues.connection)
    except NoSuchJobError:
        return False
    if job.get_status() not in _PENDING:
        return False
    job.delete()
    return True


def restore_launch_jobs() -> int:
    """Give every scheduled campaign its launch job (keeping those that exist); returns how many
    campaigns are scheduled."""
    rows = db.session.execute(
        select(Campaign.id, Campaign.send_at).where(Campaign.status == CampaignStatus.SCHEDULED)
    ).all()
    for campaign_id, send_at in rows:
        enqueue_launch(campaign_id, send_at)
    return len(rows)


# --- the launch --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LaunchOutcome:
    """What one launch attempt did: ``launched`` or why not (``skipped`` says in a word)."""

    launched: bool
    skipped: str = ""
    status: str = ""
    recipients: int = 0
    exclusions: dict[str, int] = field(default_factory=dict)


def launch(campaign_id: int) -> LaunchOutcome:
    """Launch a scheduled campaign: compare-and-set scheduled → sending, then materialise.

    Does nothing (and says why) unless this call moved the campaign out of "scheduled". A campaign
    whose approval no longer covers its content, or whose template is no longer approved, is moved
    to "failed" with the reason instead. Flushes only: the caller commits or rolls back.
    """
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        return LaunchOutcome(False, "missing")
    if campaign.status is not CampaignStatus.SCHEDULED:
        return LaunchOutcome(False, "not_scheduled", campaign.status.value)
    problem = _launch_problem(campaign)
    now = utcnow()
    try:
        if problem:
            transition(campaign, CampaignStatus.FAILED, reason=problem)
            return LaunchOutcome(False, "failed", CampaignStatus.FAILED.value)
        transition(campaign, CampaignStatus.SENDING, launched_at=now)
    except TransitionError:
        # Another launcher (or a cancel) won the compare-and-set. Its UPDATE matched no row, so there is
        # nothing to undo, and rolling back here would throw away the caller's own work and its
        # after-commit actions. (No savepoint either: on SQLite's driver a savepoint opened before any
        # write commits when released, which would split the launch from its message rows.)
        return LaunchOutcome(False, "lost_race", campaign.status.value)
    result = materialise(campaign, now, current_policy().sending)
    campaign.recipients, campaign.exclusions = result.recipients, result.exclusions
    # The template list sorts by last use.
    db.session.execute(update(Template).where(Template.id == campaign.template_id).values(last_used_at=now))
    db.session.flush()
    return LaunchOutcome(
        True, status=CampaignStatus.SENDING.value, recipients=result.recipients, exclusions=result.exclusions
    )


def _launch_problem(campaign: Campaign) -> str:
    """Why a scheduled campaign must not go out after all, as a sentence; empty when it may."""
    # Recomputed, not the stored hash: the segment or the template may have been edited since.
    if not campaign.approved_hash or campaign.approved_hash != content_hash(campaign):
        return _("The campaign was changed after it was approved, so it was not launched.")
    # Every WhatsApp step of a cascade sends the template itself: each sender's account must have approved it.
    if senders_without_template(campaign, db.session.get(Template, campaign.template_id)):
        return _(
            "The campaign's template was no longer approved by WhatsApp for its sender at launch time, "
            "so the campaign was not launched."
        )
    try:
        check_variables(campaign.variables or {})
        parse_definition(db.session.get(Segment, campaign.segment_id).definition)
    except DomainError as error:
        return str(error)
    return ""
