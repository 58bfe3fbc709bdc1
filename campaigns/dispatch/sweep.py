"""The dispatch sweep, on RQ's cron every ``DISPATCH_SWEEP_SECONDS``: what no batch job will do by itself.

1. Recover the rows of batches that died (``recovery.recover_expired_leases``) and fail the ``unknown`` rows
   no status settled in time (``recovery.fail_unsettled``); skip the rows of cancelled campaigns that came
   back to wait after the cancel (a retry of a row in flight: ``cancel.skip_left_behind``); hand the cascade
   rows that got no delivery within their step's wait to the next step (``fallbacks.fall_back_overdue``).
2. For every ``sending`` campaign with a due row — ``queued`` or ``deferred`` with ``not_before`` past or
   empty and no live lease: a deferred row whose window opened, a retry whose backoff ended, a recovered row,
   a batch job Redis lost — enqueue its batches (``jobs.enqueue_batches``) once this commits. The batch jobs
   have deterministic ids, so a batch still queued or running is not doubled.
3. Complete every ``sending`` campaign left with nothing to send (``completion.complete_if_done``).

The database says what is due; Redis only carries the jobs, so a sweep after a Redis restart puts back all
that was lost. The job has a fixed id: one sweep at a time, however many schedulers.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from rq import get_current_job
from rq.job import Job
from sqlalchemy import exists, select

from campaigns.dispatch import claims, completion, jobs
from campaigns.dispatch.cancel import skip_left_behind
from campaigns.dispatch.fallbacks import fall_back_overdue
from campaigns.dispatch.recovery import fail_unsettled, recover_expired_leases
from campaigns.models import Campaign, CampaignStatus
from dbtypes import utcnow
from extensions import after_commit, db, redis_queues

log = logging.getLogger(__name__)

SWEEP_JOB_ID = "sweep_dispatch"


def due_campaigns(now: datetime | None = None) -> list[int]:
    """The ``sending`` campaigns with at least one row a batch could claim now, by id."""
    now = now or utcnow()
    due_row = exists().where(claims.due(Campaign.id, now))
    return list(db.session.scalars(
        select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING, due_row).order_by(Campaign.id)
    ))


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Recover, fail what is unsettled, skip what a cancel left behind, enqueue the due campaigns' batches
    (after the caller's commit) and complete the finished campaigns; returns the counts. Flushes only: the job
    commits."""
    now = now or utcnow()
    counts = recover_expired_leases(now)
    counts["failed_unknown"] = fail_unsettled(now)
    counts["cancelled"] = skip_left_behind()
    counts["fallen_back"] = fall_back_overdue(now)
    due = due_campaigns(now)
    for campaign_id in due:
        after_commit(partial(jobs.enqueue_batches, campaign_id))
    sending = db.session.scalars(select(Campaign.id).where(Campaign.status == CampaignStatus.SENDING)).all()
    completed = sum(1 for campaign_id in sending if completion.complete_if_done(campaign_id))
    return {**counts, "due": len(due), "completed": completed}


def sweep_dispatch() -> dict[str, int]:
    """The periodic sweep (``periodic.py``): commits, then enqueues the due batches; raises on failure."""
    job = get_current_job()
    job_id = job.id if job else None
    try:
        counts = sweep()
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("event=dispatch_sweep_error job_id=%s", job_id)
        raise
    log.info("event=dispatch_swept %s job_id=%s", " ".join(f"{name}={value}" for name, value in counts.items()),
             job_id)
    return counts


def enqueue_sweep_dispatch() -> Job:
    """Queue the dispatch sweep; one waiting at a time (a fixed job id; a sweep whose worker died does not
    hold the next one up: ``jobs.enqueue_once``)."""
    return jobs.enqueue_once(
        lambda job_id: redis_queues.enqueue(jobs.DISPATCH_QUEUE, sweep_dispatch, job_id=job_id,
                                            timeout=timedelta(minutes=5)),
        SWEEP_JOB_ID,
    )
