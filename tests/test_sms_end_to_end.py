"""An SMS campaign end to end with real processes: the SMS sender's status URL set in the sandbox's SMSC account
(``connect_webhook``), the campaign submitted, approved by another person and launched, a real worker sending it to
the sandbox's ``send.php`` — each person's own text, from the sender's alpha name — and the sandbox's delivery
reports posted over HTTP to the webhook receiver process, applied by the worker: delivered rows priced by their
parts, a number SMS cannot reach (last digits 85: SMSC's code 8 at once) failed as unreachable and never retried,
one the operator could not find (88: status 20 in a report) failed the same way. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from audience import segments
from campaigns import campaign_specs, review, senders
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from channels.base import FailureMeaning
from channels.errors import decision_for
from channels.sandbox import defaults as sandbox_defaults
from extensions import db
from tests.campaign_world import add_contact, add_template
from tests.channels import sms_calls
from tests.feedback.conftest import pending, start_receiver  # noqa: F401  (a fixture)
from tests.processes import wait_for
from tests.test_dispatch import zone_at
from tests.test_worker import finished_cleanly, start_worker  # noqa: F401  (a fixture)

PEOPLE = {"Анна": "+79031110001", "Борис": "+79031110002", "Вера": "+79031110085", "Глеб": "+79031110088"}


def rows_by_phone(campaign_id: int) -> dict[str, Message]:
    db.session.rollback()
    db.session.expire_all()
    return {row.phone: row for row in db.session.scalars(select(Message).where(Message.campaign_id == campaign_id))}


@pytest.mark.slow
def test_an_sms_campaign_is_sent_by_a_real_worker_and_its_reports_come_through_the_receiver(
        app, sandbox, make_user, start_worker, start_receiver):
    marketer, reviewer = make_user("marketer"), make_user("reviewer")
    app.config["SANDBOX_URL"] = sandbox.url
    sms = senders.add_sender({"name": "Магазин SMS", "channel": "smsc", "base_url": sandbox.url,
                              "login": sandbox_defaults.SMS_LOGIN, "access_token": sandbox_defaults.SMS_PASSWORD,
                              "alpha_name": "Shop24", "messages_per_second": 50})
    contacts = {name: add_contact(phone, name=name, timezone=zone_at(12)) for name, phone in PEOPLE.items()}
    db.session.commit()
    receiver = start_receiver()
    app.config["WEBHOOK_RECEIVER_URL"] = receiver.url
    connection = senders.connect_webhook(sms)
    db.session.commit()
    assert connection.connected, connection.sentence
    [account] = [item for item in sandbox.control("GET", "/_sandbox/sms/accounts")
                 if item["login"] == sandbox_defaults.SMS_LOGIN]
    assert account["callback_url"] == senders.webhook_url(sms)
    assert account["callback_url"].startswith(f"{receiver.url}/webhooks/sms/{sms.id}?secret=")

    segment = segments.create_segment("Покупатели SMS", {"tags": ["promo"]})
    # Not submitted to any provider: an SMS gateway takes no templates, so the review is the only approval.
    template = add_template("sms_autumn", body="Здравствуйте, {{1}}! Скидка *20%* в {{2}}.",
                            buttons=[{"type": "quick_reply", "text": "Отписаться"}])
    campaign = campaign_specs.create_campaign({
        "name": "Осень в SMS", "sender": sms.name, "template": template.id, "segment": segment.name,
        "variables": {"1": {"source": "field", "value": "name", "fallback": "друг"},
                      "2": {"source": "constant", "value": "Москве"}},
        "send_at": None, "send_window": None, "messages_per_second": 50}, marketer)
    db.session.commit()
    report = review.submit(campaign, marketer)
    db.session.commit()
    assert report["template"]["approved"] and not report["blocking"], report["blocking"]
    assert (report["estimate"]["category"], report["estimate"]["total_minor"]) == ("sms", 22)  # 4 × 0.056
    # A mailing by SMS runs under the gateway's contract (126-FZ art. 44.1): the reviewer says so in writing.
    review.approve(campaign, reviewer, acknowledgement="Договор с SMSC покрывает эту рассылку, имя Shop24 в порядке.")
    db.session.commit()

    worker = start_worker()

    def settled() -> bool:
        found = rows_by_phone(campaign.id)
        return len(found) == 4 and all(row.status in (MessageStatus.DELIVERED, MessageStatus.FAILED)
                                       for row in found.values())

    wait_for(settled, f"every SMS to be delivered or failed:\n{worker.output()}")
    wait_for(lambda: pending() == 0, f"every stored report to be applied:\n{worker.output()}")
    by_phone = rows_by_phone(campaign.id)
    anna, boris, vera, gleb = (PEOPLE[name] for name in PEOPLE)
    assert {phone: row.status for phone, row in by_phone.items()} == {
        anna: MessageStatus.DELIVERED, boris: MessageStatus.DELIVERED, vera: MessageStatus.FAILED,
        gleb: MessageStatus.FAILED}, worker.output()

    taken = {message["phone"]: message for message in sms_calls.messages(sandbox)}
    assert set(taken) == {anna, boris, gleb}  # Вера's number was refused at once: nothing was taken for her
    for name in ("Анна", "Борис"):
        message, row = taken[PEOPLE[name]], by_phone[PEOPLE[name]]
        assert message["text"] == f"Здравствуйте, {name}! Скидка 20% в Москве.\nОтписаться: ответьте СТОП"
        assert (message["sender"], message["id"], message["parts"]) == ("Shop24", row.idempotency_key, 1)
        # Priced when delivered: one part at the card's price for Beeline's range (+7903), 0.061 → 6 cents.
        assert (row.attempts, row.delivered_at is not None, row.price_category, row.cost_minor) == (1, True, "sms", 6)

    # Unreachable by SMS: the send's answer (code 8) and the operator's report (status 20) alike, never retried.
    assert (by_phone[vera].error_code, by_phone[vera].attempts) == ("8", 1)
    assert by_phone[gleb].error_code == "status_20"
    for row in (by_phone[vera], by_phone[gleb]):
        assert decision_for("smsc", row.error_code).meaning is FailureMeaning.UNREACHABLE
    assert contacts["Вера"].phone == vera

    db.session.rollback()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.COMPLETED, worker.output()
    assert "Traceback" not in worker.output(), worker.output()
    requests = [request for request in sandbox.ledger()["requests"] if request["path"] == "/sys/send.php"]
    assert len(requests) == 4  # one request a person: none sent twice
