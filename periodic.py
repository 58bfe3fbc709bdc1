"""The periodic jobs, all registered here: what runs on RQ's cron, and how often.

The worker that holds the cron lease (``cron.py``) enqueues each of them as soon as it takes the
lease, then every ``every``. Each goes through its job's own enqueue helper, so it keeps that job's
queue, timeout, retries and fixed job id: a run still queued or running is not enqueued twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from rq.job import Job

from accounts.jobs import enqueue_expire_invitations
from audience.import_jobs import enqueue_fail_stalled_imports
from campaigns.jobs import enqueue_restore_launches, enqueue_sync_template_statuses


@dataclass(frozen=True)
class Periodic:
    """One periodic job: the helper that enqueues it, and the time between two runs."""

    enqueue: Callable[[], Job]
    every: timedelta


PERIODIC_JOBS = (
    Periodic(enqueue_expire_invitations, timedelta(hours=1)),
    # Redis may have lost scheduled launches (a flush, an enqueue that failed after its commit).
    Periodic(enqueue_restore_launches, timedelta(minutes=10)),
    # An import whose worker died stays "running" until this marks it failed.
    Periodic(enqueue_fail_stalled_imports, timedelta(minutes=1)),
    # Templates waiting for a provider's decision; the webhook of a later issue makes it instant.
    Periodic(enqueue_sync_template_statuses, timedelta(minutes=1)),
)
