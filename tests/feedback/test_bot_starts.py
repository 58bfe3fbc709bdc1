"""Bot starts through entry points, fed through the feedback routing: a source code makes a contact with
``qr:<code>``, a personal token links its contact, a redelivered update or a second press counts no second
opt-in, an unknown or expired token gets a polite answer and no consent; and the WhatsApp "<keyword> <code>"
first message."""

from __future__ import annotations

from datetime import timedelta

from rq.job import Job
from sqlalchemy import func, select

from audience.models import AddressStatus, Contact, ContactAddress
from campaigns import entry_points
from campaigns.entry_point_models import EntryStart, EntryToken
from campaigns.feedback import entry_answers, free_text
from campaigns.feedback.models import Conversation, ConversationMessage, Direction
from campaigns.feedback.reply_jobs import send_job_id
from compliance import suppression
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db, redis_queues
from tests.bot_world import a_bot
from tests.campaign_world import add_contact
from tests.entry_world import a_whatsapp, an_entry_point, feed, fresh, started, whatsapp_text


def count(model, *conditions) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def answers_to(sender, address: str) -> list[ConversationMessage]:
    db.session.expire_all()
    return list(db.session.scalars(
        select(ConversationMessage).join(Conversation, Conversation.id == ConversationMessage.conversation_id)
        .where(Conversation.sender_id == sender.id, Conversation.phone == address,
               ConversationMessage.direction == Direction.OUTBOUND).order_by(ConversationMessage.id)))


def test_a_source_code_creates_a_contact_with_qr_evidence_and_repeats_count_no_second_opt_in(app):
    bot = a_bot()
    entry_point = an_entry_point(bot)
    first = started("1001", entry_point.code, event_id="upd.100")
    assert feed(bot, [first]) == {"BotStarted": 1}

    [address] = db.session.scalars(select(ContactAddress)).all()
    contact = db.session.get(Contact, address.contact_id)
    assert (address.status, address.consent_source, address.entry_point_id, address.consent_event_id) == (
        AddressStatus.ACTIVE, f"qr:{entry_point.code}", entry_point.id, "upd.100")
    assert contact.phone is None and contact.consent_source == f"qr:{entry_point.code}"
    assert (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (1, 1)

    feed(bot, [first, first])  # the same update redelivered (twice in one batch, too)
    assert (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (1, 1)
    feed(bot, [started("1001", entry_point.code.upper(), event_id="upd.101")])  # pressed start again
    assert (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (2, 1)
    assert count(ContactAddress) == 1 and count(Contact) == 1
    assert [row.opted_in for row in db.session.scalars(select(EntryStart).order_by(EntryStart.id))] == [True, False]
    assert answers_to(bot, "1001") == []  # no polite refusal for a good code


def test_a_personal_token_links_its_contact_however_many_starts_use_it(app):
    bot, telegram = a_bot(), a_bot("Бот Telegram", "telegram", "shop_tg_bot")
    entry_point = an_entry_point(bot, telegram, name="Письмо о заказе")
    contact = add_contact("+79035550101", name="Анна")
    token = entry_points.mint_token(entry_point, contact)
    db.session.commit()
    assert entry_points.PAYLOAD.match(token.token) and len(token.token) <= 64

    feed(bot, [started("2001", token.token, event_id="upd.200")])
    feed(telegram, [started("777", token.token, event_id="upd.201")])
    feed(telegram, [started("777", token.token, event_id="upd.201")])  # redelivered
    rows = db.session.scalars(select(ContactAddress).order_by(ContactAddress.id)).all()
    assert [(row.contact_id, row.consent_source) for row in rows] == [(contact.id, f"personal:{entry_point.code}")] * 2
    assert count(Contact) == 1  # no messenger-only contact besides the known one
    assert (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (2, 2)
    db.session.expire_all()
    assert db.session.get(EntryToken, token.id).uses == 2


def test_an_unknown_token_gets_a_polite_answer_once_and_no_consent(app):
    bot = a_bot()
    entry_point = an_entry_point(bot)
    nonsense = started("3001", "notATokenOfOurs", event_id="upd.300")
    feed(bot, [nonsense])
    feed(bot, [nonsense])
    assert count(ContactAddress) == 0 and count(Contact) == 0
    [answer] = answers_to(bot, "3001")
    assert answer.idempotency_key == entry_answers.answer_key("upd.300")
    assert answer.status == free_text.OutboundStatus.QUEUED.value and answer.sent_by_id is None
    assert "не узнали" in answer.text
    job = Job.fetch(send_job_id(answer.id), connection=redis_queues.connection)
    assert job.args == (answer.id,) and job.origin == "webhooks"
    assert (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (0, 0)

    feed(bot, [started("3002", "bad token!", event_id="upd.301", language="en")])  # outside the alphabet
    [english] = answers_to(bot, "3002")
    assert english.text.startswith("Sorry, we do not recognise this link")


def test_a_code_or_token_of_an_entry_point_that_does_not_offer_this_bot_gives_no_consent(app):
    offered, other = a_bot(), a_bot("Бот Telegram", "telegram", "shop_tg_bot")
    entry_point = an_entry_point(offered)
    token = entry_points.mint_token(entry_point, add_contact("+79035550199"))
    db.session.commit()
    feed(other, [started("4001", entry_point.code, event_id="upd.400"),
                 started("4002", token.token, event_id="upd.401")])
    assert count(ContactAddress) == 0 and count(EntryStart) == 0
    assert "не узнали" in answers_to(other, "4001")[0].text and answers_to(other, "4002")
    assert (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (0, 0)
    feed(offered, [started("4001", entry_point.code, event_id="upd.402")])  # the same code on its own bot
    assert count(ContactAddress) == 1 and (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (1, 1)


def test_expired_or_archived_codes_and_tokens_give_no_consent_and_say_so(app):
    bot = a_bot()
    expired = an_entry_point(bot, name="Старая акция", expires_at=utcnow() + timedelta(hours=1))
    archived = an_entry_point(bot, name="Снятый плакат")
    live = an_entry_point(bot, name="Карточка")
    contact = add_contact("+79035550102")
    old_token = entry_points.mint_token(live, contact, expires_at=utcnow() + timedelta(minutes=5))
    db.session.commit()
    expired.expires_at = utcnow() - timedelta(minutes=1)
    old_token.expires_at = utcnow() - timedelta(seconds=1)
    entry_points.set_archived(archived, True)
    db.session.commit()

    feed(bot, [started("4001", expired.code, event_id="upd.400"), started("4002", archived.code, event_id="upd.401"),
               started("4003", old_token.token, event_id="upd.402", language="en")])
    assert count(ContactAddress) == 0 and count(Contact) == 1  # only the known contact
    for address in ("4001", "4002"):
        [answer] = answers_to(bot, address)
        assert "срок действия этой ссылки истёк" in answer.text
    assert answers_to(bot, "4003")[0].text.startswith("Sorry, this link has expired")
    assert all((fresh(point).starts, fresh(point).opt_ins) == (0, 0) for point in (expired, archived, live))


def test_opening_the_bot_directly_records_a_bot_start_without_an_entry_point(app):
    bot = a_bot()
    entry_point = an_entry_point(bot)
    feed(bot, [started("5001", None, event_id="upd.500")])
    [address] = db.session.scalars(select(ContactAddress)).all()
    assert (address.consent_source, address.entry_point_id) == ("bot_start", None)
    assert (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (0, 0)
    assert answers_to(bot, "5001") == []


def test_the_whatsapp_keyword_and_code_make_a_contact_with_qr_evidence_once(app):
    number = a_whatsapp()
    entry_point = an_entry_point(number)
    message = whatsapp_text("+79035550201", f"  подписка   {entry_point.code.upper()} ", provider_id="wamid.kw1")
    feed(number, [message])
    feed(number, [message])  # re-posted

    contact = db.session.scalar(select(Contact).where(Contact.phone == "+79035550201"))
    assert (contact.consent_source, contact.name, contact.country) == (f"qr:{entry_point.code}", "Иван", "RU")
    assert (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (1, 1)
    # The reply handler ran after it: the conversation knows the new contact.
    conversation = db.session.scalar(select(Conversation).where(Conversation.phone == "+79035550201"))
    assert conversation.contact_id == contact.id

    feed(number, [whatsapp_text("+79035550201", f"ПОДПИСКА {entry_point.code}")])  # sent again
    assert (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (2, 1)
    assert count(Contact) == 1


def test_a_known_or_suppressed_number_is_never_re_subscribed_by_the_keyword(app):
    number = a_whatsapp()
    entry_point = an_entry_point(number)
    known = add_contact("+79035550202", consent_source="order form")
    suppression.suppress("+79035550203", SuppressionReason.OPT_OUT, source="reply")
    db.session.commit()
    feed(number, [whatsapp_text("+79035550202", f"подписка {entry_point.code}"),
                  whatsapp_text("+79035550203", f"подписка {entry_point.code}")])
    db.session.expire_all()
    assert db.session.get(Contact, known.id).consent_source == "order form"
    assert db.session.scalar(select(Contact).where(Contact.phone == "+79035550203")) is None
    assert (fresh(entry_point).starts, fresh(entry_point).opt_ins) == (2, 0)


def test_the_keyword_counts_only_on_a_number_the_entry_point_offers_and_an_expired_one_answers(app):
    offered, other = a_whatsapp(), a_whatsapp("Другой номер", "+74952220000")
    entry_point = an_entry_point(offered)
    feed(other, [whatsapp_text("+79035550204", f"подписка {entry_point.code}")])
    feed(offered, [whatsapp_text("+79035550205", f"другое {entry_point.code}")])  # not its keyword
    assert count(Contact) == 0 and fresh(entry_point).starts == 0

    entry_point.archived_at = utcnow()
    db.session.commit()
    feed(offered, [whatsapp_text("+79035550206", f"подписка {entry_point.code}", provider_id="wamid.kw9")])
    assert count(Contact) == 0
    [answer] = answers_to(offered, "+79035550206")
    assert answer.idempotency_key == entry_answers.answer_key("wamid.kw9") and "истёк" in answer.text
