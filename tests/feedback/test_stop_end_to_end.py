"""End to end with real processes: a recipient replies СТОП while a campaign is on its way to them, and from
then on gets nothing but the one confirmation.

The sandbox plays the recipient (a number ending in 81 answers a delivered message with "СТОП"), posts the
reply signed to the live endpoint, and a real worker sends campaign A, applies the reply, suppresses the number
and sends the confirmation as free text. Campaign B was launched before the reply (its rows, the stopped
person's among them, were materialised) and is resumed after it: its gate skips the stopped number.
"""

from __future__ import annotations

import pytest

from campaigns.dispatch import control
from campaigns.models import CampaignStatus, MessageStatus
from compliance.models import SuppressionReason
from compliance.suppression import open_entries
from extensions import db
from tests.campaign_world import add_contact
from tests.channels.sandbox_calls import QUIET
from tests.feedback.live_server import LiveServer
from tests.processes import wait_for
from tests.test_dispatch import fast_sender, people, rows, sandbox_template, sending_campaign, zone_at  # noqa: F401
from tests.test_worker import start_worker  # noqa: F401  (a fixture)

S = MessageStatus
STOPPER = "+79035550081"  # the sandbox's recipient 81: replies "СТОП" once the message is delivered


def to(phone: str, messages: list[dict]) -> list[dict]:
    return [message for message in messages if message["to"] == phone.lstrip("+")]


@pytest.mark.slow
def test_a_recipient_who_replies_stop_mid_campaign_gets_one_confirmation_and_nothing_more(
        app, sandbox, fast_sender, start_worker):
    template = sandbox_template(fast_sender)
    people(4)
    add_contact(STOPPER, name="Пётр Стопов", timezone=zone_at(12))  # inside the send window, whatever the hour
    with LiveServer(app) as live:
        sandbox.configure(callback_url=f"{live.url}/webhooks/whatsapp/{fast_sender.id}", callback_delays_ms=[20, 60],
                          status_shares={**QUIET, "read": 1})
        later = sending_campaign(fast_sender, template)  # launched: one row per person, the stopper's too
        control.pause(later)
        db.session.commit()
        first = sending_campaign(fast_sender, template)
        worker = start_worker()

        def stopped() -> bool:
            db.session.rollback()
            return [entry.reason for entry in open_entries(STOPPER)] == [SuppressionReason.OPT_OUT]

        wait_for(stopped, f"the СТОП reply to suppress the number:\n{worker.output()}")

        def confirmations() -> list[dict]:
            return [m for m in to(STOPPER, sandbox.ledger()["messages"]) if m["type"] == "text"]

        wait_for(lambda: len(confirmations()) == 1, f"the confirmation to go out:\n{worker.output()}")

        db.session.rollback()
        control.resume(db.session.get(type(later), later.id))
        db.session.commit()

        def settled() -> bool:
            return all(row.status not in (S.QUEUED, S.SENDING, S.DEFERRED) for row in rows(later.id))

        wait_for(settled, f"campaign B to go through its rows:\n{worker.output()}")
        sent = to(STOPPER, sandbox.ledger()["messages"])
        # The sandbox re-posting the reply, or B's batch, must not send anything more.
        assert [message["type"] for message in sent] == ["template", "text"], sent

    by_phone = {row.phone: row for row in rows(later.id)}
    assert (by_phone[STOPPER].status, by_phone[STOPPER].error_code) == (S.SKIPPED, "opted_out")
    # The others were judged too; B comes right after A, so the frequency cap holds them (an opt-out outranks it).
    assert {(row.status, row.error_code) for phone, row in by_phone.items() if phone != STOPPER} == {
        (S.SKIPPED, "frequency_cap")}
    [confirmation] = confirmations()
    assert "СТАРТ" in confirmation["text"]  # the Russian confirmation: the reply was in Russian
    db.session.rollback()
    assert db.session.get(type(first), first.id).status in (CampaignStatus.SENDING, CampaignStatus.COMPLETED)
    assert "Traceback" not in worker.output(), worker.output()
