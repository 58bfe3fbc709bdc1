"""A batch job (or the sweep) whose worker was killed stays "started" in RQ for minutes; it must not hold its
range (or the next sweep) up: a running job of a fixed id gets one follow-up waiting behind it, never more
than ``FOLLOW_UPS`` of one id. (The real kill: tests/reliability/test_worker_crash.py.)"""

from __future__ import annotations

from rq.job import JobStatus

from campaigns.dispatch import jobs as dispatch_jobs
from campaigns.dispatch import sweep
from extensions import redis_queues


def queued_ids() -> list[str]:
    return redis_queues.queue(dispatch_jobs.DISPATCH_QUEUE).job_ids


def test_a_running_batch_job_gets_one_follow_up_and_no_more_than_the_suffixes_allow(app):
    first = dispatch_jobs.enqueue_batch(7, 500, 749)
    assert first.id == "send-batch-7-500"
    assert dispatch_jobs.enqueue_batch(7, 500, 749).id == first.id  # waiting: asked again, not doubled
    assert queued_ids() == ["send-batch-7-500"]

    first.set_status(JobStatus.STARTED)  # running, or dead with its worker: RQ cannot tell yet
    follow_up = dispatch_jobs.enqueue_batch(7, 500, 749)
    assert follow_up.id == "send-batch-7-500-2" and follow_up.args == (7, 500, 749, 0)
    assert dispatch_jobs.enqueue_batch(7, 500, 749).id == follow_up.id  # one follow-up waits, not one a sweep

    follow_up.set_status(JobStatus.STARTED)
    last = dispatch_jobs.enqueue_batch(7, 500, 749)
    assert last.id == "send-batch-7-500-3"
    last.set_status(JobStatus.STARTED)
    assert dispatch_jobs.enqueue_batch(7, 500, 749).id == last.id  # bounded: three of one range at most
    assert queued_ids() == ["send-batch-7-500", "send-batch-7-500-2", "send-batch-7-500-3"]


def test_a_sweep_whose_worker_died_does_not_hold_the_next_sweep_up(app):
    running = sweep.enqueue_sweep_dispatch()
    assert running.id == sweep.SWEEP_JOB_ID
    running.set_status(JobStatus.STARTED)
    assert sweep.enqueue_sweep_dispatch().id == f"{sweep.SWEEP_JOB_ID}-2"
    assert sweep.enqueue_sweep_dispatch().id == f"{sweep.SWEEP_JOB_ID}-2"
