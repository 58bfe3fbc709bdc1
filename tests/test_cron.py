"""The cron lease and the periodic entries, in-process against the suite's real Redis (tests/test_worker.py
runs two real workers for the one-scheduler guarantee)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from rq.cron import get_cron_job_ids
from rq.exceptions import StopRequested

import cron
from accounts.jobs import enqueue_expire_invitations, expire_invitations
from extensions import redis_queues
from periodic import PERIODIC_JOBS, Periodic


def scheduler(name: str = "host:1:abcdef") -> cron.LeasedCronScheduler:
    return cron.LeasedCronScheduler(redis_queues.connection, lease_seconds=3, worker_pid=os.getppid(), name=name)


def test_expire_invitations_is_registered_to_run_hourly():
    assert Periodic(enqueue_expire_invitations, timedelta(hours=1)) in PERIODIC_JOBS


def test_a_holder_renews_its_lease_on_every_beat(app):
    holder = scheduler()
    redis_queues.connection.set(cron.CRON_LEASE_KEY, holder.name, ex=1)
    holder.heartbeat()
    assert cron.holder() == holder.name
    assert redis_queues.connection.ttl(cron.CRON_LEASE_KEY) == 3


def test_a_holder_whose_lease_was_taken_stops_scheduling_but_may_wait_for_another_turn(app):
    stalled = scheduler()
    redis_queues.connection.set(cron.CRON_LEASE_KEY, "another:2:123456", ex=3)
    with pytest.raises(StopRequested):
        stalled.heartbeat()
    assert not stalled.stop_requested  # not asked to stop: it goes back to waiting for the lease
    assert cron.holder() == "another:2:123456"


def test_a_holder_whose_worker_died_stops(app):
    orphan = cron.LeasedCronScheduler(redis_queues.connection, lease_seconds=3, worker_pid=os.getppid() + 1)
    with pytest.raises(StopRequested):
        orphan.heartbeat()
    assert orphan.stop_requested


def test_a_stop_signal_while_enqueuing_stops_the_scheduler_instead_of_being_logged_as_a_broken_helper(app, caplog):
    def interrupted():  # what RQ's signal handler does when Ctrl-C lands inside the helper
        raise StopRequested()

    entry = cron.HelperCronJob(app, Periodic(interrupted, timedelta(minutes=1)))
    with pytest.raises(StopRequested):
        entry.enqueue(redis_queues.connection)
    assert "periodic_job_enqueue_failed" not in caplog.text


def test_a_periodic_entry_enqueues_through_the_jobs_own_helper(app):
    entry = cron.HelperCronJob(app, Periodic(enqueue_expire_invitations, timedelta(hours=1)))
    job = entry.enqueue(redis_queues.connection)
    again = entry.enqueue(redis_queues.connection)  # still queued: the same job, not a second one

    assert job.id == again.id == "expire_invitations"
    assert job.func == expire_invitations and job.origin == "default" and job.retries_left == 2
    assert redis_queues.queue("default").job_ids == ["expire_invitations"]
    assert get_cron_job_ids(entry.name, redis_queues.connection) == ["expire_invitations"]
