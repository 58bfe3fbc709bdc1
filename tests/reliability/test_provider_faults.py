"""The provider answers 30 % of the requests with HTTP 429, code 130429 or HTTP 500 for a while, then
recovers: every recipient is still accepted exactly once (a throttle or a server error is transient, never a
permanent failure), and the campaign's rate is never exceeded at the provider — counted from the arrival
times of the requests (every try, refused ones included: what a provider's limit counts), by two workers
sharing one limit, on a loaded machine where the workers' threads stall now and then.
"""

from __future__ import annotations

from collections import Counter

import pytest

from extensions import db
from tests.processes import wait_for
from tests.reliability.harness import (
    PROGRESS_SECONDS,
    add_approved_template,
    add_contacts,
    add_sender,
    approved_campaign,
    busiest_second,
    messages_by_phone,
    rows_by_phone,
    send_requests,
    wait_until_done,
)

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

RECIPIENTS = 600
CAMPAIGN_RATE = 100  # the campaign's own limit, below its sender's
SENDER_RATE = 400
FAULTS = {"http_429": 0.1, "code_130429": 0.1, "http_500": 0.1}
FAULTED = 40  # refused requests before the provider recovers
ARRIVAL_NOISE = 0.05


def test_throttles_and_server_errors_delay_but_never_lose_and_the_rate_holds(app, people, workers, provider):
    workers.start()
    workers.start()
    marketer, reviewer = people
    sender = add_sender(provider, rate=SENDER_RATE)
    template = add_approved_template()
    phones = add_contacts(RECIPIENTS)
    provider.configure(faults=FAULTS, retry_after=1)
    campaign = approved_campaign(marketer, reviewer, sender, template, rate=CAMPAIGN_RATE)
    workers.ready()
    db.session.commit()

    wait_for(lambda: provider.ledger(summary=True)["counts"]["errors"] >= FAULTED, f"{FAULTED} refused requests",
             timeout=PROGRESS_SECONDS, interval=0.05)
    provider.configure(faults=dict.fromkeys(FAULTS, 0))
    wait_until_done(campaign.id, workers)

    ledger = provider.ledger()
    sent = messages_by_phone(ledger)
    rows = rows_by_phone(campaign.id)
    assert Counter(row.status.value for row in rows.values()) == Counter({"sent": RECIPIENTS})
    assert set(sent) == set(phones) and set(sent.values()) == {1}, "every recipient is accepted exactly once"
    tried = send_requests(ledger)
    assert len(tried) >= RECIPIENTS + FAULTED, f"{len(tried)} send requests in the ledger"
    refused = Counter(request["status"] for request in tried if request["status"] != 200)
    assert refused[429] and refused[400] and refused[500], refused
    assert any(row.attempts > 1 for row in rows.values()), "the refused messages were tried again"

    tries = busiest_second([request["at"] for request in tried])
    # A limiter kept per process lets two workers through at twice the rate, one that ignores the campaign's own
    # rate at the sender's four times. Beyond that, the sandbox stamps arrivals on its own busy event loop: on
    # this machine under a parallel test run, a bare loop posting at exactly spaced slots shows up to 5 % more in
    # some second (bench/rate_bench.py's reference), so the test allows that much and no more.
    assert tries <= CAMPAIGN_RATE * (1 + ARRIVAL_NOISE), f"{tries} requests reached the provider within one second"
