"""RQ entry points of dispatch: the batch job, and enqueueing one per range of due rows.

A campaign's rows are cut into ranges of ``DISPATCH_BATCH_SIZE`` row ids (``id // size``: the same cut
every time, whoever asks), and each range with due rows gets one ``send_batch`` job with the id
``send-batch-<campaign>-<first id>``. RQ keeps a job id unique while the job is queued or running, so the
sweep, a resume and the launch can all ask for a range's job at once and it runs once. One job carries
thousands of messages: RQ forks per job and costs milliseconds per job, a message costs microseconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta

from flask import current_app
from rq import get_current_job
from rq.job import Job, JobStatus
from sqlalchemy import select

from campaigns.dispatch import batch, claims
from campaigns.models import Message
from dbtypes import utcnow
from extensions import db, redis_queues

log = logging.getLogger(__name__)

DISPATCH_QUEUE = "dispatch"
# A fixed job id is unique while its job is queued or running, so asking again never doubles the job. But RQ
# keeps a job "started" after its worker was killed until the job's heartbeat runs out (a minute and a half)
# and a worker's maintenance notices (up to ten minutes later): all that time the id would block its range (or
# the sweep). So a job found running gets a follow-up under the next of these suffixes, queued behind it: a
# dead job costs a few seconds, not minutes. The leases keep any two jobs of a range from sending a row twice,
# and no more than this many jobs of one id can ever be waiting or running.
FOLLOW_UPS = ("", "-2", "-3")
# RQ retries a batch that raised (a database or Redis outage) after 10 s, 1 min, 5 min (extensions.enqueue);
# the rows it had claimed were given back, or come back when their lease runs out.
BATCH_RETRIES = 3


def batch_job_id(campaign_id: int, first_id: int, step: int = 0) -> str:
    """The one job id a range of a campaign's rows (of one cascade step) ever has."""
    if step:
        return f"send-batch-{campaign_id}-s{step}-{first_id}"
    return f"send-batch-{campaign_id}-{first_id}"


def batch_timeout() -> timedelta:
    """How long RQ lets a batch job run: well above the lease, so a slow campaign's batch is never killed
    mid-chunk by RQ; the batch itself stops claiming before it (``batch.time_budget``)."""
    return timedelta(seconds=batch.time_budget() + 3 * current_app.config["DISPATCH_LEASE_SECONDS"])


def send_batch(campaign_id: int, first_id: int, last_id: int, step: int = 0) -> dict:
    """Send the due rows of ``campaign_id``'s cascade step ``step`` with ids in ``[first_id, last_id]``
    (``campaigns.dispatch.batch``) and complete the campaign if nothing is left; rows it handed to the cascade's
    next step are queued at once (else the sweep would). Commits; raises on failure (RQ's retry and failed
    registry see it) after giving back the rows it claimed and had not sent."""
    job = get_current_job()
    job_id = job.id if job else None
    started = time.perf_counter()
    try:
        outcome = batch.run_batch(campaign_id, first_id, last_id, job_id=job_id, step=step)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("event=batch_error campaign_id=%s first_id=%s last_id=%s job_id=%s", campaign_id, first_id,
                      last_id, job_id)
        raise
    counts = " ".join(f"{name}={count}" for name, count in sorted(outcome.counts.items()))
    log.info("event=batch_done campaign_id=%s first_id=%s last_id=%s claimed=%d %s stopped=%s completed=%s "
             "seconds=%.2f job_id=%s", campaign_id, first_id, last_id, outcome.claimed, counts,
             outcome.stopped or "-", outcome.completed, time.perf_counter() - started, job_id)
    if outcome.counts["fallen_back"] and not outcome.stopped:
        enqueue_batches(campaign_id)
    return outcome.as_dict()


def enqueue_once(enqueue: Callable[[str], Job], job_id: str) -> Job:
    """``enqueue(job_id)``, or when that job is running (perhaps dead with its worker), a follow-up under
    ``job_id`` and the next free suffix of ``FOLLOW_UPS``; returns the job queued (or the one found waiting)."""
    for suffix in FOLLOW_UPS:
        job = enqueue(job_id + suffix)
        if job.get_status() is not JobStatus.STARTED:
            break
    return job


def enqueue_batch(campaign_id: int, first_id: int, last_id: int, step: int = 0) -> Job:
    """Queue the batch job of one range of one step (or return the one already queued; see ``enqueue_once``)."""
    return enqueue_once(
        lambda job_id: redis_queues.enqueue(DISPATCH_QUEUE, send_batch, campaign_id, first_id, last_id, step,
                                            job_id=job_id, timeout=batch_timeout(), retries=BATCH_RETRIES),
        batch_job_id(campaign_id, first_id, step),
    )


def enqueue_batches(campaign_id: int) -> int:
    """Queue one batch job per range of the campaign's rows (per cascade step) that has rows due now; returns how
    many ranges. Call it after the commit that made the rows due (``after_commit``), so the job finds them."""
    size = current_app.config["DISPATCH_BATCH_SIZE"]
    bucket = (Message.id // size).label("bucket")
    ranges = db.session.execute(
        select(Message.step, bucket).where(claims.due(campaign_id, utcnow()))
        .group_by(Message.step, bucket).order_by(Message.step, bucket)
    ).all()
    for step, number in ranges:
        first_id = int(number) * size
        enqueue_batch(campaign_id, first_id, first_id + size - 1, int(step))
    log.info("event=batches_enqueued campaign_id=%s batches=%d", campaign_id, len(ranges))
    return len(ranges)
