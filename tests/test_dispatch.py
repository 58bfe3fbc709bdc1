"""Dispatch, in process: ``send_batch`` called directly against the real sandbox and a real Redis, on SQLite
and PostgreSQL. Each test counts from the sandbox's ledger (what the provider accepted) and the rows."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import count as counter
from itertools import pairwise
from time import monotonic
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from rq.job import Job
from sqlalchemy import select, text, update

from audience.models import Contact, Segment
from campaigns import jobs as campaign_jobs
from campaigns import launch, senders, template_approvals, test_sends
from campaigns import message_templates as templates
from campaigns.content import content_hash
from campaigns.dispatch import batch, claims, completion, gate, results
from campaigns.dispatch import jobs as dispatch_jobs
from campaigns.dispatch.sending import InFlight, Outbounds, Pipeline
from campaigns.dispatch.sending import slot_times as batch_slot_times
from campaigns.lifecycle import transition
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Sender, Template
from channels.sandbox import defaults as sandbox_defaults
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db, redis_queues
from tests.campaign_world import provider_status_everywhere
from tests.processes import wait_for
from tests.records import audit_events, suppress, suppression_rows
from tests.test_materialise import add_campaign, add_contact

_names = counter(1)
VARIABLES = {"1": {"source": "field", "value": "name", "fallback": "friend"},
             "2": {"source": "constant", "value": "Monday"}}


def rows(campaign_id: int) -> list[Message]:
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.scalars(select(Message).where(Message.campaign_id == campaign_id).order_by(Message.id)))


def launched(contacts: int, **options) -> Campaign:
    """A campaign in ``sending`` with one queued row per contact (launched for real: materialised)."""
    for index in range(contacts):
        add_contact(name=f"Контакт {index}")
    campaign = add_campaign(status=CampaignStatus.SCHEDULED, **options)
    assert launch.launch(campaign.id).launched
    db.session.commit()
    return db.session.get(Campaign, campaign.id)


# --- claims -----------------------------------------------------------------------------------------

def test_a_claim_leases_due_rows_of_the_range_in_id_order_and_a_second_claim_gets_others(app):
    campaign = launched(6)
    ids = [row.id for row in rows(campaign.id)]
    now = utcnow()
    db.session.execute(update(Message).where(Message.id == ids[1]).values(not_before=now + timedelta(minutes=5)))
    db.session.execute(update(Message).where(Message.id == ids[2]).values(status=MessageStatus.SENT))
    db.session.commit()

    first = claims.claim(campaign.id, ids[0], ids[4], "a", 2, now, 60)
    db.session.commit()
    assert [row.id for row in first] == [ids[0], ids[3]]  # not the future one, not the sent one
    assert first[0].key and first[0].phone.startswith("+7") and first[0].attempts == 0
    second = claims.claim(campaign.id, ids[0], ids[4], "b", 10, now, 60)
    db.session.commit()
    assert [row.id for row in second] == [ids[4]]  # the range ends at ids[4]; a's rows are leased
    held = {row.id: (row.lease_owner, row.status) for row in rows(campaign.id)}
    assert held[ids[0]] == ("a", MessageStatus.QUEUED) and held[ids[4]] == ("b", MessageStatus.QUEUED)

    # An expired lease makes a row claimable again (its worker died before it went "sending").
    later = now + timedelta(seconds=61)
    third = claims.claim(campaign.id, ids[0], ids[5], "c", 10, later, 60)
    db.session.commit()
    assert [row.id for row in third] == [ids[0], ids[3], ids[4], ids[5]]


def test_renew_and_release_touch_only_the_owners_rows(app):
    campaign = launched(4)
    ids = [row.id for row in rows(campaign.id)]
    now = utcnow()
    claims.claim(campaign.id, ids[0], ids[1], "a", 10, now, 60)
    claims.claim(campaign.id, ids[2], ids[3], "b", 10, now, 60)
    db.session.commit()
    assert claims.renew("a", ids[0], ids[3], now + timedelta(seconds=30), 60) == 2
    later = now + timedelta(hours=1)
    assert claims.release("a", ids[0], ids[3], ids=[ids[0]], not_before=later) == 1
    assert claims.release("a", ids[0], ids[3]) == 1
    db.session.commit()
    by_id = {row.id: row for row in rows(campaign.id)}
    assert by_id[ids[0]].lease_owner is None and by_id[ids[0]].not_before == later
    assert by_id[ids[1]].lease_owner is None and by_id[ids[1]].not_before is None
    assert {by_id[ids[2]].lease_owner, by_id[ids[3]].lease_owner} == {"b"}


# --- jobs ---------------------------------------------------------------------------------------------

def test_enqueue_batches_makes_one_job_per_range_with_due_rows_and_never_doubles_one(app):
    app.config["DISPATCH_BATCH_SIZE"] = 3
    campaign = launched(7)
    ids = [row.id for row in rows(campaign.id)]
    # The rows of one range are all sent already: it gets no job.
    first_range = {row_id for row_id in ids if row_id // 3 == ids[0] // 3}
    db.session.execute(update(Message).where(Message.id.in_(first_range)).values(status=MessageStatus.SENT))
    db.session.commit()
    expected = sorted({row_id // 3 for row_id in ids} - {ids[0] // 3})

    assert dispatch_jobs.enqueue_batches(campaign.id) == len(expected)
    queue = redis_queues.queue("dispatch")
    wanted = [dispatch_jobs.batch_job_id(campaign.id, bucket * 3) for bucket in expected]
    assert sorted(queue.job_ids) == sorted(wanted)
    job = Job.fetch(wanted[0], connection=redis_queues.connection)
    assert job.func_name == "campaigns.dispatch.jobs.send_batch"
    assert job.args == (campaign.id, expected[0] * 3, expected[0] * 3 + 2, 0)
    assert job.timeout > 3 * app.config["DISPATCH_LEASE_SECONDS"] and job.retries_left == dispatch_jobs.BATCH_RETRIES

    assert dispatch_jobs.enqueue_batches(campaign.id) == len(expected)  # the sweep asking again
    assert sorted(queue.job_ids) == sorted(wanted)


def test_the_launch_job_enqueues_the_batches_after_its_commit(app):
    for index in range(3):
        add_contact(name=f"Контакт {index}")
    campaign = add_campaign(status=CampaignStatus.SCHEDULED)
    assert campaign_jobs.launch_campaign(campaign.id)["launched"]
    [job_id] = redis_queues.queue("dispatch").job_ids
    first_id = rows(campaign.id)[0].id
    size = app.config["DISPATCH_BATCH_SIZE"]
    assert job_id == dispatch_jobs.batch_job_id(campaign.id, first_id // size * size)


# --- completion ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("open_status", [MessageStatus.QUEUED, MessageStatus.DEFERRED, MessageStatus.SENDING])
def test_a_campaign_completes_only_when_no_row_is_left_to_send(app, open_status):
    campaign = launched(3)
    ids = [row.id for row in rows(campaign.id)]
    db.session.execute(update(Message).where(Message.id == ids[0]).values(status=MessageStatus.UNKNOWN))
    db.session.execute(update(Message).where(Message.id == ids[1]).values(status=MessageStatus.FAILED))
    db.session.execute(update(Message).where(Message.id == ids[2]).values(status=open_status))
    db.session.commit()
    assert completion.complete_if_done(campaign.id) is False
    db.session.execute(update(Message).where(Message.id == ids[2]).values(status=MessageStatus.SKIPPED))
    db.session.commit()
    assert completion.complete_if_done(campaign.id) is True  # an unknown row does not hold it open
    db.session.commit()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.COMPLETED
    assert [event.details["to"] for event in audit_events("campaign.complete")] == ["completed"]
    assert completion.complete_if_done(campaign.id) is False


def test_a_paused_campaign_is_not_completed_by_a_batch(app):
    campaign = launched(1)
    db.session.execute(update(Message).where(Message.campaign_id == campaign.id).values(status=MessageStatus.SENT))
    db.session.execute(update(Campaign).where(Campaign.id == campaign.id).values(status=CampaignStatus.PAUSED))
    db.session.commit()
    assert completion.complete_if_done(campaign.id) is False




# --- sending to the sandbox ---------------------------------------------------------------------------

def zone_at(hour: int) -> str:
    """A zone whose local time is now ``hour``:xx (an Etc/GMT offset zone: no daylight saving)."""
    offset = (hour - utcnow().hour + 12) % 24 - 12
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


@pytest.fixture
def fast_sender(sandbox_sender) -> Sender:
    """The sandbox sender, at a throughput that does not slow the tests down."""
    sandbox_sender.messages_per_second = 1000
    db.session.commit()
    return sandbox_sender


def sandbox_template(sender: Sender) -> Template:
    """A marketing template the sandbox approved for ``sender``'s account."""
    from tests.test_message_templates import spec

    template = templates.create_template(spec(name=f"dispatch_{next(_names)}"))
    db.session.commit()
    template_approvals.submit(template, sender=sender)
    db.session.commit()
    return template


def people(count: int, zone: str | None = None) -> list[Contact]:
    """Contacts (RU, consented) whose local time is around noon, unless ``zone`` says otherwise."""
    made = [add_contact(name=f"Person {next(_names)}", timezone=zone or zone_at(12)) for _ in range(count)]
    db.session.commit()
    return made


def sending_campaign(sender: Sender, template: Template, *, rate: int = 1000,
                     cascade: list[dict] | None = None) -> Campaign:
    """A campaign to every contact so far (with ``cascade``: tried on its steps), launched for real (rows
    materialised), in ``sending``."""
    number = next(_names)
    segment = Segment(name=f"Dispatch {number}", definition={"countries": ["RU"]})
    db.session.add(segment)
    db.session.flush()
    campaign = Campaign(name=f"Dispatch {number}", sender_id=sender.id, template_id=template.id,
                        segment_id=segment.id, variables=VARIABLES, status=CampaignStatus.SCHEDULED,
                        messages_per_second=rate, cascade=cascade)
    db.session.add(campaign)
    db.session.flush()
    campaign.content_hash = campaign.approved_hash = content_hash(campaign)
    db.session.commit()
    assert launch.launch(campaign.id).launched
    db.session.commit()
    return campaign


def ranges(campaign_id: int) -> list[tuple[int, int]]:
    size = current_app.config["DISPATCH_BATCH_SIZE"]
    buckets = sorted({row.id // size for row in rows(campaign_id)})
    return [(bucket * size, bucket * size + size - 1) for bucket in buckets]


def send_all(campaign_id: int) -> list[dict]:
    """Run the batch job of every range of the campaign, as the workers would."""
    return [dispatch_jobs.send_batch(campaign_id, first, last) for first, last in ranges(campaign_id)]


def ledger_keys(sandbox) -> list[str]:
    return [message["key"] for message in sandbox.ledger()["messages"]]


def campaign_status(campaign_id: int) -> CampaignStatus:
    db.session.rollback()
    return db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))


def make_due(campaign_id: int) -> None:
    """Time passes: every retry's backoff is over (instead of waiting for it)."""
    db.session.execute(update(Message).where(Message.campaign_id == campaign_id, Message.status == MessageStatus.QUEUED)
                       .values(not_before=utcnow() - timedelta(seconds=1)))
    db.session.commit()


def test_a_campaign_drains_to_the_provider_exactly_once_per_recipient_and_completes(app, sandbox, fast_sender):
    app.config["DISPATCH_BATCH_SIZE"] = 4
    people(10)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    outcomes = send_all(campaign.id)
    assert len(outcomes) >= 3 and sum(outcome["counts"].get("sent", 0) for outcome in outcomes) == 10
    assert send_all(campaign.id) == [{"claimed": 0, "counts": {}, "stopped": "completed", "completed": False}] * len(
        outcomes)  # a second run of every job (the sweep, a retried job) finds nothing to send

    ledger = sandbox.ledger()
    assert ledger["counts"]["duplicates"] == 0
    by_key = {message["key"]: message for message in ledger["messages"]}
    sent = rows(campaign.id)
    assert sorted(ledger_keys(sandbox)) == sorted(row.idempotency_key for row in sent)
    for row in sent:
        message = by_key[row.idempotency_key]
        assert message["to"] == row.phone.lstrip("+")
        assert (row.status, row.provider_message_id, row.attempts) == (MessageStatus.SENT, message["id"], 1)
        assert row.sent_at is not None and row.lease_owner is None and row.lease_until is None
        assert row.error_code is None
        body = next(c for c in message["template"]["components"] if c["type"] == "body")
        assert [p["text"] for p in body["parameters"]] == [row.variables["1"], "Monday"]
    assert campaign_status(campaign.id) is CampaignStatus.COMPLETED
    assert [event.details["to"] for event in audit_events("campaign.complete")] == ["completed"]


def test_a_rows_message_is_built_as_the_test_send_builds_it(app, fast_sender):
    template = sandbox_template(fast_sender)
    row = claims.Claimed(1, "+79031234567", "7-9", {"1": "Анна", "2": "Monday"}, 0)
    assert Outbounds(template).build(row) == test_sends.outbound_for(template, row.phone, row.variables, row.key)
    blank = claims.Claimed(2, "+79031234568", "7-10", {"1": "", "2": "Monday"}, 0)  # the example fills a gap
    assert Outbounds(template).build(blank) == test_sends.outbound_for(template, blank.phone, blank.variables,
                                                                         blank.key)


def test_sends_leave_at_the_campaigns_rate(app, sandbox, fast_sender):
    people(11)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender), rate=20)
    send_all(campaign.id)
    times = sorted(message["at"] for message in sandbox.ledger()["messages"])
    assert len(times) == 11
    # Ten intervals of 1/20 s at least (less the pacer's margin): a batch that sent them all at once fails.
    assert times[-1] - times[0] >= 10 / 20 * 0.9
    # Paced one by one, not in pairs or bursts: nearly every interval is near 1/20 s. A send the starved
    # machine delayed past its slot leaves one short interval to the next on-time send, which is the pacer
    # keeping to the rate, so two such intervals are allowed; sending in pairs would make five.
    short = [later - earlier for earlier, later in pairwise(times) if later - earlier <= 1 / 20 * 0.5]
    assert len(short) <= 2, short


def test_a_message_whose_slot_passed_during_a_stall_is_not_sent_on_it(app, sandbox, fast_sender):
    """Sent at once, overdue messages would bunch with the slots after them (every worker's slots are one
    spaced stream): a lane hands a late one back instead, and it leaves on a fresh slot."""
    [contact] = people(1)
    pipeline = Pipeline(senders.settings_for(fast_sender), in_flight=2, timeout_seconds=5)
    pipeline.start()
    try:
        row = claims.Claimed(id=1, phone=contact.phone, key="late-1", variables=dict.fromkeys(VARIABLES, "x"),
                             attempts=0)
        outbound = Outbounds(sandbox_template(fast_sender)).build(row)
        item = InFlight(row, utcnow())
        pipeline.submit([(item, outbound, monotonic() - 1)])  # its slot passed a second ago
        missed = wait_for(pipeline.take_missed, "the late message to be handed back")
        assert [entry[0] for entry in missed] == [item] and pipeline.pending == 1
        assert ledger_keys(sandbox) == []
        pipeline.submit([(item, outbound, monotonic())], again=True)
        [answer] = wait_for(lambda: pipeline.take(wait=0.1), "the answer on the fresh slot")
        assert answer.result.accepted and pipeline.pending == 0
        assert ledger_keys(sandbox) == ["late-1"]
    finally:
        pipeline.stop()


def test_a_batch_gives_messages_that_missed_their_slots_fresh_ones_and_sends_each_once(app, sandbox, fast_sender,
                                                                                    monkeypatch):
    people(6)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    stalled = iter([True])

    def stalling(offsets):  # the first sub-chunk's slots as if the job's thread had stalled for two seconds
        slots = batch_slot_times(offsets)
        return [slot - 2 for slot in slots] if next(stalled, False) else slots

    monkeypatch.setattr(batch, "slot_times", stalling)
    outcomes = send_all(campaign.id)

    # Each stalled message is reslotted; on a loaded machine a fresh slot can itself be missed by more than
    # sending.LATE_SECONDS and be reslotted once more, which is the rule working, not a second send.
    assert sum(outcome["counts"].get("reslotted", 0) for outcome in outcomes) >= 6
    assert sorted(ledger_keys(sandbox)) == sorted(row.idempotency_key for row in rows(campaign.id))
    assert {row.status for row in rows(campaign.id)} == {MessageStatus.SENT}


def test_a_number_opted_out_between_two_batches_gets_nothing(app, sandbox, fast_sender):
    app.config["DISPATCH_BATCH_SIZE"] = 3
    people(6)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    (first, last), *later = ranges(campaign.id)
    dispatch_jobs.send_batch(campaign.id, first, last)
    waiting = [row for row in rows(campaign.id) if row.status is MessageStatus.QUEUED]
    opted_out = waiting[0]
    suppress(opted_out.phone)  # the STOP reply is processed while the campaign is sending
    for first, last in later:
        dispatch_jobs.send_batch(campaign.id, first, last)

    after = {row.id: row for row in rows(campaign.id)}
    assert opted_out.idempotency_key not in ledger_keys(sandbox)
    assert (after[opted_out.id].status, after[opted_out.id].error_code) == (MessageStatus.SKIPPED, "opted_out")
    assert after[opted_out.id].lease_owner is None
    assert sorted(ledger_keys(sandbox)) == sorted(row.idempotency_key for row in after.values()
                                                  if row.id != opted_out.id)
    assert campaign_status(campaign.id) is CampaignStatus.COMPLETED


def test_outside_the_send_window_a_row_waits_for_the_window_in_the_recipients_zone(app, sandbox, fast_sender):
    zone = zone_at(3)  # 03:xx there: the default window opens at 09:00
    [night] = people(1, zone=zone)
    [day] = people(1)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    send_all(campaign.id)

    by_contact = {row.contact_id: row for row in rows(campaign.id)}
    local = utcnow().astimezone(ZoneInfo(zone))
    opening = datetime.combine(local.date(), time(9), ZoneInfo(zone)).astimezone(UTC)
    waiting = by_contact[night.id]
    assert (waiting.status, waiting.not_before, waiting.lease_owner) == (MessageStatus.DEFERRED, opening, None)
    assert ledger_keys(sandbox) == [by_contact[day.id].idempotency_key]
    assert campaign_status(campaign.id) is CampaignStatus.SENDING  # the deferred row holds it open
    assert dispatch_jobs.enqueue_batches(campaign.id) == 0  # not due before 09:00 in its zone


def test_the_daily_cap_holds_across_two_campaigns_sending_to_one_number_at_once(app, sandbox, fast_sender,
                                                                                 monkeypatch):
    [person] = people(1)
    template = sandbox_template(fast_sender)
    first, second = sending_campaign(fast_sender, template), sending_campaign(fast_sender, template)
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    both_in_gate = threading.Barrier(2, timeout=20)
    real_check, real_facts = gate.check, gate.message_facts
    judged: list[int] = []
    overlapped = threading.Event()

    def check(*args, **kwargs):
        both_in_gate.wait()  # the two batches judge the number at the same moment
        return real_check(*args, **kwargs)

    def facts(*args, **kwargs):
        found = real_facts(*args, **kwargs)
        judged.append(1)
        if len(judged) == 1:
            # The first gate holds the number; the second must wait for it before it reads anything.
            if postgresql:
                waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
                with db.engine.connect() as connection:
                    wait_for(lambda: connection.execute(waiting).scalar(), "the second gate to wait for the lock",
                             timeout=10)
            if overlapped.wait(timeout=0 if postgresql else 1.0):
                pytest.fail("the second gate read the number's facts while the first one held it")
        else:
            overlapped.set()
        return found

    monkeypatch.setattr(gate, "check", check)
    monkeypatch.setattr(gate, "message_facts", facts)
    errors: list[BaseException] = []

    def run(campaign_id: int) -> None:
        try:
            with app.app_context():
                send_all(campaign_id)
        except BaseException as error:  # reported by the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(campaign.id,)) for campaign in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert [message["to"] for message in sandbox.ledger()["messages"]] == [person.phone.lstrip("+")]
    outcomes = sorted((row.status.value, row.error_code or "") for row in rows(first.id) + rows(second.id))
    assert outcomes == [("sent", ""), ("skipped", "frequency_cap")]


def test_throttling_and_server_errors_are_retried_until_sent_and_nothing_goes_twice(app, sandbox, fast_sender):
    app.config["DISPATCH_BACKOFF_SECONDS"] = 0.01
    people(30)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    sandbox.configure(faults={"http_429": 0.1, "code_130429": 0.1, "http_500": 0.1}, retry_after=0)
    for _round in range(20):
        send_all(campaign.id)
        if all(row.status is MessageStatus.SENT for row in rows(campaign.id)):
            break
        make_due(campaign.id)  # the 500s' backoff (5 s) is the sweep's, not this batch's
    final = rows(campaign.id)
    assert all(row.status is MessageStatus.SENT and row.error_code is None for row in final)
    ledger = sandbox.ledger()
    assert ledger["counts"]["duplicates"] == 0
    assert sorted(ledger_keys(sandbox)) == sorted(row.idempotency_key for row in final)
    assert sum(ledger["errors_by_code"].values()) > 0 and max(row.attempts for row in final) > 1
    sends = [request for request in ledger["requests"] if request["path"].endswith("/messages")]
    assert len(sends) == sum(row.attempts for row in final)  # every attempt was one request, and counted
    assert campaign_status(campaign.id) is CampaignStatus.COMPLETED


def test_a_sender_wide_throttle_slows_every_send_of_the_sender_and_honours_retry_after(app, sandbox, fast_sender):
    people(3)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    sandbox.configure(faults={"code_130429": 1.0}, retry_after=7)
    before = utcnow()
    send_all(campaign.id)
    throttled = rows(campaign.id)
    assert all(row.status is MessageStatus.QUEUED and row.lease_owner is None for row in throttled)
    assert all(row.not_before >= before + timedelta(seconds=7) for row in throttled)
    assert {row.error_code for row in throttled if row.attempts} == {"130429"}
    # The shared pacer holds the sender back for every worker: its next slot is ~7 s away.
    from campaigns.dispatch.ratelimit import Pacer

    [slot] = Pacer(redis_queues.connection).reserve([(f"sender:{fast_sender.id}", 1000)], 1)
    assert slot > 6


def test_a_transient_failure_fails_the_row_once_its_attempts_are_used_up(app, sandbox, fast_sender):
    app.config["DISPATCH_MAX_ATTEMPTS"] = 2
    people(1)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    sandbox.configure(faults={"http_500": 1.0})
    send_all(campaign.id)
    [row] = rows(campaign.id)
    assert (row.status, row.attempts, row.error_code) == (MessageStatus.QUEUED, 1, "131000")
    make_due(campaign.id)
    send_all(campaign.id)
    [row] = rows(campaign.id)
    assert (row.status, row.attempts, row.error_code) == (MessageStatus.FAILED, 2, "131000")
    assert row.failed_at is not None and "Something went wrong" in row.error_message
    assert campaign_status(campaign.id) is CampaignStatus.COMPLETED


def test_a_permanent_failure_keeps_the_providers_code_and_words_and_a_template_failure_pauses(app, sandbox,
                                                                                               fast_sender):
    # Approved in our database only: the provider has no such template, and says so for every message.
    from tests.test_message_templates import spec

    template = templates.create_template(spec(name="never_submitted"))
    template_approvals.set_status(template, "approved")
    db.session.commit()
    people(3)
    campaign = sending_campaign(fast_sender, template)
    send_all(campaign.id)
    failed = rows(campaign.id)
    assert {row.status for row in failed} == {MessageStatus.FAILED}
    for row in failed:
        assert row.error_code == "132001" and row.failed_at is not None
        assert "Template name does not exist in the translation" in row.error_message  # the provider's words
        assert row.idempotency_key not in ledger_keys(sandbox)
    assert campaign_status(campaign.id) is CampaignStatus.PAUSED
    [paused] = audit_events("campaign.pause")
    assert paused.details["reason"] == "The provider has no approved template of this name in this language."
    assert paused.details["code"] == "132001"


class RefusingProvider:
    """A Cloud API that answers every send with one error (the sandbox reports these only in webhooks)."""

    def __init__(self, code: int, message: str) -> None:
        body = json.dumps({"error": {"message": message, "type": "OAuthException", "code": code,
                                     "fbtrace_id": "x"}}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def refusing_campaign(sender: Sender, code: int, message: str) -> Iterator[tuple[Campaign, Contact]]:
    """A campaign to one new person, its sender pointed at a provider that refuses every send with ``code``
    (stopped when the block ends)."""
    template = sandbox_template(sender)
    provider = RefusingProvider(code, message)
    try:
        senders.update_sender(sender, {"base_url": provider.url})
        provider_status_everywhere(template)
        db.session.commit()
        [person] = people(1)
        yield sending_campaign(sender, template), person
    finally:
        provider.stop()


def test_a_recipient_who_stopped_marketing_is_suppressed_as_an_opt_out(app, sandbox, fast_sender):
    stopped = ("(#131050) Unable to deliver the message. This recipient has chosen to stop receiving marketing "
               "messages on WhatsApp from your business.")
    with refusing_campaign(fast_sender, 131050, stopped) as (campaign, person):
        send_all(campaign.id)
    [row] = rows(campaign.id)
    assert (row.status, row.error_code) == (MessageStatus.FAILED, "131050")
    assert "chosen to stop receiving marketing messages" in row.error_message
    [entry] = suppression_rows(person.phone)
    assert (entry.reason, entry.source, entry.lifted_at) == (SuppressionReason.OPT_OUT, results.SUPPRESSION_SOURCE,
                                                             None)
    assert "131050" in entry.evidence
    # One person's opt-out is no reason to stop the campaign.
    assert campaign_status(campaign.id) is CampaignStatus.COMPLETED


@pytest.mark.parametrize("channel", ["whatsapp_cloud", "sandbox"])
def test_a_send_that_timed_out_is_unknown_on_a_channel_without_idempotency_and_never_sent_twice(app, sandbox,
                                                                                                 fast_sender, channel):
    app.config["DISPATCH_SEND_TIMEOUT_SECONDS"] = 0.3
    template = sandbox_template(fast_sender)
    sender = fast_sender
    if channel == "whatsapp_cloud":  # the real Cloud API's behaviour: a repeated request is a second message
        sandbox.configure(idempotency=False)
        sender = senders.create_sender("Cloud", "+74950000002", channel="whatsapp_cloud", base_url=sandbox.url,
                                       phone_number_id=sandbox_defaults.PHONE_NUMBER_ID,
                                       waba_id=sandbox_defaults.WABA_ID, access_token=sandbox_defaults.TOKEN,
                                       messages_per_second=1000)
        db.session.commit()
    sandbox.configure(faults={"timeout": 1.0}, timeout_hold_s=2)
    people(1)
    campaign = sending_campaign(sender, template)
    send_all(campaign.id)
    [row] = rows(campaign.id)
    assert row.error_code == "timeout" and row.lease_owner is None
    assert len(ledger_keys(sandbox)) == 1  # the provider did take it: only its answer was lost

    sandbox.configure(faults={"timeout": 0})
    make_due(campaign.id)
    send_all(campaign.id)
    [row] = rows(campaign.id)
    [message] = sandbox.ledger()["messages"]
    if channel == "whatsapp_cloud":
        # Sent or not, we cannot tell: never sent again; a status for its key will settle it.
        assert (row.status, row.attempts) == (MessageStatus.UNKNOWN, 1)
        assert row.sent_at is not None  # it counts for caps and tiers meanwhile
        assert message["attempts"] == 1
        assert campaign_status(campaign.id) is CampaignStatus.COMPLETED  # unknown rows do not hold it open
    else:
        # An idempotent channel takes the same key again as the same message.
        assert (row.status, row.attempts, row.provider_message_id) == (MessageStatus.SENT, 2, message["id"])
        assert message["attempts"] == 2


def test_a_pause_stops_the_batch_within_one_sub_chunk_and_a_resume_sends_the_rest_once(app, sandbox, fast_sender,
                                                                                       monkeypatch):
    people(25)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender), rate=20)
    chunk = batch.sub_chunk_size(20)
    assert chunk == 10
    real_check = gate.check
    calls: list[int] = []

    def pause_by_someone_else() -> None:
        with app.app_context():
            transition(db.session.get(Campaign, campaign.id), CampaignStatus.PAUSED, reason="wrong price")
            db.session.commit()

    def check(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # a marketer presses "pause" while the first sub-chunk is going out
            pauser = threading.Thread(target=pause_by_someone_else)
            pauser.start()
            pauser.join(timeout=30)
        return real_check(*args, **kwargs)

    monkeypatch.setattr(gate, "check", check)
    [outcome] = send_all(campaign.id)
    assert outcome["stopped"] == "paused" and len(calls) == 2
    assert len(ledger_keys(sandbox)) == chunk
    paused = rows(campaign.id)
    assert sum(row.status is MessageStatus.SENT for row in paused) == chunk
    assert all(row.status is MessageStatus.QUEUED and row.lease_owner is None for row in paused
               if row.status is not MessageStatus.SENT)
    assert campaign_status(campaign.id) is CampaignStatus.PAUSED

    monkeypatch.setattr(gate, "check", real_check)
    assert send_all(campaign.id) == [{"claimed": 0, "counts": {}, "stopped": "paused", "completed": False}]
    transition(db.session.get(Campaign, campaign.id), CampaignStatus.SENDING)
    db.session.commit()
    send_all(campaign.id)
    assert sorted(ledger_keys(sandbox)) == sorted(row.idempotency_key for row in rows(campaign.id))
    assert sandbox.ledger()["counts"]["duplicates"] == 0
    assert campaign_status(campaign.id) is CampaignStatus.COMPLETED


def test_a_batch_out_of_time_gives_the_rest_of_its_rows_back_for_the_next_job(app, sandbox, fast_sender,
                                                                              monkeypatch):
    people(25)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender), rate=20)
    monkeypatch.setattr(batch, "time_budget", lambda: 0.2)  # a slow campaign: its batch cannot finish in time
    [outcome] = send_all(campaign.id)
    left = [row for row in rows(campaign.id) if row.status is MessageStatus.QUEUED]
    assert outcome["counts"]["released"] == len(left) > 0
    assert all(row.lease_owner is None for row in left)
    assert len(ledger_keys(sandbox)) == 25 - len(left)
    assert dispatch_jobs.enqueue_batches(campaign.id) == 1  # the sweep gives the range its next job


def test_a_sender_another_worker_slowed_for_long_gets_nothing_gated_and_the_rows_wait_queued(app, sandbox,
                                                                                            fast_sender):
    # Another worker met 131048 (spam limit: the whole sender waits an hour) and slowed the shared pacer.
    # A batch of this sender must not move rows to "sending" and sit on them for an hour: RQ would kill the
    # job first, and on a channel that is not idempotent the rows would become "unknown" although nothing left.
    from campaigns.dispatch.ratelimit import Pacer

    people(3)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    Pacer(redis_queues.connection).slow_down(f"sender:{fast_sender.id}", 3600)
    before = utcnow()
    finished: list[list[dict]] = []

    def run() -> None:
        with app.app_context():
            finished.append(send_all(campaign.id))

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert finished, "the batch sat on its rows waiting for a slot an hour away"
    [outcome] = finished[0]
    assert outcome["counts"]["released"] == 3
    waiting = rows(campaign.id)
    assert all((row.status, row.attempts, row.sent_at, row.lease_owner) == (MessageStatus.QUEUED, 0, None, None)
               for row in waiting)
    assert all(row.not_before >= before + timedelta(seconds=3500) for row in waiting)
    assert ledger_keys(sandbox) == []
    assert campaign_status(campaign.id) is CampaignStatus.SENDING


def test_a_recipient_the_provider_keeps_holding_back_fails_once_the_attempts_are_used_up(app, sandbox, fast_sender):
    # 131049 defers the row a day each time; without a limit a person Meta keeps protecting would hold the
    # campaign "sending" for ever.
    app.config["DISPATCH_MAX_ATTEMPTS"] = 2
    with refusing_campaign(fast_sender, 131049, "(#131049) This message was not delivered to maintain healthy "
                           "ecosystem engagement.") as (campaign, _person):
        before = utcnow()
        send_all(campaign.id)
        [row] = rows(campaign.id)
        assert (row.status, row.attempts, row.error_code) == (MessageStatus.DEFERRED, 1, "131049")
        assert row.not_before >= before + timedelta(hours=24)
        db.session.execute(update(Message).where(Message.id == row.id).values(not_before=utcnow()))
        db.session.commit()
        send_all(campaign.id)
    [row] = rows(campaign.id)
    assert (row.status, row.attempts, row.error_code) == (MessageStatus.FAILED, 2, "131049")
    assert row.failed_at is not None
    assert campaign_status(campaign.id) is CampaignStatus.COMPLETED


def test_answers_whose_write_failed_are_recorded_by_the_salvage_before_the_error_goes_to_rq(app, sandbox, fast_sender,
                                                                                           monkeypatch):
    # A deadlock or a dropped connection while writing a chunk of answers: the provider took these messages,
    # so they must end "sent", not "sending" until the lease runs out (then "unknown" on the Cloud API).
    from sqlalchemy.exc import OperationalError

    people(3)
    campaign = sending_campaign(fast_sender, sandbox_template(fast_sender))
    real_record = results.record
    calls: list[int] = []

    def record_failing_once(policy, answers, pacer):
        calls.append(len(answers))
        if len(calls) == 1:
            raise OperationalError("UPDATE messages", {}, Exception("deadlock detected"))
        return real_record(policy, answers, pacer)

    monkeypatch.setattr(results, "record", record_failing_once)
    with pytest.raises(OperationalError):
        send_all(campaign.id)
    assert len(ledger_keys(sandbox)) == 3
    assert [row.status for row in rows(campaign.id)] == [MessageStatus.SENT] * 3
    assert all(row.lease_owner is None and row.provider_message_id for row in rows(campaign.id))
