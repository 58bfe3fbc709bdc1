"""RQ entry points of campaigns. Jobs take ids, never ORM objects, and commit (or roll back)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from rq import get_current_job
from rq.job import Job

from campaigns import launch, template_approvals
from campaigns.dispatch.jobs import enqueue_batches
from extensions import db, redis_queues

log = logging.getLogger(__name__)


def launch_campaign(campaign_id: int) -> dict:
    """Launch one scheduled campaign exactly once: the compare-and-set and its message rows commit
    together, then its batch jobs are enqueued. A campaign that is no longer scheduled (launched already,
    cancelled, edited) is left alone and the log says so. Raises on failure, leaving the campaign scheduled
    for the retry.
    """
    job = get_current_job()
    job_id = job.id if job else None
    started = time.perf_counter()
    try:
        outcome = launch.launch(campaign_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("event=campaign_launch_error campaign_id=%s job_id=%s", campaign_id, job_id)
        raise
    seconds = time.perf_counter() - started
    if outcome.launched:
        # After the commit, so a batch job always finds the rows; a failure here leaves them to the sweep.
        enqueue_batches(campaign_id)
        excluded = " ".join(f"excluded_{reason}={count}" for reason, count in outcome.exclusions.items())
        log.info("event=campaign_launched campaign_id=%s recipients=%d %s seconds=%.2f job_id=%s",
                 campaign_id, outcome.recipients, excluded, seconds, job_id)
    else:
        log.info("event=campaign_launch_skipped campaign_id=%s reason=%s status=%s job_id=%s",
                 campaign_id, outcome.skipped, outcome.status or "-", job_id)
    return {"launched": outcome.launched, "skipped": outcome.skipped, "status": outcome.status,
            "recipients": outcome.recipients, "exclusions": outcome.exclusions}


def restore_launches() -> int:
    """Give every scheduled campaign its launch job again (Redis may have lost it); returns how many
    campaigns are scheduled."""
    job = get_current_job()
    count = launch.restore_launch_jobs()
    log.info("event=launches_restored scheduled=%d job_id=%s", count, job.id if job else None)
    return count


def enqueue_restore_launches() -> Job:
    """Queue the periodic launch-job check (``periodic.py``); one at a time."""
    return redis_queues.enqueue(launch.LAUNCH_QUEUE, restore_launches, job_id="restore_launches",
                                timeout=timedelta(minutes=5), retries=2)


def sync_template_statuses() -> int:
    """Read pending template approvals back from their providers and record the decisions; returns how
    many changed. Raises after recording the others when a provider could not be read, so RQ's failed
    registry shows it."""
    job = get_current_job()
    job_id = job.id if job else None
    try:
        changed, unreadable = template_approvals.sync()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("event=template_sync_error job_id=%s", job_id)
        raise
    log.info("event=template_statuses_synced changed=%d unreadable=%d job_id=%s", changed, len(unreadable), job_id)
    if unreadable:
        raise RuntimeError(f"template statuses could not be read from accounts {', '.join(unreadable)}")
    return changed


def enqueue_sync_template_statuses() -> Job:
    """Queue the periodic template status sync (``periodic.py``); one at a time."""
    return redis_queues.enqueue("default", sync_template_statuses, job_id="sync_template_statuses",
                                timeout=timedelta(minutes=5))
