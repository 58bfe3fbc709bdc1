"""A MAX campaign end to end with real processes: people start the bot at the sandbox through their personal links,
the sandbox posts the updates over HTTP to the app's webhook route, a real worker (``python worker.py --burst``)
links their addresses; the campaign is submitted, approved by another person and launched, and a real worker sends
it to the sandbox's MAX Bot API — one rendered message with its opt-out button per person, and a person who stopped
the bot meanwhile (403 ``chat.denied``) failed once, their address stopped, never retried. SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from sqlalchemy import select

from audience import addresses, segments
from audience.models import AddressStatus, ContactAddress
from campaigns import campaign_specs, entry_points, review, senders
from campaigns.bot_rendering import OPT_OUT_PAYLOAD
from campaigns.entry_points import Changes
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from channels.sandbox import defaults as sandbox_defaults
from extensions import db
from tests.campaign_world import add_contact, add_template
from tests.channels import max_calls
from tests.feedback.conftest import pending, stored
from tests.feedback.live_server import LiveServer
from tests.processes import wait_for
from tests.test_dispatch import zone_at
from tests.test_worker import finished_cleanly, start_worker  # noqa: F401  (a fixture)

PEOPLE = {"Анна": 48_000_001, "Борис": 48_000_002, "Вера": 48_000_003}


def linked_addresses(bot) -> dict[int, ContactAddress]:
    db.session.rollback()
    db.session.expire_all()
    rows = db.session.scalars(select(ContactAddress).where(ContactAddress.sender_id == bot.id))
    return {row.contact_id: row for row in rows}


def rows_of(campaign_id: int) -> dict[str, Message]:
    db.session.rollback()
    db.session.expire_all()
    return {row.address: row for row in db.session.scalars(select(Message).where(Message.campaign_id == campaign_id))}


@pytest.mark.slow
def test_a_max_campaign_sent_by_a_real_worker_reaches_each_started_person_once(app, sandbox, make_user,
                                                                               start_worker):
    marketer, reviewer = make_user("marketer"), make_user("reviewer")
    bot = senders.add_sender({"name": "Магазин в MAX", "channel": "max", "access_token": sandbox_defaults.MAX_TOKEN,
                              "base_url": sandbox.url, "bot_username": sandbox_defaults.MAX_BOT_USERNAME})
    contacts = {name: add_contact(name=name, timezone=zone_at(12)) for name in PEOPLE}
    entry_point = entry_points.create_entry_point(Changes(name="Письмо о заказе", sender_ids=(bot.id,)))
    tokens = {name: entry_points.mint_token(entry_point, contact).token for name, contact in contacts.items()}
    db.session.commit()

    # Each person opens their personal link and presses Start; MAX posts bot_started to the bot's webhook.
    with LiveServer(app) as live:
        app.config["WEBHOOK_RECEIVER_URL"] = live.url
        connection = senders.connect_webhook(bot)
        db.session.commit()
        assert connection.connected, connection.sentence
        for name, user in PEOPLE.items():
            max_calls.start(sandbox, user, payload=tokens[name], first_name=name)
        wait_for(lambda: len(stored()) == len(PEOPLE), "the bot's updates to be stored")
        finished_cleanly(start_worker("--burst"))
        # Vestnik stops listening before Вера stops the bot: her stop reaches MAX but not us.
        status, _headers, answer = max_calls.raw(sandbox, "DELETE", f"/subscriptions?url={quote(connection.url)}")
        assert status == 200, answer
    assert pending() == 0
    linked = linked_addresses(bot)
    assert {row.address for row in linked.values()} == {str(user) for user in PEOPLE.values()}
    assert set(linked) == {contact.id for contact in contacts.values()}
    assert all(row.status is AddressStatus.ACTIVE for row in linked.values())
    max_calls.stop(sandbox, PEOPLE["Вера"])

    segment = segments.create_segment("Покупатели", {"tags": ["promo"]})
    template = add_template("max_autumn", body="Здравствуйте, {{1}}! Скидка 20% в {{2}}.")
    campaign = campaign_specs.create_campaign({
        "name": "Осень в MAX", "sender": bot.name, "template": template.id, "segment": segment.name,
        "variables": {"1": {"source": "field", "value": "name", "fallback": "друг"},
                      "2": {"source": "constant", "value": "Москве"}},
        "send_at": None, "send_window": None, "messages_per_second": 30}, marketer)
    db.session.commit()
    review.submit(campaign, marketer)
    db.session.commit()
    review.approve(campaign, reviewer)  # the four-eyes rule: not the author; the launch is scheduled for now
    db.session.commit()

    worker = start_worker("--burst")
    finished_cleanly(worker)

    db.session.rollback()
    assert db.session.get(Campaign, campaign.id).status is CampaignStatus.COMPLETED, worker.output()
    by_address = rows_of(campaign.id)
    anna, boris, vera = (str(PEOPLE[name]) for name in PEOPLE)
    assert {address: row.status for address, row in by_address.items()} == {
        anna: MessageStatus.SENT, boris: MessageStatus.SENT, vera: MessageStatus.FAILED}, worker.output()
    sent = max_calls.sent(sandbox)
    assert sorted(message["user_id"] for message in sent) == sorted([PEOPLE["Анна"], PEOPLE["Борис"]])
    for message in sent:
        name = next(name for name, user in PEOPLE.items() if user == message["user_id"])
        row = by_address[str(message["user_id"])]
        assert message["text"] == f"Здравствуйте, {name}! Скидка 20% в Москве."
        assert message["attachments"] == [{"type": "inline_keyboard", "payload": {"buttons": [[
            {"type": "callback", "text": "Отписаться", "payload": OPT_OUT_PAYLOAD}]]}}]
        assert (row.provider_message_id, row.attempts, row.phone) == (message["mid"], 1, contacts[name].phone)

    # Вера's dialog answered 403 chat.denied: her row failed on its only attempt and her address is stopped.
    stopped = by_address[vera]
    assert (stopped.error_code, stopped.attempts, stopped.provider_message_id) == ("chat.denied", 1, None)
    db.session.expire_all()
    assert addresses.find_address(bot.id, vera).status is AddressStatus.STOPPED
    ledger = sandbox.ledger()
    denied = [request for request in ledger["requests"] if request["path"] == f"/messages?user_id={vera}"]
    assert [request["status"] for request in denied] == [403]
    assert ledger["counts"].get("max_requests_throttled", 0) == ledger["counts"].get("max_dialog_throttled", 0) == 0

    # Never retried: another worker finds nothing to send and the sandbox sees no second request.
    finished_cleanly(start_worker("--burst"))
    assert len(max_calls.sent(sandbox)) == 2
    assert [request["path"] for request in sandbox.ledger()["requests"]].count(f"/messages?user_id={vera}") == 1
