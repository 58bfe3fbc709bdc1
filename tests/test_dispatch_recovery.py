"""The cron side of dispatch: expired leases recovered by the channel's idempotency (sent again with the same
key, or left ``unknown`` and never sent twice), statuses settling rows forward only, ``unknown`` rows failing
after their time, cancel skipping what has not gone, and the sweep that enqueues what came due."""

from __future__ import annotations

import signal
from datetime import timedelta
from itertools import count as counter
from typing import Any

import pytest
from sqlalchemy import select, update

import cron
from campaigns import campaign_specs, senders
from campaigns.dispatch.jobs import DISPATCH_QUEUE, send_batch
from campaigns.dispatch.recovery import fail_unsettled, idempotent_channels, recover_expired_leases
from campaigns.dispatch.settle import settle
from campaigns.dispatch.sweep import enqueue_sweep_dispatch, sweep, sweep_dispatch
from campaigns.lifecycle import TransitionError
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Sender
from channels.base import StatusEvent
from channels.sandbox import defaults as sandbox_defaults
from channels.whatsapp_cloud.webhooks import parse as webhooks_parse
from dbtypes import utcnow
from extensions import db, redis_queues
from periodic import PERIODIC_JOBS
from tests.channels.sandbox_calls import calls_back
from tests.processes import wait_for
from tests.test_dispatch import fast_sender, ledger_keys, people, sandbox_template, send_all, sending_campaign  # noqa: F401
from tests.test_dispatch import rows as campaign_rows
from tests.test_materialise import add_campaign, add_contact
from tests.test_worker import finished_cleanly, start_worker  # noqa: F401  (a fixture)

S = MessageStatus
_keys = counter(1)


def campaign_on(channel: str = "sandbox", status: CampaignStatus = CampaignStatus.SENDING) -> Campaign:
    """A committed campaign in ``status`` whose sender speaks ``channel``."""
    campaign = add_campaign(status=status)
    db.session.get(Sender, campaign.sender_id).channel = channel
    db.session.commit()
    return campaign


def add_row(campaign: Campaign, status: MessageStatus = S.QUEUED, **fields: Any) -> int:
    """One committed message row of ``campaign``; returns its id."""
    contact = add_contact()
    row = Message(campaign_id=campaign.id, contact_id=contact.id, phone=contact.phone, variables={},
                  idempotency_key=fields.pop("idempotency_key", f"key-{next(_keys)}"), status=status, **fields)
    db.session.add(row)
    db.session.commit()
    return row.id


def row(message_id: int) -> Message:
    db.session.expire_all()
    return db.session.get(Message, message_id)


def in_flight(campaign: Campaign, *, lease_seconds: float, sent_seconds_ago: float = 90) -> int:
    """A ``sending`` row whose lease ends ``lease_seconds`` from now (negative: it ran out)."""
    now = utcnow()
    return add_row(campaign, S.SENDING, attempts=1, lease_owner="batch-1",
                   lease_until=now + timedelta(seconds=lease_seconds),
                   sent_at=now - timedelta(seconds=sent_seconds_ago))


def recover() -> dict[str, int]:
    counts = recover_expired_leases()
    db.session.commit()
    return counts


# --- expired leases -----------------------------------------------------------------------------------

def test_the_sandbox_is_idempotent_and_the_cloud_api_is_not():
    assert "sandbox" in idempotent_channels() and "whatsapp_cloud" not in idempotent_channels()


def test_an_expired_sending_row_on_an_idempotent_channel_is_queued_again_with_its_key(app):
    campaign = campaign_on("sandbox")
    expired = in_flight(campaign, lease_seconds=-5)
    alive = in_flight(campaign, lease_seconds=30)
    key = row(expired).idempotency_key

    assert recover() == {"requeued": 1, "unknown": 0}

    again = row(expired)
    assert again.status is S.QUEUED and again.idempotency_key == key
    assert (again.lease_owner, again.lease_until, again.sent_at) == (None, None, None)
    assert again.attempts == 1  # the attempt that may have left still counts towards the limit
    untouched = row(alive)
    assert untouched.status is S.SENDING and untouched.lease_owner == "batch-1" and untouched.sent_at is not None


def test_an_expired_sending_row_on_a_channel_that_is_not_idempotent_becomes_unknown_and_keeps_its_send_time(app):
    campaign = campaign_on("whatsapp_cloud")
    expired = in_flight(campaign, lease_seconds=-5)
    alive = in_flight(campaign, lease_seconds=30)
    sent_at = row(expired).sent_at

    assert recover() == {"requeued": 0, "unknown": 1}

    unknown = row(expired)
    assert unknown.status is S.UNKNOWN and unknown.sent_at == sent_at  # caps and tiers go on counting it
    assert (unknown.lease_owner, unknown.lease_until) == (None, None)
    assert row(alive).status is S.SENDING
    assert recover() == {"requeued": 0, "unknown": 0}, "an unknown row is never picked up again"


def test_each_row_is_recovered_by_its_own_senders_channel(app):
    idempotent, cloud = campaign_on("sandbox"), campaign_on("whatsapp_cloud")
    resent, doubtful = in_flight(idempotent, lease_seconds=-1), in_flight(cloud, lease_seconds=-1)

    assert recover() == {"requeued": 1, "unknown": 1}
    assert row(resent).status is S.QUEUED and row(doubtful).status is S.UNKNOWN


def test_a_paused_campaigns_row_is_queued_again_but_a_cancelled_ones_is_never_sent_again(app):
    paused = in_flight(campaign_on("sandbox", CampaignStatus.PAUSED), lease_seconds=-1)
    cancelled = in_flight(campaign_on("sandbox", CampaignStatus.CANCELLED), lease_seconds=-1)

    assert recover() == {"requeued": 1, "unknown": 1}
    assert row(paused).status is S.QUEUED
    assert row(cancelled).status is S.UNKNOWN and row(cancelled).sent_at is not None


def test_only_sending_rows_are_recovered(app):
    campaign = campaign_on("sandbox")
    past = utcnow() - timedelta(seconds=5)
    claimed = add_row(campaign, S.QUEUED, lease_owner="batch-1", lease_until=past)
    deferred = add_row(campaign, S.DEFERRED, lease_owner="batch-1", lease_until=past, not_before=past)
    sent = add_row(campaign, S.SENT, sent_at=past, lease_until=past)

    assert recover() == {"requeued": 0, "unknown": 0}
    # An expired claim is claimable as it stands: nothing to do, and nothing done.
    assert row(claimed).status is S.QUEUED and row(claimed).lease_owner == "batch-1"
    assert row(deferred).status is S.DEFERRED and row(sent).status is S.SENT and row(sent).sent_at == past


def test_leases_are_judged_at_the_given_moment(app):
    campaign = campaign_on("whatsapp_cloud")
    expiring = in_flight(campaign, lease_seconds=30)
    assert recover_expired_leases(utcnow() + timedelta(seconds=20)) == {"requeued": 0, "unknown": 0}
    assert recover_expired_leases(utcnow() + timedelta(seconds=40)) == {"requeued": 0, "unknown": 1}
    db.session.commit()
    assert row(expiring).status is S.UNKNOWN


# --- unknown rows that nothing settles ------------------------------------------------------------------

def test_an_unknown_row_no_status_settled_in_time_fails_as_unknown_outcome(app):
    app.config["DISPATCH_UNKNOWN_SECONDS"] = 3600
    campaign = campaign_on("whatsapp_cloud")
    now = utcnow()
    old = add_row(campaign, S.UNKNOWN, sent_at=now - timedelta(seconds=3700), error_code="timeout",
                  error_message="the provider did not answer")
    young = add_row(campaign, S.UNKNOWN, sent_at=now - timedelta(seconds=3500))
    sent_long_ago = add_row(campaign, S.SENT, sent_at=now - timedelta(days=2))

    assert fail_unsettled(now) == 1
    db.session.commit()

    failed = row(old)
    assert failed.status is S.FAILED and failed.error_code == "unknown_outcome" and failed.failed_at == now
    assert failed.error_message == "the provider did not answer"  # the operator still sees what happened
    assert row(young).status is S.UNKNOWN and row(sent_long_ago).status is S.SENT
    assert fail_unsettled(now + timedelta(seconds=200)) == 1  # the young one's time comes too
    assert fail_unsettled(now + timedelta(seconds=400)) == 0


# --- settling by a status for the key --------------------------------------------------------------------

def settled(key: str, status: str, **fields: Any) -> bool:
    changed = settle(key, status, **fields)
    db.session.commit()
    return changed


def test_statuses_move_an_unknown_row_forward_and_never_back(app):
    campaign = campaign_on("whatsapp_cloud")
    message_id = add_row(campaign, S.UNKNOWN, idempotency_key="k-1", sent_at=utcnow() - timedelta(minutes=5),
                         error_code="timeout")
    sent_at, delivered_at, read_at = (utcnow() - timedelta(minutes=m) for m in (4, 3, 2))

    assert settled("k-1", "sent", provider_id="wamid.1", at=sent_at)
    first = row(message_id)
    assert first.status is S.SENT and first.provider_message_id == "wamid.1" and first.sent_at == sent_at
    assert first.error_code is None  # the uncertain try's code no longer holds

    assert settled("k-1", "delivered", at=delivered_at)
    assert settled("k-1", "read", at=read_at)
    assert not settled("k-1", "read", at=utcnow()), "the same status twice changes nothing"
    assert not settled("k-1", "delivered", at=utcnow())
    assert not settled("k-1", "sent", provider_id="wamid.other", at=utcnow())
    assert not settled("k-1", "failed", error_code="131026", error_title="Message undeliverable")

    final = row(message_id)
    assert final.status is S.READ and final.provider_message_id == "wamid.1"
    assert (final.sent_at, final.delivered_at, final.read_at) == (sent_at, delivered_at, read_at)
    assert final.error_code is None and final.failed_at is None


def test_statuses_in_any_order_end_where_the_furthest_one_says(app):
    campaign = campaign_on("whatsapp_cloud")
    message_id = add_row(campaign, S.UNKNOWN, idempotency_key="k-2", sent_at=utcnow() - timedelta(minutes=5))
    read_at = utcnow() - timedelta(minutes=1)

    assert settled("k-2", "read", provider_id="wamid.2", at=read_at)
    assert not settled("k-2", "delivered")
    assert not settled("k-2", "sent")
    final = row(message_id)
    assert final.status is S.READ and final.read_at == read_at and final.delivered_at == read_at
    assert final.sent_at < read_at  # the send time it had is kept


def test_a_failure_settles_an_unknown_row_with_the_providers_code_and_words(app):
    campaign = campaign_on("whatsapp_cloud")
    message_id = add_row(campaign, S.UNKNOWN, idempotency_key="k-3", sent_at=utcnow())
    at = utcnow()

    assert settled("k-3", "failed", provider_id="wamid.3", at=at, error_code="131026",
                   error_title="Message undeliverable")
    failed = row(message_id)
    assert (failed.status, failed.error_code, failed.error_message, failed.failed_at) == (
        S.FAILED, "131026", "Message undeliverable", at)
    assert failed.provider_message_id == "wamid.3"
    assert not settled("k-3", "delivered"), "the provider's failure is final"
    assert not settled("k-3", "failed", error_code="other")
    assert row(message_id).error_code == "131026"


def test_a_status_overtaking_the_batchs_own_result_settles_a_sending_row_and_frees_it(app):
    campaign = campaign_on("whatsapp_cloud")
    message_id = in_flight(campaign, lease_seconds=30)
    key = row(message_id).idempotency_key

    assert settled(key, "delivered", provider_id="wamid.4")
    delivered = row(message_id)
    assert delivered.status is S.DELIVERED and delivered.delivered_at is not None and delivered.sent_at is not None
    assert (delivered.lease_owner, delivered.lease_until) == (None, None)
    assert recover() == {"requeued": 0, "unknown": 0}


def test_a_late_status_overrules_our_own_timeout_but_not_a_providers_failure(app):
    campaign = campaign_on("whatsapp_cloud")
    timed_out = add_row(campaign, S.FAILED, idempotency_key="k-5", error_code="unknown_outcome",
                        sent_at=utcnow() - timedelta(hours=7), failed_at=utcnow())
    refused = add_row(campaign, S.FAILED, idempotency_key="k-6", error_code="131026", failed_at=utcnow())

    assert settled("k-5", "delivered", provider_id="wamid.5")
    late = row(timed_out)
    assert late.status is S.DELIVERED and late.error_code is None and late.failed_at is None
    assert not settled("k-6", "delivered")
    assert row(refused).status is S.FAILED


@pytest.mark.parametrize("status", [S.QUEUED, S.DEFERRED, S.SKIPPED])
def test_a_row_that_never_left_is_not_settled(app, status):
    campaign = campaign_on("whatsapp_cloud")
    message_id = add_row(campaign, status, idempotency_key="k-7")
    assert not settled("k-7", "sent", provider_id="wamid.7")
    assert not settled("k-7", "failed", error_code="131026")
    assert row(message_id).status is status and row(message_id).provider_message_id is None


def test_a_key_of_no_row_changes_nothing_and_only_provider_statuses_settle(app):
    assert not settled("no-such-key", "delivered")
    with pytest.raises(ValueError):
        settle("k", "queued")
    with pytest.raises(ValueError):
        settle("k", "bogus")


# --- cancel -------------------------------------------------------------------------------------------------

def rows_by_status(campaign: Campaign) -> dict[int, tuple[MessageStatus, str | None]]:
    db.session.expire_all()
    return {m.id: (m.status, m.error_code)
            for m in db.session.scalars(select(Message).where(Message.campaign_id == campaign.id))}


@pytest.mark.parametrize("status", [CampaignStatus.SENDING, CampaignStatus.PAUSED])
def test_cancelling_skips_the_rows_not_yet_sent_and_lets_those_in_flight_finish(app, status):
    campaign = campaign_on("sandbox", status)
    soon = utcnow() + timedelta(minutes=5)
    queued = add_row(campaign, S.QUEUED)
    claimed = add_row(campaign, S.QUEUED, lease_owner="batch-1", lease_until=soon)
    retry = add_row(campaign, S.QUEUED, attempts=2, not_before=soon, error_code="130429")
    deferred = add_row(campaign, S.DEFERRED, not_before=soon)
    sending = in_flight(campaign, lease_seconds=30)
    sent = add_row(campaign, S.SENT, sent_at=utcnow())
    unknown = add_row(campaign, S.UNKNOWN, sent_at=utcnow())
    other = add_row(campaign_on("sandbox"), S.QUEUED)  # another campaign's row

    campaign_specs.cancel_campaign(campaign)
    db.session.commit()

    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.CANCELLED
    assert rows_by_status(campaign) == {
        queued: (S.SKIPPED, "cancelled"), claimed: (S.SKIPPED, "cancelled"), retry: (S.SKIPPED, "cancelled"),
        deferred: (S.SKIPPED, "cancelled"), sending: (S.SENDING, None), sent: (S.SENT, None),
        unknown: (S.UNKNOWN, None),
    }
    assert row(claimed).lease_owner is None  # the batch that claimed it cannot write over it
    assert row(other).status is S.QUEUED


def test_a_row_in_flight_at_the_cancel_and_answered_with_a_retry_is_not_left_queued_for_ever(app):
    # Nothing sends a cancelled campaign's rows (right), so a retry written after the cancel would wait for ever.
    from campaigns.dispatch import results
    from campaigns.dispatch.claims import Claimed
    from campaigns.dispatch.ratelimit import Pacer
    from campaigns.dispatch.sending import Answer, InFlight
    from channels.base import ResultKind, SendResult

    campaign = campaign_on("sandbox")
    sending = in_flight(campaign, lease_seconds=30)
    campaign_specs.cancel_campaign(campaign)
    db.session.commit()
    flying = row(sending)
    item = InFlight(Claimed(flying.id, flying.phone, flying.idempotency_key, {}, 0), flying.sent_at)
    answer = Answer(item, SendResult(flying.idempotency_key, ResultKind.RETRY, code="131000", retry_after=5), utcnow())
    policy = results.Policy(campaign.id, campaign.sender_id, "batch-1", True, 8, 2.0)
    results.record(policy, [answer], Pacer(redis_queues.connection))
    db.session.commit()
    assert row(sending).status is S.QUEUED  # the batch did not know of the cancel

    assert sweep()["cancelled"] == 1
    db.session.commit()
    assert rows_by_status(campaign) == {sending: (S.SKIPPED, "cancelled")}
    assert batch_campaigns() == []


def test_a_cancel_that_rolls_back_skips_nothing(app):
    campaign = campaign_on("sandbox")
    queued = add_row(campaign, S.QUEUED)
    campaign_specs.cancel_campaign(campaign)
    db.session.rollback()
    assert row(queued).status is S.QUEUED
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.SENDING


def test_a_cancel_that_is_refused_skips_nothing(app):
    campaign = campaign_on("sandbox", CampaignStatus.COMPLETED)
    queued = add_row(campaign, S.QUEUED)
    with pytest.raises(TransitionError):
        campaign_specs.cancel_campaign(campaign)
    db.session.commit()
    assert row(queued).status is S.QUEUED


def test_cancelling_through_the_api_skips_the_unsent_rows(app, call_as):
    campaign = campaign_on("sandbox")
    queued = add_row(campaign, S.QUEUED)
    response = call_as("POST", f"/campaigns/{campaign.id}/cancel", json={"reason": "wrong audience"})
    assert response.status_code == 200, response.get_json()
    assert row(queued).status is S.SKIPPED and row(queued).error_code == "cancelled"


# --- the sweep ---------------------------------------------------------------------------------------------

def batch_campaigns() -> list[int]:
    """The campaigns that have a batch job in the dispatch queue, one entry per job."""
    queue = redis_queues.queue(DISPATCH_QUEUE)
    return sorted(job.args[0] for job in queue.jobs if job.func is send_batch)


def status_of(campaign: Campaign) -> CampaignStatus:
    db.session.expire_all()
    return db.session.get(Campaign, campaign.id).status


def test_the_sweep_enqueues_the_batches_of_campaigns_with_due_rows_only_and_completes_the_finished(app):
    past, soon = utcnow() - timedelta(seconds=5), utcnow() + timedelta(minutes=10)
    window_opened = campaign_on("sandbox")
    add_row(window_opened, S.DEFERRED, not_before=past)
    add_row(window_opened, S.SENT, sent_at=past)
    retry_due = campaign_on("sandbox")
    add_row(retry_due, S.QUEUED, attempts=1, not_before=past, error_code="130429")
    worker_died = campaign_on("sandbox")
    recovered = in_flight(worker_died, lease_seconds=-5)
    waiting = campaign_on("sandbox")
    add_row(waiting, S.DEFERRED, not_before=soon)
    add_row(waiting, S.QUEUED, attempts=1, not_before=soon)
    claimed = campaign_on("sandbox")
    add_row(claimed, S.QUEUED, lease_owner="batch-1", lease_until=soon)
    paused = campaign_on("sandbox", CampaignStatus.PAUSED)
    add_row(paused, S.QUEUED)
    finished = campaign_on("whatsapp_cloud")
    add_row(finished, S.SENT, sent_at=past)
    add_row(finished, S.SKIPPED, error_code="opted_out")
    doubtful = in_flight(finished, lease_seconds=-5)  # becomes unknown, which does not hold the campaign open

    counts = sweep()
    assert batch_campaigns() == [], "nothing may reach Redis before the sweep commits"
    db.session.commit()

    assert counts == {"requeued": 1, "unknown": 1, "failed_unknown": 0, "cancelled": 0, "fallen_back": 0,
                      "due": 3, "completed": 1}
    assert batch_campaigns() == sorted([window_opened.id, retry_due.id, worker_died.id])
    assert row(recovered).status is S.QUEUED and row(doubtful).status is S.UNKNOWN
    assert status_of(finished) is CampaignStatus.COMPLETED
    for still in (window_opened, retry_due, worker_died, waiting, claimed):
        assert status_of(still) is CampaignStatus.SENDING
    assert status_of(paused) is CampaignStatus.PAUSED

    sweep_dispatch()  # the job: batches still queued are not enqueued twice
    assert batch_campaigns() == sorted([window_opened.id, retry_due.id, worker_died.id])


def test_the_sweep_fails_the_unknown_rows_past_their_time(app):
    app.config["DISPATCH_UNKNOWN_SECONDS"] = 60
    campaign = campaign_on("whatsapp_cloud", CampaignStatus.COMPLETED)
    old = add_row(campaign, S.UNKNOWN, sent_at=utcnow() - timedelta(seconds=61))
    assert sweep_dispatch()["failed_unknown"] == 1
    assert row(old).status is S.FAILED and row(old).error_code == "unknown_outcome"


def test_the_sweep_is_one_job_with_a_fixed_id_on_the_dispatch_queue(app):
    first, second = enqueue_sweep_dispatch(), enqueue_sweep_dispatch()
    assert first.id == second.id == "sweep_dispatch" and first.func is sweep_dispatch
    assert redis_queues.queue("dispatch").job_ids == ["sweep_dispatch"]


def test_the_sweep_runs_on_cron_every_dispatch_sweep_seconds_of_the_apps_config(app):
    [periodic] = [job for job in PERIODIC_JOBS if job.enqueue is enqueue_sweep_dispatch]
    app.config["DISPATCH_SWEEP_SECONDS"] = 7
    assert periodic.interval(app.config) == timedelta(seconds=7)
    assert cron.HelperCronJob(app, periodic).interval == 7
    app.config["DISPATCH_SWEEP_SECONDS"] = 30
    assert cron.HelperCronJob(app, periodic).interval == 30


@pytest.mark.slow
@pytest.mark.one_database
def test_a_real_workers_cron_sweeps_again_every_dispatch_sweep_seconds(app, start_worker):
    """The interval comes from the worker's own settings (its environment): the sweep runs once when the
    scheduler takes the lease, and again a second later, recovering a lease that expired in between."""
    campaign = campaign_on("whatsapp_cloud")
    add_row(campaign, S.SENT, sent_at=utcnow())
    worker = start_worker(DISPATCH_SWEEP_SECONDS="1", CRON_LEASE_SECONDS="3")

    wait_for(lambda: status_of(campaign) is CampaignStatus.COMPLETED, "the first sweep to complete the campaign")
    later = campaign_on("whatsapp_cloud")
    doubtful = in_flight(later, lease_seconds=-1)
    # Well within the default interval (15 s): only a sweep every second gets here in time.
    wait_for(lambda: row(doubtful).status is S.UNKNOWN, "a later sweep to recover the expired lease", timeout=8)
    wait_for(lambda: status_of(later) is CampaignStatus.COMPLETED, "the sweep to complete the second campaign")

    worker.observe_children()
    worker.popen.send_signal(signal.SIGTERM)
    finished_cleanly(worker)


# --- through the sandbox: a worker killed mid-send -------------------------------------------------------

def died_in_flight(message_ids: list[int]) -> None:
    """What a worker killed mid-send leaves: the rows ``sending`` under a lease that ran out, their answers
    (if the requests left at all) never recorded."""
    now = utcnow()
    db.session.execute(update(Message).where(Message.id.in_(message_ids))
                       .values(status=S.SENDING, lease_owner="dead-batch", lease_until=now - timedelta(seconds=1),
                               sent_at=now - timedelta(seconds=70), provider_message_id=None, attempts=1))
    db.session.commit()


def run_enqueued_batches() -> int:
    """Run the batch jobs waiting in the dispatch queue, as a worker would; returns how many ran."""
    batches = [job for job in redis_queues.queue(DISPATCH_QUEUE).jobs if job.func is send_batch]
    for job in batches:
        send_batch(*job.args)
    return len(batches)


def half_sent_campaign(sender: Sender, template) -> tuple[Campaign, list[Message], list[Message]]:
    """Four recipients: the provider accepted two (their answers lost), two requests never left; all four
    ``sending`` under an expired lease."""
    people(4)
    campaign = sending_campaign(sender, template)
    first = campaign_rows(campaign.id)
    never_left, accepted = first[:2], first[2:]
    died_in_flight([m.id for m in never_left])
    send_all(campaign.id)  # the batch before the kill: only the rows it could claim
    died_in_flight([m.id for m in accepted])
    return campaign, never_left, accepted


def test_a_killed_workers_rows_on_an_idempotent_channel_go_again_with_their_keys_and_arrive_once(app, sandbox,
                                                                                                 fast_sender):
    campaign, never_left, accepted = half_sent_campaign(fast_sender, sandbox_template(fast_sender))
    assert sorted(ledger_keys(sandbox)) == sorted(m.idempotency_key for m in accepted)

    assert sweep_dispatch()["requeued"] == 4
    assert run_enqueued_batches() >= 1

    final = campaign_rows(campaign.id)
    ledger = {message["key"]: message for message in sandbox.ledger()["messages"]}
    assert len(sandbox.ledger()["messages"]) == 4, "one accepted message per recipient"
    assert sorted(ledger) == sorted(m.idempotency_key for m in final)
    assert {m.status for m in final} == {S.SENT}
    assert all(m.provider_message_id == ledger[m.idempotency_key]["id"] for m in final)
    # The accepted ones were sent again under the same key, and the provider took it as the same message.
    assert {ledger[m.idempotency_key]["attempts"] for m in accepted} == {2}
    assert {ledger[m.idempotency_key]["attempts"] for m in never_left} == {1}
    assert status_of(campaign) is CampaignStatus.COMPLETED


def test_a_killed_workers_rows_on_a_channel_that_is_not_idempotent_are_never_sent_again_and_settle_by_status(
        app, sandbox, fast_sender, callback_receiver):
    sandbox.configure(idempotency=False)  # the real Cloud API: a repeated request is a second message
    calls_back(sandbox, callback_receiver, read=1, reorder=0.5, duplicate=0.5)
    cloud = senders.create_sender("Cloud", "+74950000002", channel="whatsapp_cloud", base_url=sandbox.url,
                                  phone_number_id=sandbox_defaults.PHONE_NUMBER_ID, waba_id=sandbox_defaults.WABA_ID,
                                  access_token=sandbox_defaults.TOKEN, messages_per_second=1000)
    db.session.commit()
    campaign, never_left, accepted = half_sent_campaign(cloud, sandbox_template(fast_sender))

    counts = sweep_dispatch()
    assert (counts["requeued"], counts["unknown"]) == (0, 4)
    assert run_enqueued_batches() == 0
    send_all(campaign.id)  # even a batch run over every range finds nothing to send
    assert sorted(ledger_keys(sandbox)) == sorted(m.idempotency_key for m in accepted), "nothing went twice"
    assert status_of(campaign) is CampaignStatus.COMPLETED  # unknown rows do not hold it open

    # The provider's statuses carry our key: they settle the two that went, in whatever order they come.
    def statuses() -> list[StatusEvent]:
        return [event for webhook in callback_receiver.wait_for(1) for event in webhooks_parse(webhook.body)
                if isinstance(event, StatusEvent)]

    def all_read() -> list[StatusEvent]:
        # Counting events is not enough: with duplicates on, six may come before both "read"s have.
        events = statuses()
        read = {event.key for event in events if event.status.value == "read"}
        return events if read >= {m.idempotency_key for m in accepted} else []

    events = wait_for(all_read, "the statuses of both messages, up to read")
    for event in events:
        settle(event.key, event.status.value, provider_id=event.provider_id, at=event.at,
               error_code=event.error_code, error_title=event.error_title)
    db.session.commit()
    ledger = {message["key"]: message["id"] for message in sandbox.ledger()["messages"]}
    by_key = {m.idempotency_key: m for m in campaign_rows(campaign.id)}
    for message in accepted:
        settled_row = by_key[message.idempotency_key]
        assert (settled_row.status, settled_row.provider_message_id) == (S.READ, ledger[message.idempotency_key])
    assert {by_key[m.idempotency_key].status for m in never_left} == {S.UNKNOWN}

    # Those no status settles fail as unknown_outcome once their time is up, never counted as sent.
    assert fail_unsettled(utcnow() + timedelta(seconds=app.config["DISPATCH_UNKNOWN_SECONDS"])) == 2
    db.session.commit()
    by_key = {m.idempotency_key: m for m in campaign_rows(campaign.id)}
    assert {(by_key[m.idempotency_key].status, by_key[m.idempotency_key].error_code) for m in never_left} == {
        (S.FAILED, "unknown_outcome")}
    assert {by_key[m.idempotency_key].status for m in accepted} == {S.READ}
