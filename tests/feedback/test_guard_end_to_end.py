"""End to end with real processes: a campaign whose audience starts with people who block the number (the
sandbox's recipients 83) and one who reports it as spam (84) trips the circuit breaker while it sends, and
stops.

The sandbox posts each block and spam report (its ``vestnik_block_reports`` extension) signed to the live
endpoint; one real worker sends the campaign slowly while another applies the reports (each number suppressed at
once with its reason), and after the batch the breaker finds the complaints over the threshold and pauses the
campaign, which sends nothing more. The workers run with breaker settings a few dozen messages reach.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from campaigns.feedback.models import Notification, NotificationKind
from campaigns.models import Campaign, CampaignStatus, MessageStatus
from compliance.models import SuppressionReason
from compliance.suppression import open_entries
from extensions import db
from tests.channels.sandbox_calls import QUIET
from tests.feedback.live_server import LiveServer
from tests.processes import wait_for
from tests.test_dispatch import fast_sender, rows, sandbox_template, sending_campaign, zone_at  # noqa: F401
from tests.test_materialise import add_contact
from tests.test_worker import start_worker  # noqa: F401  (a fixture)

S = MessageStatus
# The sandbox's recipients by their last two digits: 83 blocks after the first message, 84 reports spam.
BLOCKERS = ["+79036660183", "+79036660283", "+79036660383"]
SPAMMER = "+79036660484"
BREAKER = {"BREAKER_WINDOW": "100", "BREAKER_MIN_DELIVERED": "5", "BREAKER_BLOCK_THRESHOLD": "0.1",
           "BREAKER_THRESHOLD": "0.5", "BREAKER_MIN_COMPLAINTS": "2"}


def audience() -> None:
    """5 ordinary people, the blockers and the spammer, then 40 ordinary people (sent in this order)."""
    zone = zone_at(12)
    ordinary = iter(f"+79036661{index:03d}" for index in range(45))  # ends 00–44: ordinary recipients
    for phone in [*(next(ordinary) for _ in range(5)), *BLOCKERS, SPAMMER, *ordinary]:
        add_contact(phone, name=f"Получатель {phone[-4:]}", timezone=zone)
    db.session.commit()


@pytest.mark.slow
def test_blocks_and_a_spam_report_mid_campaign_trip_the_breaker_and_sending_stops(app, sandbox, fast_sender,
                                                                                start_worker):
    template = sandbox_template(fast_sender)
    audience()
    with LiveServer(app) as live:
        sandbox.configure(callback_url=f"{live.url}/webhooks/whatsapp/{fast_sender.id}", callback_delays_ms=[20, 60],
                          status_shares={**QUIET, "read": 1})
        campaign = sending_campaign(fast_sender, template, rate=4)  # 49 messages: about 12 seconds
        # Two workers, as a deployment runs them: one sends the campaign, the other applies the callbacks meanwhile
        # (one worker would run the 12-second batch job before the webhooks' job).
        # The callbacks' worker first: the campaign must not be through before anyone applies its callbacks.
        worker = start_worker("--queue", "webhooks", **BREAKER)
        wait_for(lambda: "Listening on" in worker.output(), f"the webhooks' worker to start:\n{worker.output()}")
        sender_worker = start_worker("--queue", "dispatch", **BREAKER)

        def paused() -> Campaign | None:
            db.session.rollback()
            db.session.expire_all()
            found = db.session.get(Campaign, campaign.id)
            return found if found.status is CampaignStatus.PAUSED else None

        found = wait_for(paused, f"the breaker to pause the campaign:\n{worker.output()}")
        wait_for(lambda: not any(row.status is S.SENDING for row in rows(campaign.id)),
                 f"the worker to give back what it held:\n{worker.output()}")
        sent = [row for row in rows(campaign.id) if row.sent_at is not None]
        complainers = {row.phone for row in sent} & {*BLOCKERS, SPAMMER}

        def reasons() -> dict[str, list[SuppressionReason]]:
            db.session.rollback()
            return {phone: [entry.reason for entry in open_entries(phone)] for phone in complainers}

        # Every complainer who got the message reports, and is suppressed with the report's own reason.
        expected = {phone: [SuppressionReason.SPAM_REPORT if phone == SPAMMER else SuppressionReason.BLOCK]
                    for phone in complainers}
        wait_for(lambda: reasons() == expected, f"every report to be applied:\n{worker.output()}")

    assert found.pause_reason == "circuit_breaker" and found.paused_at is not None
    details = found.pause_details
    assert details["measure"] == "blocks" and details["rate"] > 0.1 and details["threshold"] == 0.1
    assert details["window"] >= 5 and details["blocks"] + details["spam_reports"] >= 2
    [note] = db.session.scalars(select(Notification).where(Notification.kind == NotificationKind.CIRCUIT_BREAKER))
    assert (note.campaign_id, note.params["campaign"]) == (campaign.id, found.name)
    # Sending stopped: most of the audience was never sent to, and the sandbox saw exactly what was recorded.
    assert len(sent) < 30, len(sent)
    assert {row.status for row in rows(campaign.id) if row.sent_at is None} == {S.QUEUED}
    accepted = [message for message in sandbox.ledger()["messages"] if message["key"]]
    assert len(accepted) == len(sent)
    assert len(complainers) >= 2
    for each in (sender_worker, worker):
        assert "Traceback" not in each.output(), each.output()
