"""Two campaigns to overlapping audiences, launched together and sent at the same time by two workers,
under a daily frequency cap of one marketing message: everyone in either audience gets exactly one message
across both (counted from the ledger), and for each person in both audiences one row is sent and the other
skipped for the cap (or left out at launch) — the re-check at send time serialises by number across
campaigns.
"""

from __future__ import annotations

from collections import Counter

import pytest

from campaigns import review
from campaigns.models import MessageStatus
from extensions import db
from tests.campaign_world import ACKNOWLEDGEMENT
from tests.reliability.harness import (
    add_approved_template,
    add_contacts,
    add_sender,
    daily_cap,
    messages_by_phone,
    rows_by_phone,
    submitted_campaign,
    wait_until_done,
)

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

PEOPLE = 1_200
RATE = 300
# In turn: only in the first audience, in both, only in the second, in both. Half of everyone is in both,
# spread evenly, so both campaigns reach the shared people at about the same moment.
TAGS = ["|first|", "|first|second|", "|second|", "|first|second|"]


def test_two_campaigns_to_overlapping_audiences_send_one_message_per_person(app, people, workers, provider):
    # One batch per campaign, so that the two workers send both at once, reaching each shared person at about
    # the same moment (in batches of 250 ids the queue would hand out the first campaign's batches first).
    workers.start(DISPATCH_BATCH_SIZE=2 * PEOPLE)
    workers.start(DISPATCH_BATCH_SIZE=2 * PEOPLE)
    marketer, reviewer = people
    daily_cap(1)
    # Two senders (each its own rate limit), both on the sandbox's number, so both campaigns run at full speed.
    first_sender = add_sender(provider, rate=RATE, name="First", phone="+74950000001")
    second_sender = add_sender(provider, rate=RATE, name="Second", phone="+74950000002")
    template = add_approved_template()
    phones = add_contacts(PEOPLE, TAGS)
    tags = dict(zip(phones, [TAGS[index % len(TAGS)] for index in range(PEOPLE)], strict=True))
    first = submitted_campaign(marketer, first_sender, template, "first", rate=RATE, name="First")
    second = submitted_campaign(marketer, second_sender, template, "second", rate=RATE, name="Second")
    review.approve(first, reviewer, acknowledgement=ACKNOWLEDGEMENT)
    review.approve(second, reviewer, acknowledgement=ACKNOWLEDGEMENT)
    workers.ready()
    db.session.commit()  # both launch jobs reach Redis together

    wait_until_done([first.id, second.id], workers)

    sent = messages_by_phone(provider.ledger())
    assert {phone: n for phone, n in sent.items() if n > 1} == {}, "the cap let a second message through"
    assert set(sent) == set(phones), "somebody got nothing"
    rows = {campaign.id: rows_by_phone(campaign.id) for campaign in (first, second)}
    for campaign in (first, second):
        statuses = Counter(row.status.value for row in rows[campaign.id].values())
        assert set(statuses) <= {"sent", "skipped"}, statuses
    for phone in phones:
        mine = [rows[campaign.id].get(phone) for campaign in (first, second)]
        present = [row for row in mine if row is not None]
        sent_rows = [row for row in present if row.status is MessageStatus.SENT]
        assert len(sent_rows) == 1, (phone, tags[phone], [(row.campaign_id, row.status) for row in present])
        for row in present:
            if row is not sent_rows[0]:
                assert (row.status, row.error_code) == (MessageStatus.SKIPPED, "frequency_cap"), phone
    shared = [phone for phone in phones if tags[phone] == "|first|second|"]
    contested = sum(all(phone in rows[campaign.id] for campaign in (first, second)) for phone in shared)
    launches = {campaign.id: (campaign.recipients, campaign.exclusions["frequency_cap"], str(campaign.launched_at))
                for campaign in (first, second)}
    assert contested, f"no shared person had a row in both campaigns: the launch alone kept them apart: {launches}"
