"""RQ entry points of accounts. Jobs take ids or nothing, never ORM objects, and commit."""

from __future__ import annotations

import logging
from datetime import timedelta

from rq import get_current_job
from rq.job import Job

from accounts import users
from extensions import db, redis_queues

log = logging.getLogger(__name__)


def expire_invitations() -> int:
    """Void invitation links whose time has passed; returns how many were voided."""
    job = get_current_job()
    count = users.expire_invitations()
    db.session.commit()
    log.info("event=invitations_expired count=%d job_id=%s", count, job.id if job else None)
    return count


def enqueue_expire_invitations() -> Job:
    """Queue the invitation clean-up; while one is queued or running, a second call returns it."""
    return redis_queues.enqueue(
        "default", expire_invitations, job_id="expire_invitations", timeout=timedelta(minutes=5), retries=2
    )
