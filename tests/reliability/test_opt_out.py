"""An opt-out processed while the workers send (a STOP reply, through the compliance service that records
it): that number gets nothing afterwards — its row is skipped as opted out and the ledger has nothing for it
— while everyone else is sent to. The numbers are chosen among rows no batch had claimed yet, so the re-check
at send time is the only thing that can stop them.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from sqlalchemy import select

from campaigns.models import Message, MessageStatus
from compliance.replies import handle_reply
from dbtypes import utcnow
from extensions import db
from tests.reliability.harness import (
    add_approved_template,
    add_contacts,
    add_sender,
    approved_campaign,
    fresh,
    messages_by_phone,
    rows_by_phone,
    wait_for_accepted,
    wait_until_done,
)

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

RECIPIENTS = 1_200
RATE = 250
STOPPING = 20  # people who reply STOP mid-campaign, all of them not yet reached
ALREADY_SENT = 3  # and a few who got their message before they replied


def unclaimed(campaign_id: int, phones: list[str]) -> set[str]:
    """Those of ``phones`` whose row no batch has touched: queued, no lease, never tried."""
    fresh()
    return set(db.session.scalars(select(Message.phone).where(
        Message.campaign_id == campaign_id, Message.phone.in_(phones), Message.status == MessageStatus.QUEUED,
        Message.lease_owner.is_(None), Message.attempts == 0)))


def test_an_opt_out_mid_campaign_wins_over_the_rows_not_yet_sent(app, people, workers, provider):
    workers.start()
    workers.start()
    marketer, reviewer = people
    sender = add_sender(provider, rate=RATE)
    template = add_approved_template()
    phones = add_contacts(RECIPIENTS)
    campaign = approved_campaign(marketer, reviewer, sender, template, rate=RATE)
    workers.ready()
    db.session.commit()

    wait_for_accepted(provider, RECIPIENTS // 5, workers)
    reached = sorted(messages_by_phone(provider.ledger()))[:ALREADY_SENT]
    # Spread over the last fifth of the rows: batches still to come, some perhaps claimed in the meantime.
    later = phones[-RECIPIENTS // 5::RECIPIENTS // 5 // STOPPING][:STOPPING]
    stopping = [*later, *reached]
    before = time.time()
    for index, phone in enumerate(stopping):
        handle_reply(phone.lstrip("+"), "STOP", utcnow(), evidence=f"wamid.stop{index}")
    db.session.commit()
    opted_out_at = time.time()
    # Rows still untouched after the opt-out committed can only be judged after it.
    untouched = unclaimed(campaign.id, later)
    assert len(untouched) >= STOPPING // 2, "the batches reached the stopping numbers first; the test proves nothing"
    wait_until_done(campaign.id, workers)

    ledger = provider.ledger()
    sent = messages_by_phone(ledger)
    rows = rows_by_phone(campaign.id)
    late = [message for message in ledger["messages"]
            if "+" + message["to"] in stopping and message["at"] > opted_out_at]
    assert late == [], "a number got a message after it opted out"
    assert not set(untouched) & set(sent), "a number not yet reached when it opted out got the campaign"
    for phone in untouched:
        assert (rows[phone].status, rows[phone].error_code) == (MessageStatus.SKIPPED, "opted_out"), phone
    for phone in reached:
        assert sent[phone] == 1 and all(message["at"] < before for message in ledger["messages"]
                                        if "+" + message["to"] == phone)
    # Everyone else got it, once.
    others = set(phones) - set(stopping)
    assert {phone for phone in others if sent[phone] == 1} == others
    assert set(sent.values()) == {1}
    statuses = Counter(row.status.value for row in rows.values())
    assert statuses["sent"] >= len(others) and statuses["skipped"] >= len(untouched), statuses
    assert set(statuses) <= {"sent", "skipped"}, statuses
