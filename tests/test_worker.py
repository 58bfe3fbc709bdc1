"""The real RQ worker (`python worker.py`) against the suite's real Redis and database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from rq.cron import CronScheduler
from rq.job import JobStatus
from rq.results import Result
from sqlalchemy import select

import cron
from accounts import users
from accounts.jobs import enqueue_expire_invitations
from accounts.models import Role, User
from compliance import policy
from compliance.audit import AuditEvent, record
from dbtypes import utcnow
from extensions import db, redis_queues
from tests import worker_jobs
from tests.conftest import build_app
from tests.processes import WAIT_SECONDS, descendants, is_alive, kill_all, survivors, wait_for
from worker import warm_up

ROOT = Path(__file__).resolve().parent.parent


class WorkerProcess:
    """A `python worker.py` subprocess with its output in a file, for assertion messages."""

    def __init__(self, popen: subprocess.Popen, log: Path):
        self.popen = popen
        self.log = log
        self.seen = []  # every descendant ever observed, so none can slip away unnoticed

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def observe_children(self) -> list:
        children = descendants(self.pid)
        self.seen += [child for child in children if child not in self.seen]
        return children

    def wait(self, timeout: float = WAIT_SECONDS) -> int:
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the worker did not exit within {timeout} s:\n{self.output()}")


@pytest.fixture
def start_worker(app, database_url, redis_url, tmp_path):
    """Start the real worker; on the way out, kill anything a failed test left running."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "VESTNIK_INSTANCE_PATH": str(tmp_path / "instance"),
        "SECRET_KEY": "worker-test-secret-key-long-enough-for-production",
        # The test's own keys: the worker decrypts the senders' secrets the test stored.
        "VESTNIK_SECRETS_KEY": ", ".join(app.config["SECRETS_KEYS"]),
    }
    started: list[WorkerProcess] = []

    def start(*arguments: str, **settings: str) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        with log.open("wb") as handle:
            popen = subprocess.Popen([sys.executable, "worker.py", *arguments], cwd=ROOT, env={**env, **settings},
                                     stdout=handle, stderr=subprocess.STDOUT)
        worker = WorkerProcess(popen, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        kill_all(worker.seen + worker.observe_children())
        if worker.popen.poll() is None:
            worker.popen.kill()
        worker.popen.wait(timeout=WAIT_SECONDS)


def finished_cleanly(worker: WorkerProcess) -> None:
    code = worker.wait()
    assert code == 0, f"the worker exited with {code}:\n{worker.output()}"
    assert "Traceback" not in worker.output(), worker.output()
    left = survivors(worker.seen)
    assert not left, f"the worker left {left} running"


def status_of(job) -> JobStatus:
    return job.get_status(refresh=True)


def markers_in_database() -> list[str]:
    db.session.rollback()  # a fresh transaction sees what the worker committed
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == worker_jobs.MARKER_ACTION))
    return sorted(event.details["marker"] for event in events)


@pytest.mark.slow
def test_the_worker_voids_an_expired_invitation_and_audits_it_as_the_job(app, make_user, start_worker):
    admin = make_user("admin", email="boss@example.com")
    overdue, _token = users.invite_user("late@example.com", Role.MARKETER, actor=admin)
    pending, _token = users.invite_user("fresh@example.com", Role.MARKETER, actor=admin)
    overdue.invitation_expires_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    overdue_id, pending_id = overdue.id, pending.id

    job = enqueue_expire_invitations()
    worker = start_worker("--burst")
    finished_cleanly(worker)

    assert status_of(job) == JobStatus.FINISHED, worker.output()
    assert job.return_value(refresh=True) == 1
    db.session.rollback()
    assert db.session.get(User, overdue_id).invitation_hash is None
    assert db.session.get(User, pending_id).invitation_hash is not None
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.invitation_expired")).all()
    assert [(event.object_type, event.object_id) for event in events] == [("user", str(overdue_id))]
    assert events[0].actor_label == "job:accounts.jobs.expire_invitations"
    assert events[0].actor_id is None


def no_connection_held() -> bool:
    return all(engine.pool.checkedin() == 0 and engine.pool.checkedout() == 0 for engine in db.engines.values())


def test_the_warm_up_compiles_the_policy_for_the_horses_and_keeps_no_connection(app, monkeypatch):
    monkeypatch.setitem(policy._cache, "stamp", None)
    monkeypatch.setitem(policy._cache, "policy", None)
    db.session.execute(select(1))  # the parent's session has been used: its connection must not survive a fork

    warm_up()

    assert policy._cache["policy"] is not None  # inherited by every work horse
    assert no_connection_held()


def test_the_warm_up_before_the_database_is_migrated_only_skips_the_policy(redis_url, tmp_path, monkeypatch):
    monkeypatch.setitem(policy._cache, "stamp", None)
    monkeypatch.setitem(policy._cache, "policy", None)
    empty = build_app(f"sqlite:///{tmp_path / 'not-migrated.db'}", redis_url)
    with empty.app_context():
        warm_up()

        assert policy._cache["policy"] is None
        assert no_connection_held()


def test_enqueueing_the_same_job_twice_yields_one_job(app):
    first = enqueue_expire_invitations()
    second = enqueue_expire_invitations()
    assert first.id == second.id == "expire_invitations"
    assert redis_queues.queue("default").job_ids == ["expire_invitations"]


def test_a_finished_run_does_not_block_the_next_one(app):
    from rq import SimpleWorker

    queue = redis_queues.queue("default")
    first = enqueue_expire_invitations()
    SimpleWorker([queue], connection=redis_queues.connection).work(burst=True)
    assert status_of(first) == JobStatus.FINISHED
    again = enqueue_expire_invitations()
    assert again.get_status() == JobStatus.QUEUED
    assert queue.job_ids == ["expire_invitations"]


@pytest.mark.slow
@pytest.mark.one_database
def test_a_failing_job_ends_in_the_failed_registry_and_the_worker_goes_on(app, start_worker):
    failing = redis_queues.enqueue("default", worker_jobs.fail_loudly, "the provider said no")
    following = redis_queues.enqueue("default", worker_jobs.slow_write, 0, "after-failure")

    worker = start_worker("--burst")
    code = worker.wait()
    assert code == 0, worker.output()

    queue = redis_queues.queue("default")
    assert status_of(failing) == JobStatus.FAILED
    assert failing.id in queue.failed_job_registry.get_job_ids()
    result = failing.latest_result()
    assert result.type == Result.Type.FAILED
    assert "RuntimeError: the provider said no" in result.exc_string
    assert status_of(following) == JobStatus.FINISHED
    assert following.return_value(refresh=True) == "after-failure"
    assert markers_in_database() == ["after-failure"]


@pytest.mark.slow
@pytest.mark.one_database
def test_sigterm_lets_the_running_job_finish_then_the_worker_exits(app, start_worker):
    worker = start_worker()
    running = redis_queues.enqueue("default", worker_jobs.slow_write, 2, "graceful")
    wait_for(lambda: status_of(running) == JobStatus.STARTED, "the job to start")
    assert len(worker.observe_children()) >= 2, "expected the work horse and the scheduler"
    waiting = redis_queues.enqueue("default", worker_jobs.slow_write, 0, "left-for-the-next-worker")

    worker.popen.send_signal(signal.SIGTERM)
    finished_cleanly(worker)

    assert status_of(running) == JobStatus.FINISHED
    assert running.return_value(refresh=True) == "graceful"
    assert markers_in_database() == ["graceful"]
    # A warm shutdown finishes the current job only; the next one waits in the queue.
    assert status_of(waiting) == JobStatus.QUEUED


@pytest.mark.slow
@pytest.mark.one_database
def test_a_job_still_running_when_the_drain_time_is_over_is_killed_and_recorded_failed(app, start_worker):
    worker = start_worker(WORKER_DRAIN_SECONDS="1")
    stuck = redis_queues.enqueue("default", worker_jobs.write_when_released, "test:never-released", "too-late")
    wait_for(lambda: status_of(stuck) == JobStatus.STARTED, "the job to start")
    worker.observe_children()

    worker.popen.send_signal(signal.SIGTERM)
    code = worker.wait()  # long before the job would give up waiting by itself (60 s)

    assert code == 0, worker.output()
    assert "event=drain_time_over" in worker.output()
    assert status_of(stuck) == JobStatus.FAILED
    assert markers_in_database() == []
    left = survivors(worker.seen)
    assert not left, f"the worker left {left} running"


@pytest.mark.slow
def test_every_job_gets_a_fresh_app_context_and_sees_committed_data(app, start_worker):
    record(worker_jobs.MARKER_ACTION, details={"marker": "from-the-web"})
    db.session.commit()
    dirty = redis_queues.enqueue("default", worker_jobs.write_without_commit, "never-committed")
    clean = redis_queues.enqueue("default", worker_jobs.slow_write, 0, "committed-by-a-job")
    reader = redis_queues.enqueue("default", worker_jobs.committed_markers)

    finished_cleanly(start_worker("--burst"))

    assert [status_of(job) for job in (dirty, clean, reader)] == [JobStatus.FINISHED] * 3
    assert reader.return_value(refresh=True) == {
        "markers": ["from-the-web", "committed-by-a-job"],
        "g_marker": None,
        "actor_label": "job:tests.worker_jobs.committed_markers",
    }
    assert markers_in_database() == ["committed-by-a-job", "from-the-web"]


@pytest.mark.slow
@pytest.mark.one_database
def test_the_worker_scheduler_runs_jobs_enqueued_for_later(app, start_worker):
    worker = start_worker()
    asked_at = datetime.now(UTC)
    job = redis_queues.queue("default").enqueue_in(timedelta(seconds=1), worker_jobs.slow_write, 0, "scheduled")
    assert job.get_status(refresh=False) == JobStatus.SCHEDULED  # as enqueued, not yet queued

    wait_for(lambda: status_of(job) == JobStatus.FINISHED, "the scheduled job to run")
    worker.observe_children()
    worker.popen.send_signal(signal.SIGTERM)
    finished_cleanly(worker)

    db.session.rollback()
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == worker_jobs.MARKER_ACTION))
    assert event.details == {"marker": "scheduled"}
    # RQ schedules to the whole second, so "in one second" may come up to a second early.
    assert event.occurred_at >= (asked_at + timedelta(seconds=1)).replace(microsecond=0)


# --- periodic jobs: one cron scheduler among all workers ------------------------------------------------

# Seconds: a short cron lease, so that a takeover happens within the test, yet long enough that a busy
# machine does not starve the holder past it (it renews every third of the lease).
LEASE = "3"


def live_cron_schedulers() -> dict[str, psutil.Process]:
    """The cron schedulers registered in Redis whose process is alive, by name."""
    found = {}
    for scheduler in CronScheduler.all(redis_queues.connection, cleanup=False):
        try:
            process = psutil.Process(scheduler.pid)
        except psutil.NoSuchProcess:
            continue
        if is_alive(process):
            found[scheduler.name] = process
    return found


def overdue_invitation(admin, email: str) -> int:
    overdue, _token = users.invite_user(email, Role.MARKETER, actor=admin)
    overdue.invitation_expires_at = utcnow() - timedelta(hours=1)
    db.session.commit()
    return overdue.id


def voided(user_id: int) -> bool:
    db.session.rollback()
    return db.session.get(User, user_id).invitation_hash is None


@pytest.mark.slow
@pytest.mark.one_database
def test_two_workers_run_one_cron_scheduler_and_the_other_takes_over_when_its_worker_dies(app, admin, start_worker):
    first_invitation = overdue_invitation(admin, "first@example.com")
    workers = [start_worker(CRON_LEASE_SECONDS=LEASE), start_worker(CRON_LEASE_SECONDS=LEASE)]

    leader = wait_for(cron.holder, "a worker's cron process to take the lease")
    wait_for(lambda: voided(first_invitation), "the periodic expire_invitations job to run")
    # Over several renewals of the lease, exactly one scheduler runs: the holder's; the other waits.
    started_at = CronScheduler.fetch(leader, redis_queues.connection).last_heartbeat

    def renewed_a_few_times() -> bool:
        assert list(live_cron_schedulers()) == [leader]
        assert cron.holder() == leader
        return CronScheduler.fetch(leader, redis_queues.connection).last_heartbeat > started_at + timedelta(
            seconds=2 * float(LEASE))

    wait_for(renewed_a_few_times, "the lease to be renewed a few times")
    leader_process = live_cron_schedulers()[leader]
    [dying] = [worker for worker in workers if worker.pid == leader_process.ppid()]
    [survivor] = [worker for worker in workers if worker is not dying]

    # The leader's host is lost: its worker and everything below it die at once, the lease is not given back.
    second_invitation = overdue_invitation(admin, "second@example.com")
    for process in [*dying.observe_children(), psutil.Process(dying.pid)]:
        process.kill()
    dying.wait()
    successor = wait_for(lambda: cron.holder() not in (None, leader) and cron.holder(),
                         "the other worker to take the lease over")
    # The lease is taken before the scheduler registers itself in Redis: wait for that registration.
    wait_for(lambda: list(live_cron_schedulers()) == [successor], "the successor's scheduler to register")
    assert live_cron_schedulers()[successor].ppid() == survivor.pid
    wait_for(lambda: voided(second_invitation), "the new scheduler to run expire_invitations")

    survivor.observe_children()
    survivor.popen.send_signal(signal.SIGTERM)
    finished_cleanly(survivor)
    assert cron.holder() is None, "a scheduler that stops gives its lease back"
    assert live_cron_schedulers() == {}
