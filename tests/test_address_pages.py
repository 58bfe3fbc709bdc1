"""Pages with messenger addresses, in both languages: a contact without a number in the list, the export and its
own page (the address table with its opt-in evidence, the history of each key), and address entries on the
suppression list and history with their scope and translated labels."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest

from audience import addresses
from audience.models import Contact
from campaigns.models import Sender
from compliance import suppression
from compliance.models import SuppressionReason
from extensions import db
from tests.helpers import signed_in_client
from tests.test_contacts import read_csv

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
WORDS = {
    "en": ("Addresses per channel", "Stopped the bot", "This messenger address only", "No number (messenger only)",
           "The person, on every channel"),
    "ru": ("Адреса по каналам", "Остановил бота", "Только этот адрес в мессенджере", "Без номера (только мессенджер)",
           "Человек, во всех каналах"),
}


@pytest.fixture
def world(app):
    bot = Sender(name="Бот MAX", phone=None, channel="max", bot_username="shop_bot")
    db.session.add(bot)
    db.session.flush()
    row, _ = addresses.link_address(sender_id=bot.id, channel="max", address="1001", at=AT,
                                    consent_source="qr:spring", event_id="ev.start.1", entry_point_id=7,
                                    profile_name="Олег")
    addresses.link_address(sender_id=bot.id, channel="max", address="1002", at=AT,
                           consent_source="qr:spring", event_id="ev.start.2", contact_id=row.contact_id)
    addresses.stop_address(bot.id, "1001", at=AT + timedelta(hours=1), evidence="ev.stop.1")
    suppression.suppress("max:1002", SuppressionReason.OPT_OUT, source="keyword", evidence="mid.stop")
    db.session.commit()
    return db.session.get(Contact, row.contact_id)


@pytest.mark.parametrize("language", ["en", "ru"])
def test_a_messenger_only_contact_renders_with_its_addresses_evidence_and_history(app, make_user, world, language):
    browser = signed_in_client(app, make_user("marketer", language=language).email)
    listing = html.unescape(browser.get("/audience/contacts").get_data(as_text=True))
    assert WORDS[language][3] in listing and "None" not in listing
    page = browser.get(f"/audience/contacts/{world.id}")
    assert page.status_code == 200
    text = html.unescape(page.get_data(as_text=True))
    heading, stopped, address_only, _, person = WORDS[language]
    assert heading in text and stopped in text and address_only in text and person in text
    for evidence in ("qr:spring", "ev.start.1", "ev.stop.1", "mid.stop", "#7", "Олег", "2026-12-01 09:00:00",
                     "MAX 1001", "MAX 1002"):
        assert evidence in text
    assert "bot_stopped" not in text and ">None<" not in text
    _header, [exported] = read_csv(browser.get("/audience/contacts.csv", buffered=True).get_data(as_text=True))
    assert (exported["phone"], exported["name"]) == ("", "Олег")
    assert exported["status"] == "opted_out"  # the person's opt-out in the bot is their status


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_suppression_list_and_an_address_history_show_the_key_and_scope(app, make_user, world, language):
    browser = signed_in_client(app, make_user("marketer", language=language).email)
    listing = html.unescape(browser.get("/suppressions").get_data(as_text=True))
    assert "MAX 1001" in listing and "MAX 1002" in listing and WORDS[language][2] in listing
    assert "bot_stopped" not in listing
    history = browser.get("/suppressions/max:1001")
    assert history.status_code == 200
    text = html.unescape(history.get_data(as_text=True))
    assert WORDS[language][1] in text and "ev.stop.1" in text
    assert browser.get("/suppressions/max:bad key").status_code == 404
    header, rows = read_csv(browser.get("/suppressions.csv", buffered=True).get_data(as_text=True))
    assert header[-2:] == ["address_key", "scope"]
    assert {(row["address_key"], row["scope"], row["reason"]) for row in rows} == {
        ("max:1001", "address", "bot_stopped"), ("max:1002", "person", "opt_out")}
