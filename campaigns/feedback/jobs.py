"""RQ entry points of the feedback loop: applying stored webhook bodies, and the sweep that finds those left.

``process_webhooks`` (queue ``webhooks``, the fixed job id ``process_webhooks``) drains the pending bodies
batch by batch (``processing.drain``) until none is left. The intake wakes it after each commit that stored
a body (``intake.wake``): RQ keeps the id unique while the job waits, so a burst of callbacks queues one job;
a wake-up that finds it running queues one follow-up behind it (``dispatch.jobs.enqueue_once``), so a body
committed while a drain is finishing is not left behind. A drain stops after ``DRAIN_SECONDS`` and queues
its own follow-up when bodies are still pending, so no job runs near RQ's timeout.

``sweep_webhooks`` (periodic, ``WEBHOOK_SWEEP_SECONDS``) drains what is pending whatever woke it or not: a
wake-up Redis lost, a worker that died mid-batch, a body acknowledged while no worker ran.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from flask import current_app
from rq import get_current_job
from rq.job import Job
from sqlalchemy import func, select

from campaigns.dispatch.jobs import enqueue_once
from campaigns.feedback import processing
from campaigns.feedback.models import WebhookEvent
from extensions import db, redis_queues

log = logging.getLogger(__name__)

WEBHOOKS_QUEUE = "webhooks"
PROCESS_JOB_ID = "process_webhooks"
SWEEP_JOB_ID = "sweep_webhooks"
# A drain stops claiming after this long and leaves the rest to its follow-up (RQ's timeout is far above).
DRAIN_SECONDS = 120.0
JOB_TIMEOUT = timedelta(minutes=10)
# RQ retries a drain that raised (the database was away) after 10 s, 1 min, 5 min; the sweep comes anyway.
RETRIES = 3


def _drain(what: str) -> dict:
    job = get_current_job()
    job_id = job.id if job else None
    started = time.perf_counter()
    try:
        done = processing.drain(DRAIN_SECONDS, current_app.config["WEBHOOK_DRAIN_LINGER_SECONDS"])
    except Exception:
        db.session.rollback()
        log.exception("event=%s_error job_id=%s", what, job_id)
        raise
    if done.more:
        enqueue_process_webhooks()
    events = " ".join(f"{name}={count}" for name, count in sorted(done.events.items()))
    log.info("event=%s_done batches=%d bodies=%d failed=%d given_up=%d isolated=%d %s more=%s seconds=%.2f "
             "job_id=%s", what, done.batches, done.bodies, done.failed, done.given_up, done.isolated, events, done.more,
             time.perf_counter() - started, job_id)
    return done.as_dict()


def process_webhooks() -> dict:
    """Apply every pending webhook body (``processing.drain``); commits per batch; raises on failure."""
    return _drain("webhooks_processed")


def sweep_webhooks() -> dict:
    """The periodic sweep (``periodic.py``): apply what is pending, saying how much the wake-ups had missed."""
    pending = db.session.scalar(select(func.count()).select_from(WebhookEvent).where(
        WebhookEvent.processed_at.is_(None), WebhookEvent.attempts < current_app.config["WEBHOOK_MAX_ATTEMPTS"]))
    db.session.rollback()
    if pending:
        log.info("event=webhooks_swept pending=%d", pending)
    return {"pending": pending, **_drain("webhooks_sweep")}


def enqueue_process_webhooks() -> Job:
    """Queue the drain (or return the one already waiting; one follow-up behind a running one)."""
    return enqueue_once(
        lambda job_id: redis_queues.enqueue(WEBHOOKS_QUEUE, process_webhooks, job_id=job_id, timeout=JOB_TIMEOUT,
                                            retries=RETRIES),
        PROCESS_JOB_ID,
    )


def enqueue_sweep_webhooks() -> Job:
    """Queue the webhook sweep; one waiting at a time."""
    return enqueue_once(
        lambda job_id: redis_queues.enqueue(WEBHOOKS_QUEUE, sweep_webhooks, job_id=job_id, timeout=JOB_TIMEOUT),
        SWEEP_JOB_ID,
    )
