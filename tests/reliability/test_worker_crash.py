"""A worker killed outright (kill -9 of its work horse and of the worker itself, as when its host is lost) in
the middle of a 5,000-message campaign, and another worker started: every recipient is accepted exactly once.

On an idempotent channel the dead worker's rows are sent again with the same key, which the provider
recognises, so every recipient is accepted once and every row ends ``sent``. On a channel that is not
idempotent (the real Cloud API: the sandbox started with ``--no-idempotency``) a row whose request may have
left becomes ``unknown`` and is never sent again: no number is in the ledger twice, and every row is either
``sent`` (and in the ledger, once) or ``unknown`` — none is lost in ``queued`` or ``sending``.
"""

from __future__ import annotations

from collections import Counter

import pytest

from campaigns.models import MessageStatus
from extensions import db
from tests.reliability.harness import (
    add_approved_template,
    add_contacts,
    add_sender,
    approved_campaign,
    in_flight,
    messages_by_phone,
    rows_by_phone,
    wait_for_accepted,
    wait_for_job,
    wait_until_done,
)

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

RECIPIENTS = 5_000
RATE = 500  # messages a second: ten seconds of sending, a kill about a third of the way


@pytest.mark.parametrize("idempotent", [True, False], ids=["idempotent", "not_idempotent"])
def test_a_worker_killed_mid_campaign_loses_and_doubles_nobody(request, app, people, workers, idempotent):
    provider = request.getfixturevalue("provider" if idempotent else "provider_without_idempotency")
    first = workers.start()  # it takes a few seconds to start: meanwhile the world is built
    marketer, reviewer = people
    sender = add_sender(provider, idempotent=idempotent, rate=RATE)
    template = add_approved_template()
    phones = add_contacts(RECIPIENTS)
    campaign = approved_campaign(marketer, reviewer, sender, template, rate=RATE)
    workers.ready()
    db.session.commit()  # the launch job reaches Redis; the worker launches and sends

    wait_for_accepted(provider, RECIPIENTS // 3, workers)
    wait_for_job(first, "send-batch-", workers, campaign.id)  # mid-batch, requests on the wire
    workers.kill(first)
    held = in_flight(campaign.id)  # the dead worker's rows: claimed, or passed the gate and maybe on the wire
    accepted_at_kill = len(provider.ledger()["messages"])
    assert held, "the kill hit no batch at work, so it proves nothing"
    assert accepted_at_kill < RECIPIENTS, "the campaign had finished before the kill"
    workers.start()
    wait_until_done(campaign.id, workers)

    ledger = provider.ledger()
    sent = messages_by_phone(ledger)
    rows = rows_by_phone(campaign.id)
    statuses = Counter(row.status.value for row in rows.values())
    assert set(rows) == set(phones), "every eligible contact has its row"
    assert {phone: n for phone, n in sent.items() if n > 1} == {}, "a number got the campaign twice"
    assert set(sent) <= set(phones)
    # Every message the provider accepted carries its row's key.
    assert all(message["key"] == rows["+" + message["to"]].idempotency_key for message in ledger["messages"])
    if idempotent:
        assert statuses == Counter({"sent": RECIPIENTS}), statuses
        assert set(sent) == set(phones), "every recipient is accepted exactly once"
    else:
        assert set(statuses) <= {"sent", "unknown"}, statuses
        assert all(sent[phone] == 1 for phone, row in rows.items() if row.status is MessageStatus.SENT), (
            "a row is sent that the provider never accepted")
        # Only a row whose request may have left when its worker died can be unknown; nobody else is left out.
        unknown = {phone for phone, row in rows.items() if row.status is MessageStatus.UNKNOWN}
        assert unknown <= {phone for phone, state in held.items() if state == "sending"}, (
            "a row the dead worker had not yet sent was given up as unknown")
        assert set(phones) - set(sent) <= unknown, "a recipient got nothing and is not unknown"


def test_a_worker_killed_while_sweeping_holds_no_sweep_up(app, people, workers, provider):
    """The sweep has a fixed job id; the one a killed worker was running must not stop the next sweeps, which
    recover the dead worker's rows and finish the campaign."""
    first = workers.start()
    marketer, reviewer = people
    sender = add_sender(provider, rate=RATE)
    template = add_approved_template()
    phones = add_contacts(RECIPIENTS // 5)
    campaign = approved_campaign(marketer, reviewer, sender, template, rate=RATE)
    workers.ready()
    db.session.commit()

    wait_for_accepted(provider, len(phones) // 3, workers)
    wait_for_job(first, "sweep_dispatch", workers)
    workers.kill(first)
    workers.start()
    wait_until_done(campaign.id, workers)

    sent = messages_by_phone(provider.ledger())
    assert set(sent) == set(phones) and set(sent.values()) == {1}
    assert Counter(row.status.value for row in rows_by_phone(campaign.id).values()) == Counter({"sent": len(phones)})
