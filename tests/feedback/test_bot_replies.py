"""Replies and stops that come through a messenger bot: an opt-out (keyword, refusal or the opt-out button) stops
the person on every channel, START lifts it everywhere, a stop closes that bot's address only, a person who writes
first gets an address that is not marketing consent, and ordinary replies land in the inbox on that bot."""

from __future__ import annotations

from datetime import timedelta
from itertools import count as counter

from sqlalchemy import select

from audience import addresses
from audience.models import AddressStatus, Contact, ContactAddress
from campaigns.feedback import free_text, inbox
from campaigns.feedback.models import Direction, Notification
from campaigns.feedback.routing import FeedbackContext, route
from campaigns.models import Message, MessageStatus, Sender
from channels.base import BotStopped, InboundMessage
from compliance import suppression
from compliance.models import SuppressionReason, SuppressionScope
from dbtypes import utcnow
from extensions import db
from tests.bot_world import a_bot
from tests.feedback.inbox_world import conversation_of, thread_of
from tests.test_materialise import add_campaign, add_template

PHONE = "+79031234567"
_ids = counter(1)


def a_person(max_bot: Sender, telegram_bot: Sender, *, language: str = "ru") -> Contact:
    """A contact with a number who started both bots through personal links."""
    contact = Contact(phone=PHONE, name="Анна", language=language, consent_source="shop", consent_at=utcnow())
    db.session.add(contact)
    db.session.flush()
    addresses.link_address(sender_id=max_bot.id, channel="max", address="1001", at=utcnow() - timedelta(days=1),
                           consent_source="personal:1", event_id="ev.max", contact_id=contact.id)
    addresses.link_address(sender_id=telegram_bot.id, channel="telegram", address="2002",
                           at=utcnow() - timedelta(days=1), consent_source="personal:1", event_id="ev.tg",
                           contact_id=contact.id)
    db.session.commit()
    return contact


def message(address: str, text: str = "", *, payload: str | None = None, at=None, provider_id: str | None = None,
            name: str = "") -> InboundMessage:
    """What a bot adapter reports for a message (or a button press) from ``address``."""
    return InboundMessage(provider_id=provider_id or f"mid.{next(_ids)}", sender=address, at=at or utcnow(),
                          text=text, button_payload=payload, profile_name=name, user_id=address,
                          kind="callback" if payload is not None else "text")


def apply(bot: Sender, events: list) -> FeedbackContext:
    """One batch of ``events`` of ``bot`` through the routing, committed, as the processing of a batch does."""
    context = FeedbackContext(sender=db.session.get(Sender, bot.id), now=utcnow())
    route(context, events)
    db.session.commit()
    return context


def open_reasons(key: str) -> set[str]:
    return {entry.reason.value for entry in suppression.open_entries(key)}


def test_stop_in_one_bot_suppresses_the_person_on_whatsapp_and_on_the_other_bot(app):
    max_bot, telegram_bot = a_bot(), a_bot("Бот TG", "telegram")
    contact = a_person(max_bot, telegram_bot)
    apply(max_bot, [message("1001", "СТОП", provider_id="mid.stop")])

    for key in (PHONE, "max:1001", "telegram:2002"):
        [entry] = suppression.open_entries(key)
        assert (entry.reason, entry.scope, entry.evidence) == (SuppressionReason.OPT_OUT, SuppressionScope.PERSON,
                                                               "mid.stop")
    assert addresses.person_suppressed([contact.id]) == {contact.id: ("opt_out",)}
    # The addresses stay open: the person did not stop the bots, they refused marketing.
    assert {row.status for row in addresses.addresses_of(contact.id)} == {AddressStatus.ACTIVE}
    conversation = conversation_of(max_bot, "1001")
    assert conversation.contact_id == contact.id
    inbound_row, confirmation = thread_of(conversation)
    assert inbound_row.intent == "opt_out"
    assert (confirmation.direction, confirmation.idempotency_key) == (Direction.OUTBOUND, "confirm-mid.stop")
    assert "отписались" in confirmation.text  # through the same bot, in the contact's language
    assert conversation_of(telegram_bot, "2002") is None and conversation_of(max_bot, PHONE) is None


def test_the_opt_out_button_and_a_written_refusal_opt_out_as_on_whatsapp(app):
    max_bot, telegram_bot = a_bot(), a_bot("Бот TG", "telegram")
    a_person(max_bot, telegram_bot)
    apply(telegram_bot, [message("2002", "Отписаться", payload="STOP_PROMO")])
    assert open_reasons(PHONE) == open_reasons("max:1001") == open_reasons("telegram:2002") == {"opt_out"}
    [row, _confirmation] = thread_of(conversation_of(telegram_bot, "2002"))
    assert (row.button_payload, row.intent, row.kind) == ("STOP_PROMO", "opt_out", "callback")

    stranger = a_bot("Бот два")
    apply(stranger, [message("3003", "Больше не пишите мне")])
    assert open_reasons("max:3003") == {"opt_out"}


def test_start_lifts_the_persons_opt_out_everywhere_and_confirms_once(app):
    max_bot, telegram_bot = a_bot(), a_bot("Бот TG", "telegram")
    contact = a_person(max_bot, telegram_bot, language="en")
    now = utcnow()
    apply(max_bot, [message("1001", "STOP", at=now - timedelta(minutes=5))])
    apply(telegram_bot, [message("2002", "START", at=now, provider_id="mid.start")])
    assert addresses.person_suppressed([contact.id]) == {}
    assert all(open_reasons(key) == set() for key in (PHONE, "max:1001", "telegram:2002"))
    assert suppression.history(PHONE)[0].lift_evidence == "mid.start"
    [_row, confirmation] = thread_of(conversation_of(telegram_bot, "2002"))
    assert "subscribed again" in confirmation.text
    apply(telegram_bot, [message("2002", "START")])  # nothing changed: nothing to confirm
    assert len(thread_of(conversation_of(telegram_bot, "2002"), Direction.OUTBOUND)) == 1


def test_start_in_a_bot_never_lifts_a_block(app):
    max_bot, telegram_bot = a_bot(), a_bot("Бот TG", "telegram")
    a_person(max_bot, telegram_bot)
    suppression.suppress(PHONE, SuppressionReason.BLOCK, source="webhook")
    db.session.commit()
    apply(max_bot, [message("1001", "СТАРТ")])
    assert open_reasons(PHONE) == {"block"}
    assert thread_of(conversation_of(max_bot, "1001"), Direction.OUTBOUND) == []  # nothing to who blocked us


def test_a_bot_stop_closes_that_address_only_with_the_event_as_evidence(app):
    max_bot, telegram_bot = a_bot(), a_bot("Бот TG", "telegram")
    contact = a_person(max_bot, telegram_bot)
    at = utcnow()
    stop = BotStopped(address="1001", at=at, event_id="max:1001:bot_stopped:1733300000")
    apply(max_bot, [stop])
    apply(max_bot, [stop])  # re-posted
    apply(max_bot, [BotStopped(address="9999", at=at, event_id="ev.unknown")])  # nobody we know

    row = addresses.find_address(max_bot.id, "1001")
    assert (row.status, row.status_evidence) == (AddressStatus.STOPPED, stop.event_id)
    [entry] = suppression.history("max:1001")
    assert (entry.reason, entry.scope, entry.evidence, entry.source) == (
        SuppressionReason.BOT_STOPPED, SuppressionScope.ADDRESS, stop.event_id, "bot")
    assert suppression.open_entries(PHONE) == [] and suppression.open_entries("telegram:2002") == []
    assert addresses.person_suppressed([contact.id]) == {}
    assert addresses.find_address(telegram_bot.id, "2002").status is AddressStatus.ACTIVE
    assert addresses.find_address(max_bot.id, "9999") is None


def test_a_person_who_writes_first_gets_an_address_that_is_not_marketing_consent_and_a_conversation(app):
    bot = a_bot()
    at = utcnow() - timedelta(minutes=2)
    apply(bot, [message("4004", "Здравствуйте, есть доставка?", at=at, provider_id="mid.first", name="Олег"),
                message("4004", "И самовывоз?", at=at + timedelta(seconds=30))])

    [row] = db.session.scalars(select(ContactAddress)).all()
    assert (row.address, row.address_key, row.status) == ("4004", "max:4004", AddressStatus.ACTIVE)
    assert (row.consent_source, row.consent_event_id, row.consent_at) == ("inbound", "mid.first", at)
    contact = db.session.get(Contact, row.contact_id)
    assert contact.phone is None and contact.consent_source == "inbound" and contact.name == "Олег"
    conversation = conversation_of(bot, "4004")
    assert conversation.contact_id == contact.id and conversation.unread == 2 and conversation.profile_name == "Олег"
    assert [item.intent for item in thread_of(conversation)] == ["none", "none"]
    assert free_text.person_of(conversation).keys == ("max:4004",)
    apply(bot, [message("4004", "Ау?")])
    assert db.session.query(ContactAddress).count() == 1 and db.session.query(Contact).count() == 1


def test_a_reply_answers_the_campaign_message_the_bot_sent_to_that_address(app):
    bot = a_bot()
    row, _ = addresses.link_address(sender_id=bot.id, channel="max", address="5005", at=utcnow() - timedelta(days=2),
                                    consent_source="qr:spring", event_id="ev.5")
    campaign = add_campaign(sender=bot, template=add_template())
    sent = Message(campaign_id=campaign.id, contact_id=row.contact_id, phone="", address="5005", variables={},
                   idempotency_key=f"{campaign.id}-{row.contact_id}", status=MessageStatus.DELIVERED,
                   sent_at=utcnow() - timedelta(hours=1), provider_message_id="mid.campaign")
    db.session.add(sent)
    db.session.commit()
    context = apply(bot, [message("5005", "STOP")])
    [reply, _confirmation] = thread_of(conversation_of(bot, "5005"))
    assert (reply.message_id, reply.campaign_id) == (sent.id, campaign.id)
    assert context.touched_campaigns == {campaign.id}


def test_an_unsure_reply_in_a_bot_holds_the_person_and_the_decision_opts_them_out_everywhere(app, admin):
    max_bot, telegram_bot = a_bot(), a_bot("Бот TG", "telegram")
    a_person(max_bot, telegram_bot)
    apply(max_bot, [message("1001", "Не надо")])
    conversation = conversation_of(max_bot, "1001")
    assert conversation.needs_decision
    assert all(open_reasons(key) == {"unsure_reply"} for key in (PHONE, "max:1001", "telegram:2002"))
    [notification] = db.session.scalars(select(Notification)).all()
    assert notification.params["phone"] == "MAX 1001"

    assert inbox.decide(conversation, True, actor=admin)
    db.session.commit()
    assert all(open_reasons(key) == {"opt_out"} for key in (PHONE, "max:1001", "telegram:2002"))
    assert not conversation_of(max_bot, "1001").needs_decision
    assert db.session.get(Notification, notification.id).resolved_at is not None


def test_a_max_user_id_of_twenty_digits_has_its_conversation_and_the_page_names_the_bot_not_a_number(
        app, admin_browser):
    bot = a_bot()
    longest = "18446744073709551615"  # MAX user ids are 64-bit
    apply(bot, [message(longest, "Здравствуйте", name="Олег")])
    conversation = conversation_of(bot, longest)
    assert conversation.unread == 1 and conversation.phone == longest
    page = admin_browser.get(f"/inbox/{conversation.id}").get_data(as_text=True)
    assert "Address on the bot" in page and f"@{bot.bot_username}" in page and "(None)" not in page
    assert "WhatsApp profile name" not in page and "Profile name in the messenger" in page
