"""A contact's bot addresses: starts idempotent, a restart reopening only the address, a person's opt-out
outliving any restart, two workers racing on one start, and the bulk reads dispatch uses."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from audience import addresses
from audience.models import AddressChannel, AddressStatus, Contact, ContactAddress
from campaigns.models import Sender
from compliance import suppression
from compliance.models import Suppression, SuppressionReason, SuppressionScope
from extensions import db
from tests.bot_world import a_bot

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
MAX = AddressChannel.MAX


def start(bot: Sender, address: str = "1001", *, at: datetime = AT, event: str = "ev.1", **extra):
    values = {"consent_source": "qr:spring", "user_id": address, **extra}
    return addresses.link_address(sender_id=bot.id, channel=bot.channel, address=address, at=at,
                                  event_id=event, **values)


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_first_start_creates_a_messenger_only_contact_with_the_evidence_and_a_repeat_changes_nothing(app):
    bot = a_bot()
    row, created = start(bot, profile_name="Анна", entry_point_id=7, language="ru")
    db.session.commit()
    assert created and row.status is AddressStatus.ACTIVE and row.address_key == "max:1001"
    assert (row.consent_source, row.consent_at, row.entry_point_id, row.consent_event_id) == ("qr:spring", AT, 7,
                                                                                             "ev.1")
    contact = db.session.get(Contact, row.contact_id)
    assert contact.phone is None and (contact.name, contact.language, contact.consent_source) == ("Анна", "ru",
                                                                                                 "qr:spring")
    again, created_again = start(bot, at=AT + timedelta(hours=1), event="ev.2")
    db.session.commit()
    assert not created_again and again.id == row.id and again.consent_event_id == "ev.1"
    assert (count(ContactAddress), count(Contact)) == (1, 1)


def test_a_personal_token_links_the_known_contact_and_the_same_person_on_another_bot_is_the_same_contact(app):
    known = Contact(phone="+79031234567", consent_source="shop", consent_at=AT)
    db.session.add(known)
    db.session.commit()
    first, second = a_bot("Бот один"), a_bot("Бот два")
    row, _ = start(first, contact_id=known.id, consent_source="personal:3")
    other, created = start(second)
    db.session.commit()
    assert created and row.contact_id == other.contact_id == known.id
    assert [a.sender_id for a in addresses.addresses_of(known.id)] == [first.id, second.id]
    assert count(Contact) == 1


def test_a_stop_closes_the_address_only_and_a_restart_lifts_only_that_entry(app):
    bot = a_bot()
    row, _ = start(bot)
    contact = db.session.get(Contact, row.contact_id)
    contact.phone = "+79031234567"
    suppression.suppress("+79039999999", SuppressionReason.OPT_OUT, source="keyword")  # someone else
    stopped = addresses.stop_address(bot.id, "1001", at=AT + timedelta(hours=1), evidence="ev.stop")
    assert addresses.stop_address(bot.id, "1001", at=AT + timedelta(hours=1), evidence="ev.stop.again") is stopped
    db.session.commit()
    assert stopped.status is AddressStatus.STOPPED and stopped.status_evidence == "ev.stop"
    [entry] = suppression.open_entries("max:1001")
    assert (entry.reason, entry.scope, entry.evidence, entry.phone) == (SuppressionReason.BOT_STOPPED,
                                                                         SuppressionScope.ADDRESS, "ev.stop", None)
    # The stop closes the address, not the person: their number and the person are not suppressed.
    assert suppression.open_entries("+79031234567") == []
    assert addresses.person_suppressed([contact.id]) == {}
    assert addresses.active_addresses(bot.id, [contact.id]) == {}

    again, reopened = start(bot, at=AT + timedelta(hours=2), event="ev.restart", consent_source="qr:autumn")
    db.session.commit()
    assert reopened and again.status is AddressStatus.ACTIVE and again.consent_source == "qr:autumn"
    assert suppression.open_entries("max:1001") == []
    [lifted] = suppression.history("max:1001")
    assert (lifted.lift_reason, lifted.lift_evidence) == ("bot_restarted", "ev.restart")
    assert set(addresses.active_addresses(bot.id, [contact.id])) == {contact.id}
    assert suppression.suppressed_reasons(["+79039999999"]) == {"+79039999999": ("opt_out",)}


def test_a_persons_opt_out_survives_a_restart_of_the_bot(app):
    bot = a_bot()
    row, _ = start(bot)
    suppression.suppress("max:1001", SuppressionReason.OPT_OUT, source="bot_reply", evidence="mid.1")
    addresses.stop_address(bot.id, "1001", at=AT + timedelta(hours=1), evidence="ev.stop")
    again, reopened = start(bot, at=AT + timedelta(hours=2), event="ev.restart")
    db.session.commit()
    assert reopened and again.status is AddressStatus.ACTIVE
    assert [entry.reason for entry in suppression.open_entries("max:1001")] == [SuppressionReason.OPT_OUT]
    assert addresses.person_suppressed([row.contact_id]) == {row.contact_id: ("opt_out",)}


def test_a_late_stop_older_than_the_restart_changes_nothing(app):
    bot = a_bot()
    start(bot)
    addresses.stop_address(bot.id, "1001", at=AT + timedelta(hours=1), evidence="ev.stop")
    start(bot, at=AT + timedelta(hours=3), event="ev.restart")
    late = addresses.stop_address(bot.id, "1001", at=AT + timedelta(hours=2), evidence="ev.old.stop")
    db.session.commit()
    assert late.status is AddressStatus.ACTIVE and suppression.open_entries("max:1001") == []


def test_unreachable_closes_an_active_address_without_suppressing_and_never_overrides_a_stop(app):
    bot = a_bot()
    start(bot, "1001")
    start(bot, "1002", event="ev.2")
    gone = addresses.mark_unreachable(bot.id, "1001", at=AT + timedelta(hours=1), evidence="chat.not.found")
    addresses.stop_address(bot.id, "1002", at=AT + timedelta(hours=1), evidence="ev.stop")
    still = addresses.mark_unreachable(bot.id, "1002", at=AT + timedelta(hours=2), evidence="chat.not.found")
    db.session.commit()
    assert gone.status is AddressStatus.UNREACHABLE and gone.status_evidence == "chat.not.found"
    assert still.status is AddressStatus.STOPPED
    assert suppression.open_entries("max:1001") == []
    assert addresses.mark_unreachable(bot.id, "9999", at=AT, evidence="x") is None
    assert addresses.stop_address(bot.id, "9999", at=AT, evidence="x") is None


def test_person_suppressed_reads_the_number_and_every_address_key_in_bulk(app):
    bot, telegram = a_bot(), a_bot("Бот TG", "telegram")
    by_phone = Contact(phone="+79031234567", consent_source="shop", consent_at=AT)
    db.session.add(by_phone)
    db.session.flush()
    start(bot, "1", contact_id=by_phone.id)
    messenger_only, _ = start(telegram, "2")
    clean, _ = start(bot, "3")
    suppression.suppress("+79031234567", SuppressionReason.BLOCK, source="webhook")
    suppression.suppress("telegram:2", SuppressionReason.OPT_OUT, source="bot_reply")
    addresses.stop_address(bot.id, "3", at=AT + timedelta(hours=1), evidence="ev.stop")  # address scope only
    db.session.commit()
    found = addresses.person_suppressed([by_phone.id, messenger_only.contact_id, clean.contact_id])
    assert found == {by_phone.id: ("block",), messenger_only.contact_id: ("opt_out",)}
    active = addresses.active_addresses(bot.id, [by_phone.id, messenger_only.contact_id, clean.contact_id])
    assert {contact_id: row.address for contact_id, row in active.items()} == {by_phone.id: "1"}


def test_two_workers_handling_the_same_start_make_one_address_and_one_contact(app):
    bot = a_bot()
    bot_id = bot.id
    results = []

    def second_worker():
        with app.app_context():
            row, created = addresses.link_address(sender_id=bot_id, channel="max", address="1001", at=AT,
                                                  consent_source="qr:spring", event_id="ev.1")
            db.session.commit()
            results.append((row.id, row.contact_id, created))

    # The first worker has inserted (flushed, not committed) when the second arrives: the second waits on the
    # unique (sender_id, address) and, once the first commits, takes the existing row and drops its contact.
    first, created = start(bot, event="ev.1")
    worker = threading.Thread(target=second_worker)
    worker.start()
    # Whether it is already waiting when the first commits or arrives after: one address, one contact either way.
    db.session.commit()
    worker.join(timeout=30)
    assert created and results == [(first.id, first.contact_id, False)]
    assert (count(ContactAddress), count(Contact)) == (1, 1)


def test_suppression_keys_use_their_own_column_and_index(app):
    entry, created = suppression.suppress("telegram:5", SuppressionReason.OPT_OUT, source="bot_reply")
    again, created_again = suppression.suppress("telegram:5", SuppressionReason.OPT_OUT, source="bot_reply")
    db.session.commit()
    assert created and not created_again and again.id == entry.id
    assert (entry.phone, entry.address_key, entry.scope) == (None, "telegram:5", SuppressionScope.PERSON)
    racing = Suppression(address_key="telegram:5", reason=SuppressionReason.OPT_OUT, source="bot_reply",
                         actor_label="system")
    db.session.add(racing)
    try:
        db.session.flush()
        raise AssertionError("a second open entry for one address key was accepted")
    except Exception as error:  # the partial unique index on address_key refuses it
        assert "unique" in str(error).lower() or "duplicate" in str(error).lower()
    db.session.rollback()
    assert [e.id for e in suppression.open_entries("telegram:5")] == [entry.id]
    assert suppression.lift_opt_out("telegram:5", evidence="mid.2")[0].id == entry.id


def test_writing_first_is_no_marketing_consent_until_the_person_starts_the_bot_through_an_entry_point(app):
    bot = a_bot()
    row, _ = start(bot, consent_source="inbound", event="mid.first")
    db.session.commit()
    assert addresses.active_addresses(bot.id, [row.contact_id]) == {}
    again, opted_in = start(bot, at=AT + timedelta(hours=1), event="ev.start", consent_source="qr:spring")
    db.session.commit()
    assert opted_in and (again.consent_source, again.consent_event_id) == ("qr:spring", "ev.start")
    assert db.session.get(Contact, row.contact_id).consent_source == "qr:spring"
    assert set(addresses.active_addresses(bot.id, [row.contact_id])) == {row.contact_id}
