"""Processing stored bodies: batches of WEBHOOK_BATCH_SIZE, one transaction each, a poison body isolated while
the others apply, workers sharing the queue (SKIP LOCKED), the hooks after each batch, the wake-up and the
sweep's jobs."""

from __future__ import annotations

import hashlib
import threading

import pytest
from rq.job import Job

from campaigns.feedback import jobs, processing, routing
from campaigns.feedback.models import WebhookEvent
from campaigns.models import MessageStatus
from dbtypes import utcnow
from extensions import db, redis_queues
from periodic import PERIODIC_JOBS
from tests.feedback.conftest import add_message, campaign_of, fresh, pending, post, stored
from tests.feedback.payloads import body

S = MessageStatus


def post_statuses(client, sender, messages, name: str = "status_delivered") -> None:
    for message in messages:
        raw = body(name, wamid=message.provider_message_id, key=message.idempotency_key)
        assert post(client, sender, raw).status_code == 200


def add_stored(sender, raw: bytes) -> int:
    """A body stored as if accepted earlier (one the parser of today no longer reads: a poison body)."""
    event = WebhookEvent(channel="whatsapp", sender_id=sender.id, digest=hashlib.sha256(raw).hexdigest(), body=raw,
                         received_at=utcnow())
    db.session.add(event)
    db.session.commit()
    return event.id


def test_bodies_are_applied_in_batches_of_the_configured_size(app, client, cloud_sender):
    app.config["WEBHOOK_BATCH_SIZE"] = 2
    messages = [add_message(campaign_of(cloud_sender), S.SENT) for _ in range(5)]
    post_statuses(client, cloud_sender, messages)
    done = processing.drain()
    assert (done.batches, done.bodies, done.failed, done.isolated, done.events) == (3, 5, 0, 0, {"StatusEvent": 5})
    assert all(fresh(message).status is S.DELIVERED for message in messages)
    assert pending() == 0 and processing.drain().batches == 0


def test_a_poison_body_is_isolated_while_the_others_apply_and_is_left_after_its_attempts(app, client, cloud_sender,
                                                                                         caplog):
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 2
    first, last = (add_message(campaign_of(cloud_sender), S.SENT) for _ in range(2))
    post_statuses(client, cloud_sender, [first])
    poison = add_stored(cloud_sender, b'{"object": "whatsapp_business_account", "entry": {"not": "a list"}}')
    post_statuses(client, cloud_sender, [last])

    done = processing.drain()
    assert (done.bodies, done.failed, done.given_up, done.isolated) == (2, 1, 0, 1)
    assert fresh(first).status is S.DELIVERED and fresh(last).status is S.DELIVERED
    event = db.session.get(WebhookEvent, poison)
    assert (event.processed_at, event.attempts) == (None, 1) and event.error.startswith("WebhookError: ")

    done = processing.drain()  # tried once more, then left for the operator
    assert (done.bodies, done.failed, done.given_up) == (0, 1, 1)
    assert "webhook_given_up" in caplog.text and f"webhook_event_id={poison}" in caplog.text
    assert processing.drain().failed == 0  # no longer claimed
    db.session.rollback()
    assert db.session.get(WebhookEvent, poison).attempts == 2


def test_a_body_whose_effects_roll_back_is_not_marked_processed(app, client, cloud_sender, monkeypatch):
    # A handler failing mid-batch: its batch's effects and its processed_at roll back together.
    message = add_message(campaign_of(cloud_sender), S.SENT)
    post_statuses(client, cloud_sender, [message])
    from channels.base import StatusEvent

    real = routing.HANDLERS[StatusEvent]

    def applies_then_fails(context, events):
        real(context, events)
        raise RuntimeError("the database refused something after the update")

    monkeypatch.setitem(routing.HANDLERS, StatusEvent, applies_then_fails)
    done = processing.drain()
    assert (done.bodies, done.failed) == (0, 1)
    assert fresh(message).status is S.SENT and pending() == 1
    monkeypatch.setitem(routing.HANDLERS, StatusEvent, real)
    assert processing.drain().bodies == 1
    assert fresh(message).status is S.DELIVERED


def test_the_after_batch_hooks_run_after_the_commit_and_one_failing_does_not_stop_the_rest(client, cloud_sender,
                                                                                          monkeypatch):
    message = add_message(campaign_of(cloud_sender), S.SENT)
    post_statuses(client, cloud_sender, [message], "status_failed_131026")
    seen = []

    def breaker(context):
        seen.append(("breaker", fresh(message).status, set(context.touched_campaigns)))

    def broken(context):
        raise RuntimeError("a hook with a bug")

    monkeypatch.setattr(routing, "AFTER_BATCH", [broken, breaker])
    with pytest.raises(RuntimeError, match="a hook with a bug"):
        processing.drain()
    assert seen == [("breaker", S.FAILED, {message.campaign_id})]  # committed before the hooks ran
    assert pending() == 0


def test_two_workers_share_the_pending_bodies_without_waiting_for_each_other(app, client, cloud_sender,
                                                                             migrated_database):
    if migrated_database[0] == "sqlite":
        pytest.skip("SQLite has one writer: a second claim waits for the first transaction")
    messages = [add_message(campaign_of(cloud_sender), S.SENT) for _ in range(4)]
    post_statuses(client, cloud_sender, messages)
    holding, release = threading.Event(), threading.Event()
    held: list[int] = []

    def first_worker() -> None:
        with app.app_context():
            held.extend(row.id for row in processing.claim(2, 5))
            holding.set()
            release.wait(30)
            db.session.rollback()

    thread = threading.Thread(target=first_worker)
    thread.start()
    assert holding.wait(30)
    others = [row.id for row in processing.claim(10, 5)]  # does not wait for the first worker's rows
    db.session.rollback()
    release.set()
    thread.join(30)
    assert len(held) == 2 and len(others) == 2 and not set(held) & set(others)
    assert sorted(held + others) == [event.id for event in stored()]


def test_the_wake_up_queues_one_job_and_a_follow_up_behind_a_running_one(app, client, cloud_sender):
    messages = [add_message(campaign_of(cloud_sender), S.SENT) for _ in range(3)]
    post_statuses(client, cloud_sender, messages)
    queue = redis_queues.queue(jobs.WEBHOOKS_QUEUE)
    assert queue.job_ids == [jobs.PROCESS_JOB_ID]  # three callbacks, one job
    job = Job.fetch(jobs.PROCESS_JOB_ID, connection=redis_queues.connection)
    queue.remove(job)
    job.set_status("started")  # a drain is running (and may be past its last claim)
    post_statuses(client, cloud_sender, messages, "status_read")
    assert queue.job_ids == [jobs.PROCESS_JOB_ID + "-2"]


def test_the_sweep_is_periodic_on_the_webhooks_queue_and_applies_what_no_wake_up_brought(app, client, cloud_sender):
    [periodic] = [job for job in PERIODIC_JOBS if job.enqueue is jobs.enqueue_sweep_webhooks]
    assert periodic.interval(app.config).total_seconds() == app.config["WEBHOOK_SWEEP_SECONDS"] == 30
    job = jobs.enqueue_sweep_webhooks()
    assert (job.id, job.origin) == (jobs.SWEEP_JOB_ID, "webhooks")
    message = add_message(campaign_of(cloud_sender), S.SENT)
    post_statuses(client, cloud_sender, [message])
    redis_queues.connection.flushdb()  # the wake-up is lost
    assert jobs.sweep_webhooks()["pending"] == 1
    assert fresh(message).status is S.DELIVERED and pending() == 0


@pytest.mark.parametrize("linger", [0.0, 2.0])
def test_a_lingering_drain_applies_what_arrives_after_it_ran_dry_and_a_plain_one_has_ended(
        app, client, cloud_sender, monkeypatch, linger):
    message = add_message(campaign_of(cloud_sender), S.SENT)
    ran_dry = threading.Event()
    claim = processing.claim

    def watched_claim(*args, **kwargs):
        rows = claim(*args, **kwargs)
        if not rows:
            ran_dry.set()
        return rows

    monkeypatch.setattr(processing, "claim", watched_claim)
    drained: list[processing.Drained] = []

    def worker() -> None:
        with app.app_context():
            drained.append(processing.drain(60, linger_seconds=linger))

    thread = threading.Thread(target=worker)
    thread.start()
    assert ran_dry.wait(30)  # the drain found nothing pending
    if not linger:
        thread.join(30)
    post_statuses(client, cloud_sender, [message])  # a callback arrives after that
    thread.join(30)
    assert not thread.is_alive()
    # Lingering, the same job applies it; a plain drain had ended, and the body waits for the next wake-up.
    assert drained[0].bodies == (1 if linger else 0)
    assert (fresh(message).status is S.DELIVERED) is bool(linger)
