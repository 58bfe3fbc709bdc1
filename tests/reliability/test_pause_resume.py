"""Pause and resume several times, and resume after a crash (a worker killed -9 while the campaign was
paused, and another while it was sending): nobody gets the campaign twice and nobody is skipped.

The channel is not idempotent (the real Cloud API's, against the sandbox started with ``--no-idempotency``),
so the ledger shows every second send: resuming must not re-send to people who already got it (listmonk's
bug). A row whose request may have been on the wire when its worker died is ``unknown`` and never sent again;
every other row ends ``sent``.
"""

from __future__ import annotations

from collections import Counter

import pytest

from campaigns.dispatch import control
from campaigns.models import Campaign, CampaignStatus, MessageStatus
from extensions import db
from tests.processes import wait_for
from tests.reliability.harness import (
    accepted,
    add_approved_template,
    add_contacts,
    add_sender,
    approved_campaign,
    campaign_status,
    in_flight,
    messages_by_phone,
    row_counts,
    rows_by_phone,
    wait_for_accepted,
    wait_for_job,
    wait_until_done,
)

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

RECIPIENTS = 2_000
RATE = 250
# The disturbances come as the ledger passes these shares of the campaign (at once when already past: under
# load each pause or resume takes a moment, and the sending goes on meanwhile).
STAGES = [RECIPIENTS * share // 100 for share in (10, 20, 30, 40, 50)]


def act(campaign_id: int, action, actor) -> None:
    db.session.rollback()
    action(db.session.get(Campaign, campaign_id), actor)
    db.session.commit()


def settled(campaign_id: int) -> bool:
    """Paused, and no batch holds a row any more: what was on the wire has come back."""
    return campaign_status(campaign_id) is CampaignStatus.PAUSED and not in_flight(campaign_id) and not row_counts(
        campaign_id)["sending"]


def test_pausing_resuming_and_crashing_neither_doubles_nor_skips(app, people, workers,
                                                                 provider_without_idempotency):
    provider = provider_without_idempotency
    first, second = workers.start(), workers.start()
    marketer, reviewer = people
    sender = add_sender(provider, idempotent=False, rate=RATE)
    template = add_approved_template()
    phones = add_contacts(RECIPIENTS)
    campaign = approved_campaign(marketer, reviewer, sender, template, rate=RATE)
    workers.ready()
    db.session.commit()
    owner = marketer

    # Twice: pause, let it settle (the batches at work stop within one sub-chunk), resume.
    for stage in STAGES[:2]:
        wait_for_accepted(provider, stage, workers)
        act(campaign.id, control.pause, owner)
        wait_for(lambda: settled(campaign.id), "the paused campaign to settle", interval=0.1)
        counts = row_counts(campaign.id)
        assert counts["sent"] == accepted(provider), "a paused campaign's rows and the ledger agree"
        act(campaign.id, control.resume, reviewer)

    # Quick toggles: pause and resume again before the batches have even noticed.
    wait_for_accepted(provider, STAGES[2], workers)
    for _toggle in range(3):
        act(campaign.id, control.pause, owner)
        act(campaign.id, control.resume, owner)

    # A crash while paused: pause, kill a worker at once (its batch may still be finishing), resume.
    wait_for_accepted(provider, STAGES[3], workers)
    act(campaign.id, control.pause, owner)
    workers.kill(first)
    held = in_flight(campaign.id)
    act(campaign.id, control.resume, owner)
    third = workers.start()

    # A crash while sending: kill the other worker mid-batch, pause, start another, resume.
    wait_for_accepted(provider, STAGES[4], workers)
    wait_for_job(second, "send-batch-", workers, campaign.id)
    workers.kill(second)
    held.update(in_flight(campaign.id))
    act(campaign.id, control.pause, owner)
    workers.start()
    act(campaign.id, control.resume, owner)
    assert accepted(provider) < RECIPIENTS, "the campaign had finished before the last crash"
    wait_until_done(campaign.id, workers)
    assert third.popen.poll() is None

    ledger = provider.ledger()
    sent = messages_by_phone(ledger)
    rows = rows_by_phone(campaign.id)
    statuses = Counter(row.status.value for row in rows.values())
    assert {phone: n for phone, n in sent.items() if n > 1} == {}, "a number got the campaign twice"
    assert set(statuses) <= {"sent", "unknown"}, statuses
    unknown = {phone for phone, row in rows.items() if row.status is MessageStatus.UNKNOWN}
    assert unknown <= {phone for phone, state in held.items() if state == "sending"}, (
        "a row no dead worker had on the wire was given up as unknown")
    assert set(phones) - set(sent) <= unknown, "a recipient was skipped"
    assert all(sent[phone] == 1 for phone, row in rows.items() if row.status is MessageStatus.SENT)
