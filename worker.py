"""The RQ worker: drains every queue (most urgent first), runs RQ's scheduler and takes its turn at cron.

    python worker.py [--burst] [--queue NAME]...

The app is built once, before any fork, and warmed up (``warm_up``). Each job runs in the forked work
horse inside a fresh app context (so a fresh database session), after the horse has dropped any
connection it inherited.
Unless in burst mode, the worker also starts a cron process (``cron.py``): of all the workers, the
one holding the cron lease enqueues the periodic jobs of ``periodic.py``.
SIGTERM or Ctrl-C is a warm shutdown: the current job gets WORKER_DRAIN_SECONDS (30 by default) to
finish, then it is killed and recorded as failed; then the worker exits. A second signal kills the
job at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time

from flask import Flask
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, Worker
from rq.exceptions import StopRequested
from rq.job import Job
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers

import config
from accounts.events import set_actor_label
from app import create_app
from campaigns import metrics
from compliance.policy import current_policy
from cron import CronProcess
from extensions import QUEUE_NAMES, db, redis_queues
from periodic import PERIODIC_JOBS

log = logging.getLogger("vestnik.worker")
REDIS_WAIT_SECONDS = 30
PUBSUB_WAIT_SECONDS = 1


class AppWorker(Worker):
    """An RQ worker whose jobs run inside the Flask app's context."""

    def __init__(self, *args, app: Flask, **kwargs):
        super().__init__(*args, **kwargs)
        self.app = app
        self.drain_timer: threading.Timer | None = None
        self.stop_signalled = False

    def request_stop(self, signum, frame):
        # Warm shutdown: RQ waits for the running job however long it takes; we give it the drain time,
        # then kill it, so the worker still records the job as failed (RQ's retry applies) and exits
        # before `make run` or a supervisor kills it outright (which would leave the job's process behind).
        self.stop_signalled = True  # RQ only records a stop asked for while a job runs
        super().request_stop(signum, frame)  # raises StopRequested when no job is running
        if self.drain_timer is None:
            self.drain_timer = threading.Timer(self.app.config["WORKER_DRAIN_SECONDS"], self.end_drain)
            self.drain_timer.daemon = True
            self.drain_timer.start()

    def end_drain(self) -> None:
        if self.horse_pid:
            log.warning("event=drain_time_over horse_pid=%s seconds=%s", self.horse_pid,
                        self.app.config["WORKER_DRAIN_SECONDS"])
            self.kill_horse()

    def subscribe(self):
        # RQ listens for its commands (stop, kill a job) in a thread that waits up to 60 s per read, and
        # once unsubscribed it waits that long again for a subscription that never comes; since redis-py
        # 8.2 stopping that thread waits for it, so every worker took up to a minute to exit. A one-second
        # wait bounds the exit and still answers commands at once (a published command ends the wait).
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_WAIT_SECONDS, daemon=True, exception_handler=self._pubsub_exception_handler)

    def main_work_horse(self, job: Job, queue: Queue):
        # The horses of this worker follow one another: they share its metrics files, not one set per job.
        metrics.use_process_identity(f"rq-{self.name}")
        # A connection copied across fork() would be shared with the parent; drop the copies.
        with self.app.app_context():
            for engine in db.engines.values():
                engine.dispose(close=False)
        return super().main_work_horse(job, queue)

    def perform_job(self, job: Job, queue: Queue, execution) -> bool:
        with self.app.app_context():
            set_actor_label(f"job:{job.func_name}")
            log.info("event=job_started job_id=%s func=%s queue=%s", job.id, job.func_name, queue.name)
            return super().perform_job(job, queue, execution)


def wait_for_redis(connection: Redis, seconds: float = REDIS_WAIT_SECONDS) -> None:
    """Block until Redis answers (the embedded server may still be starting), or give up."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection.ping()
            return
        except RedisConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def warm_up() -> None:
    """Do once, before any fork, what every job's work horse would otherwise do again by itself.

    SQLAlchemy configures its mappers on first use, and the compliance policy is compiled on first use and
    then cached per process (each job still checks its stamp against the database, so an edit is seen):
    done in this process, every horse inherits both instead of spending ~0.1 s of CPU on them, which at a
    few hundred messages per dispatch job was a third of the job's own work. The connection the policy's
    query used is closed again: the parent never holds one across a fork. A database that cannot be read
    yet (not migrated) only skips the policy.
    """
    configure_mappers()
    try:
        current_policy()
    except SQLAlchemyError:
        log.warning("event=warm_up_skipped reason=database_unreadable")
    finally:
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a Vestnik worker.")
    parser.add_argument("--burst", action="store_true", help="Exit when the queues are empty.")
    parser.add_argument("--queue", action="append", choices=QUEUE_NAMES, help="Only these queues (repeatable).")
    options = parser.parse_args(argv)
    try:
        app = create_app()
    except config.ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    with app.app_context():
        connection = redis_queues.connection
        try:
            wait_for_redis(connection)
        except RedisConnectionError:
            print(f"Redis at {app.config['REDIS_URL']} is not answering; start it or set REDIS_URL.", file=sys.stderr)
            return 2
        queues = [redis_queues.queue(name) for name in (options.queue or QUEUE_NAMES)]
        warm_up()
    cron = None if options.burst else CronProcess(app, connection, PERIODIC_JOBS, app.config["CRON_LEASE_SECONDS"])
    if cron:
        cron.start()
    try:
        while True:
            worker = AppWorker(queues, connection=connection, app=app)
            try:
                worker.work(burst=options.burst, with_scheduler=True, logging_level=app.config["LOG_LEVEL"])
            except RedisConnectionError:  # raised by work()'s own clean-up (registering its death) without Redis
                pass
            if options.burst or worker.stop_signalled:
                break
            # RQ's work() also returns when Redis went away outside its blocking wait for a job ("found an
            # unhandled exception, quitting..."). Exiting then would stop `make run` (honcho ends every process
            # when one exits) and leave a supervisor to notice: wait for Redis and work again instead.
            log.warning("event=worker_restarting reason=redis_unavailable")
            if not _wait_again(connection):
                return 2
    finally:
        if cron:
            cron.stop()
    return 0


def _wait_again(connection: Redis) -> bool:
    """Wait for Redis to answer again, for as long as it takes; False when a stop signal ends the wait."""
    try:
        while True:
            try:
                wait_for_redis(connection)
                return True
            except RedisConnectionError:
                log.warning("event=redis_still_unavailable seconds=%s", REDIS_WAIT_SECONDS)
    except (StopRequested, KeyboardInterrupt):  # SIGTERM (RQ's handler is still installed) or Ctrl-C
        return False


if __name__ == "__main__":
    sys.exit(main())
