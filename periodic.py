"""The periodic jobs, all registered here: what runs on RQ's cron, and how often.

The worker that holds the cron lease (``cron.py``) enqueues each of them as soon as it takes the
lease, then every ``every``. Each goes through its job's own enqueue helper, so it keeps that job's
queue, timeout, retries and fixed job id: a run still queued or running is not enqueued twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rq.job import Job

from accounts.jobs import enqueue_expire_invitations
from audience.import_jobs import enqueue_fail_stalled_imports
from campaigns.dispatch.sweep import enqueue_sweep_dispatch
from campaigns.feedback.jobs import enqueue_sweep_webhooks
from campaigns.feedback.reply_jobs import enqueue_sweep_conversation_messages
from campaigns.jobs import enqueue_restore_launches, enqueue_sync_template_statuses


@dataclass(frozen=True)
class Periodic:
    """One periodic job: the helper that enqueues it, and the time between two runs — fixed, or the name of
    the app's setting (in seconds) that says it, read when the cron scheduler starts (``interval``), since
    this table is built at import time, before any app exists."""

    enqueue: Callable[[], Job]
    every: timedelta | str

    def interval(self, config: Mapping[str, Any]) -> timedelta:
        """The time between two runs under ``config`` (the app's)."""
        if isinstance(self.every, str):
            return timedelta(seconds=config[self.every])
        return self.every


PERIODIC_JOBS = (
    Periodic(enqueue_expire_invitations, timedelta(hours=1)),
    # Redis may have lost scheduled launches (a flush, an enqueue that failed after its commit).
    Periodic(enqueue_restore_launches, timedelta(minutes=10)),
    # An import whose worker died stays "running" until this marks it failed.
    Periodic(enqueue_fail_stalled_imports, timedelta(minutes=1)),
    # Templates waiting for a provider's decision; the webhook of a later issue makes it instant.
    Periodic(enqueue_sync_template_statuses, timedelta(minutes=1)),
    # Expired leases, unknown rows past their time, and rows that came due (deferred windows that opened,
    # retries whose backoff ended, batches Redis lost); completes the campaigns left with nothing to send.
    Periodic(enqueue_sweep_dispatch, "DISPATCH_SWEEP_SECONDS"),
    # Webhook bodies acknowledged and still pending: a wake-up Redis lost, a worker that died mid-batch.
    Periodic(enqueue_sweep_webhooks, "WEBHOOK_SWEEP_SECONDS"),
    # Confirmations and replies whose job Redis lost, or whose worker died mid-request.
    Periodic(enqueue_sweep_conversation_messages, timedelta(minutes=1)),
)
