"""Statuses posted to the endpoint and applied by the processing: forward only in any order, settling unknown
rows, by key or by wamid, once; what the message cost; an opt-out failure suppresses the number."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from campaigns.dispatch.recovery import UNKNOWN_OUTCOME
from campaigns.feedback import jobs, routing
from campaigns.models import MessageStatus
from compliance import suppression
from compliance.models import Suppression, SuppressionReason
from dbtypes import utcnow
from extensions import db
from tests.feedback.conftest import add_message, add_sender, campaign_of, fresh, pending, post, stored
from tests.feedback.payloads import body

S = MessageStatus
T = 1764658800  # the captured callbacks' sent time: 2025-12-02 07:00:00 UTC


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(T + seconds, UTC)


@pytest.fixture
def touched(monkeypatch):
    """The campaigns each batch said it touched, by sender (through the after-batch hook list)."""
    seen: list[tuple[int, set[int]]] = []
    monkeypatch.setattr(routing, "AFTER_BATCH", [lambda context: seen.append((context.sender.id,
                                                                               set(context.touched_campaigns)))])
    return seen


def deliver(client, sender, *names: str, message=None, **fields) -> dict:
    """Post each callback about ``message`` (its wamid, key and number), then let the job apply them."""
    for name in names:
        if message is not None:
            fields = {"wamid": message.provider_message_id, "key": message.idempotency_key,
                      "recipient": message.phone.lstrip("+"), **fields}
        response = post(client, sender, body(name, **fields))
        assert response.status_code == 200, response.get_data(as_text=True)
    done = jobs.process_webhooks()
    assert pending() == 0
    return done


# --- forward only, in any order ---------------------------------------------------------------------------

def test_read_then_delivered_then_sent_in_separate_batches_ends_read_and_never_goes_back(client, cloud_sender):
    message = add_message(campaign_of(cloud_sender), S.SENT, sent_at=at(-1))
    deliver(client, cloud_sender, "status_read", message=message)
    row = fresh(message)
    assert (row.status, row.read_at, row.delivered_at, row.sent_at) == (S.READ, at(95), at(95), at(-1))
    deliver(client, cloud_sender, "status_delivered", message=message)
    deliver(client, cloud_sender, "status_sent", message=message)
    row = fresh(message)
    assert (row.status, row.read_at, row.delivered_at, row.sent_at) == (S.READ, at(95), at(95), at(-1))


def test_three_statuses_in_one_body_newest_first_keep_each_time(client, cloud_sender):
    message = add_message(campaign_of(cloud_sender), S.SENDING, provider_message_id=None)
    done = deliver(client, cloud_sender, "statuses_read_delivered_sent", message=message,
                   wamid="wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA")
    assert done["events"] == {"StatusEvent": 3} and done["batches"] == 1
    row = fresh(message)
    assert (row.status, row.sent_at, row.delivered_at, row.read_at) == (S.READ, at(0), at(4), at(95))
    assert row.provider_message_id == "wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


def test_statuses_in_separate_bodies_of_one_batch_apply_in_any_arrival_order(client, cloud_sender):
    message = add_message(campaign_of(cloud_sender), S.SENDING)
    deliver(client, cloud_sender, "status_read", "status_sent", "status_delivered", message=message)
    row = fresh(message)
    assert (row.status, row.sent_at, row.delivered_at, row.read_at) == (S.READ, at(0), at(4), at(95))


def test_a_failure_after_delivery_is_ignored(client, cloud_sender, touched):
    message = add_message(campaign_of(cloud_sender), S.DELIVERED, delivered_at=at(4))
    deliver(client, cloud_sender, "status_failed_131026", message=message)
    row = fresh(message)
    assert (row.status, row.error_code, row.failed_at) == (S.DELIVERED, None, None)


def test_a_failure_of_a_sent_message_keeps_the_code_and_the_providers_words(client, cloud_sender, touched):
    campaign = campaign_of(cloud_sender)
    message = add_message(campaign, S.SENT)
    deliver(client, cloud_sender, "status_failed_131026", message=message)
    row = fresh(message)
    assert (row.status, row.error_code, row.error_message, row.failed_at) == (
        S.FAILED, "131026", "Message undeliverable", at(6))
    assert touched == [(cloud_sender.id, {campaign.id})]
    deliver(client, cloud_sender, "status_delivered", message=message)  # the provider's failure stands
    assert fresh(message).status is S.FAILED


def test_an_unknown_row_is_settled_by_its_key_and_learns_its_wamid(client, cloud_sender):
    message = add_message(campaign_of(cloud_sender), S.UNKNOWN, provider_message_id=None,
                          sent_at=at(-2), error_code="timeout")
    deliver(client, cloud_sender, "status_delivered", message=message,
            wamid="wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA")
    row = fresh(message)
    assert (row.status, row.delivered_at, row.sent_at, row.error_code) == (S.DELIVERED, at(4), at(-2), None)
    assert row.provider_message_id == "wamid.HBgLNzkxNjEyMzQ1NjcVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA"


def test_our_unknown_outcome_guess_yields_to_a_late_delivery(client, cloud_sender):
    message = add_message(campaign_of(cloud_sender), S.FAILED, error_code=UNKNOWN_OUTCOME, failed_at=utcnow())
    deliver(client, cloud_sender, "status_delivered", message=message)
    row = fresh(message)
    assert (row.status, row.error_code, row.failed_at) == (S.DELIVERED, None, None)


def test_a_status_without_a_key_finds_its_row_by_the_wamid(client, cloud_sender):
    message = add_message(campaign_of(cloud_sender), S.SENT)
    deliver(client, cloud_sender, "status_delivered_without_key", message=message, key=None)
    assert fresh(message).status is S.DELIVERED


def test_a_status_never_touches_another_senders_message(client, cloud_sender):
    other = add_sender("Другой", "+74951234568")
    theirs = add_message(campaign_of(other), S.SENT)
    deliver(client, cloud_sender, "status_delivered", message=theirs)  # signed by our secret, about their row
    assert fresh(theirs).status is S.SENT and len(stored()) == 1


# --- duplicates -------------------------------------------------------------------------------------------

def test_a_status_posted_twice_is_stored_once_and_a_repeat_in_another_body_changes_nothing(client, cloud_sender):
    message = add_message(campaign_of(cloud_sender), S.SENT)
    deliver(client, cloud_sender, "status_delivered", "status_delivered", message=message)
    assert len(stored()) == 1
    first = fresh(message)
    assert (first.status, first.delivered_at, first.cost_minor) == (S.DELIVERED, at(4), 8)
    deliver(client, cloud_sender, "status_delivered", message=message, timestamp=T + 600)  # a new body, same news
    again = fresh(message)
    assert len(stored()) == 2
    assert (again.status, again.delivered_at, again.cost_minor) == (S.DELIVERED, at(4), 8)


# --- what it cost -----------------------------------------------------------------------------------------

def test_the_sent_status_says_billable_and_the_delivery_prices_it_once_by_the_rate_card(client, cloud_sender):
    campaign = campaign_of(cloud_sender)
    russian = add_message(campaign, S.SENDING, phone="+79161234567")
    kazakh = add_message(campaign, S.SENDING, phone="+77011234567")
    deliver(client, cloud_sender, "status_sent", message=russian)
    row = fresh(russian)
    assert (row.billable, row.price_category, row.cost_minor) == (True, "marketing", None)
    deliver(client, cloud_sender, "status_delivered", message=russian)
    deliver(client, cloud_sender, "status_delivered", message=kazakh)
    # The shipped card: RU marketing 0.0802 USD, KZ 0.0860 USD; in cents, rounded half-up.
    assert (fresh(russian).cost_minor, fresh(kazakh).cost_minor) == (8, 9)
    deliver(client, cloud_sender, "status_read", message=russian)
    assert fresh(russian).cost_minor == 8


def test_a_free_service_message_costs_nothing_and_a_category_is_priced_under_its_cards_name(client, cloud_sender):
    campaign = campaign_of(cloud_sender)
    service = add_message(campaign, S.SENT)
    otp = add_message(campaign, S.SENT)
    deliver(client, cloud_sender, "status_delivered_service", message=service)
    deliver(client, cloud_sender, "status_delivered_authentication_international", message=otp)
    assert (fresh(service).billable, fresh(service).price_category, fresh(service).cost_minor) == (
        False, "service", 0)
    assert (fresh(otp).billable, fresh(otp).price_category, fresh(otp).cost_minor) == (
        True, "authentication_international", 4)  # RU authentication 0.0400 USD


def test_couriers_captured_status_finds_its_row_by_wamid_and_records_it_not_billable(client, cloud_sender):
    message = add_message(campaign_of(cloud_sender), S.SENDING, provider_message_id="external_id",
                          phone="+250788123123")
    response = post(client, cloud_sender, (body("courier_status_sent_referral")))
    assert response.status_code == 200
    jobs.process_webhooks()
    row = fresh(message)
    assert (row.status, row.sent_at, row.billable, row.price_category, row.cost_minor) == (
        S.SENT, datetime.fromtimestamp(1454119029, UTC), False, "referral_conversion", None)


# --- opt-outs ---------------------------------------------------------------------------------------------

def test_a_131050_failure_suppresses_the_number_as_an_opt_out_and_touches_the_campaign(client, cloud_sender, touched):
    campaign = campaign_of(cloud_sender)
    message = add_message(campaign, S.SENT)
    bystander = add_message(campaign, S.SENT)
    deliver(client, cloud_sender, "status_failed_131050", message=message)
    row = fresh(message)
    assert (row.status, row.error_code) == (S.FAILED, "131050")
    [entry] = suppression.open_entries(message.phone)
    assert (entry.reason, entry.source, entry.evidence) == (
        SuppressionReason.OPT_OUT, "webhook", f"131050 {message.idempotency_key}")
    assert suppression.open_entries(bystander.phone) == []
    assert touched == [(cloud_sender.id, {campaign.id})]
    deliver(client, cloud_sender, "status_failed_131050", message=message, timestamp=T + 60)  # again: one entry
    assert len(db.session.scalars(select(Suppression).where(Suppression.phone == message.phone)).all()) == 1


def test_a_status_of_no_message_of_ours_is_processed_and_changes_nothing(client, cloud_sender):
    message = add_message(campaign_of(cloud_sender), S.SENT, sent_at=utcnow() - timedelta(minutes=1))
    deliver(client, cloud_sender, "status_delivered", wamid="wamid.not-ours", key="not-ours")
    assert fresh(message).status is S.SENT
    assert all(event.processed_at is not None for event in stored())
