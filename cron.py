"""One RQ cron scheduler for the whole deployment, however many workers run.

RQ's ``CronScheduler`` has no lock of its own: every process that starts one enqueues every job.
So each worker (``worker.py``) starts a cron process that first takes a lease in Redis (a key with a
time to live, ``CRON_LEASE_KEY``). The holder runs the scheduler and renews the lease on every beat;
the others wait and try again every third of the lease. When the holder stops it gives the lease
back, and the next waiter takes over within a third of the lease; when it dies outright (SIGKILL, a
lost host) the lease runs out and a waiter takes over within one lease and a third. A holder that
finds its lease taken (it stalled for longer than the lease) stops scheduling at once; and since the
periodic jobs have fixed ids, even a moment of two schedulers would not run a job twice at a time.

The cron process is forked from the worker before it works (it holds no database connection) and
exits when its worker goes, even a killed one.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask
from redis import Redis
from redis.exceptions import RedisError
from rq import cron_job_registry
from rq.cron import CronJob, CronScheduler
from rq.exceptions import StopRequested
from rq.job import Job
from rq.scripts import acquire_or_refresh_lock, release_lock

if TYPE_CHECKING:  # the registrations are periodic.py's; this module needs none of the packages
    from periodic import Periodic

log = logging.getLogger("vestnik.cron")
CRON_LEASE_KEY = "vestnik:cron:lease"


class HelperCronJob(CronJob):
    """A cron entry that enqueues through its job's own helper, inside the app's context."""

    def __init__(self, app: Flask, periodic: Periodic):
        super().__init__(queue_name="", func=periodic.enqueue,
                         interval=int(periodic.interval(app.config).total_seconds()))
        self.app = app

    def enqueue(self, connection: Redis) -> Job | None:
        try:
            with self.app.app_context():
                job = self.func()
        except RedisError:
            raise  # the scheduler waits for Redis and tries again
        except StopRequested:
            raise  # SIGTERM/Ctrl-C arrived while enqueuing (RQ's handler raises it): stop, it is no failure
        except Exception:  # one broken helper must not stop the other periodic jobs
            log.exception("event=periodic_job_enqueue_failed func=%s", self.func_name)
            return None
        self.queue_name = job.origin
        # The same monitoring records as RQ's own cron jobs keep (`rq cron` and its dashboard read them).
        with connection.pipeline() as pipeline:
            pipeline.zadd(self.job_history_key, {job.id: time.time()})
            cron_job_registry.add(self.name, pipeline)
            pipeline.execute()
        log.info("event=periodic_job_enqueued job_id=%s queue=%s", job.id, job.origin)
        return job


class LeasedCronScheduler(CronScheduler):
    """RQ's cron scheduler, running only while it holds the lease and its worker lives."""

    def __init__(self, connection: Redis, *, lease_seconds: int, worker_pid: int, **kwargs):
        super().__init__(connection, **kwargs)
        self.lease_seconds = lease_seconds
        self.worker_pid = worker_pid
        self.stop_requested = False  # by a signal or the worker's death, not by a lost lease

    def add(self, cron_job: CronJob) -> None:
        """Add a cron entry built elsewhere (RQ's ``register`` only builds plain ones)."""
        self._cron_jobs.append(cron_job)

    def _request_stop(self, signum, frame):
        self.stop_requested = True
        super()._request_stop(signum, frame)

    def heartbeat(self) -> None:
        if os.getppid() != self.worker_pid:
            self.stop_requested = True
            raise StopRequested()
        if acquire_or_refresh_lock(self.connection, CRON_LEASE_KEY, self.name, self.lease_seconds) == "taken":
            log.warning("event=cron_lease_lost scheduler=%s", self.name)
            raise StopRequested()
        super().heartbeat()

    def calculate_sleep_interval(self) -> float:
        # Renew well before the lease runs out (RQ would sleep up to a minute).
        return min(super().calculate_sleep_interval(), self.lease_seconds / 3)


def run_cron(app: Flask, connection: Redis, periodic_jobs: Iterable[Periodic], lease_seconds: int,
             worker_pid: int) -> None:
    """Wait for the lease, run the cron scheduler while holding it; return on SIGTERM/SIGINT or when
    the worker has gone."""
    try:
        _take_turns(app, connection, list(periodic_jobs), lease_seconds, worker_pid)
    except (KeyboardInterrupt, StopRequested):  # a signal between two steps: stop quietly all the same
        pass


def _take_turns(app: Flask, connection: Redis, periodic_jobs: list[Periodic], lease_seconds: int,
                worker_pid: int) -> None:
    while os.getppid() == worker_pid:
        # Outside the scheduler (which installs its own handlers), a signal ends the wait at once.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            scheduler = LeasedCronScheduler(connection, lease_seconds=lease_seconds, worker_pid=worker_pid,
                                            logging_level=app.config["LOG_LEVEL"],
                                            name=f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
            if acquire_or_refresh_lock(connection, CRON_LEASE_KEY, scheduler.name, lease_seconds) != "acquired":
                time.sleep(lease_seconds / 3)
                continue
            log.info("event=cron_lease_taken scheduler=%s", scheduler.name)
            for periodic in periodic_jobs:
                scheduler.add(HelperCronJob(app, periodic))
            try:
                scheduler.start()
            finally:
                release_lock(connection, CRON_LEASE_KEY, scheduler.name)
            if scheduler.stop_requested:
                return
        except RedisError as error:  # Redis restarting, say: wait and try again
            log.warning("event=cron_redis_error error=%r", str(error))
            time.sleep(lease_seconds / 3)


class CronProcess:
    """The cron process of one worker: started before the worker works, stopped after it."""

    def __init__(self, app: Flask, connection: Redis, periodic_jobs: Iterable[Periodic], lease_seconds: int):
        context = multiprocessing.get_context("fork")  # the app is built; the child only talks to Redis
        self.process = context.Process(target=run_cron, name="cron", daemon=False,
                                       args=(app, connection, tuple(periodic_jobs), lease_seconds, os.getpid()))

    def start(self) -> None:
        self.process.start()

    def stop(self, timeout: float = 10) -> None:
        """Ask the cron process to stop (giving its lease back) and wait for it; kill it if it hangs."""
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


def holder(connection: Redis | None = None) -> str | None:
    """The name of the cron scheduler holding the lease, if any (for the operator and the tests);
    ``connection`` defaults to the current app's."""
    if connection is None:
        from extensions import redis_queues

        connection = redis_queues.connection
    value = connection.get(CRON_LEASE_KEY)
    return value.decode() if value else None
