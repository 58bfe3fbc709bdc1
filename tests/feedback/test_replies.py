"""Inbound messages into conversations: one row per provider id whatever is re-posted or reordered, the
24-hour window the platform records, the campaign message each reply answers, and what compliance makes of
the reply (the confirmation queued once, an opt-out's campaign touched, an unsure reply flagged)."""

from __future__ import annotations

from datetime import timedelta

from rq.job import Job
from sqlalchemy import select

from campaigns.feedback import free_text
from campaigns.feedback.models import ConversationMessage, Direction, Notification, NotificationKind
from campaigns.feedback.reply_jobs import send_job_id
from campaigns.models import Message, Sender
from compliance import suppression
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db, redis_queues
from tests.feedback.inbox_world import a_contact, apply, conversation_of, inbound, sent, thread_of


def a_sender(name: str = "Магазин", phone: str = "+74951110000") -> Sender:
    sender = Sender(name=name, phone=phone, tier="TIER_UNLIMITED", channel="sandbox")
    db.session.add(sender)
    db.session.commit()
    return sender


def test_a_reply_starts_a_conversation_that_records_the_window_and_answers_the_campaign_message(app):
    sender = a_sender()
    contact = a_contact(name="Анна Петрова")
    message = sent(contact, sender, provider_id="wamid.campaign1")
    at = utcnow() - timedelta(minutes=3)
    apply(sender, [inbound(contact.phone, "А доставка бесплатная?", at=at, context_id="wamid.campaign1",
                           name="Аня", provider_id="wamid.reply1")])

    conversation = conversation_of(sender, contact.phone)
    assert conversation.contact_id == contact.id and conversation.profile_name == "Аня"
    assert conversation.last_inbound_at == at and conversation.unread == 1 and not conversation.needs_decision
    [row] = thread_of(conversation)
    assert (row.direction, row.provider_message_id, row.text) == (Direction.INBOUND, "wamid.reply1",
                                                                  "А доставка бесплатная?")
    assert (row.message_id, row.campaign_id, row.intent) == (message.id, message.campaign_id, "none")
    assert db.session.get(Message, message.id).replied_at == at


def test_the_same_replies_re_posted_and_reordered_change_nothing_the_second_time(app):
    sender = a_sender()
    contact = a_contact()
    message = sent(contact, sender, provider_id="wamid.campaign2")
    now = utcnow()
    first, second, third = (
        inbound(contact.phone, text, at=now - timedelta(minutes=minutes), context_id="wamid.campaign2")
        for text, minutes in (("Здравствуйте", 30), ("Есть размер M?", 20), ("Жду ответа", 10)))
    apply(sender, [third, first])  # the newest first
    apply(sender, [second, third, third])  # a re-post, a duplicate inside the batch
    apply(sender, [first, second, third])

    conversation = conversation_of(sender, contact.phone)
    assert [row.text for row in thread_of(conversation)] == ["Здравствуйте", "Есть размер M?", "Жду ответа"]
    assert conversation.unread == 3
    assert conversation.last_inbound_at == third.at and conversation.last_message_at == third.at
    assert db.session.get(Message, message.id).replied_at == first.at  # the first reply, though it came later


def test_a_reply_without_context_answers_the_latest_message_this_sender_sent_to_the_number(app):
    sender, other = a_sender(), a_sender("Другой магазин", "+74952220000")
    contact = a_contact()
    older = sent(contact, sender, hours_ago=30)
    newer = sent(contact, sender, hours_ago=2)
    sent(contact, other, hours_ago=1)  # another sender's message is not what this number was answering
    apply(sender, [inbound(contact.phone, "Спасибо!")])

    [row] = thread_of(conversation_of(sender, contact.phone))
    assert (row.message_id, row.campaign_id) == (newer.id, newer.campaign_id)
    assert db.session.get(Message, newer.id).replied_at is not None
    assert db.session.get(Message, older.id).replied_at is None


def test_a_stranger_gets_a_conversation_by_their_profile_name_and_no_campaign(app):
    sender = a_sender()
    apply(sender, [inbound("+79035550001", "Hi, who is this? I found your number", name="John")])
    conversation = conversation_of(sender, "+79035550001")
    assert conversation.contact_id is None and conversation.profile_name == "John"
    assert thread_of(conversation)[0].campaign_id is None


def test_stop_opts_out_touches_the_campaign_and_queues_one_confirmation_however_often_it_is_re_posted(app):
    sender = a_sender()
    contact = a_contact(language="ru")
    message = sent(contact, sender, provider_id="wamid.campaign3")
    stop = inbound(contact.phone, "СТОП", context_id="wamid.campaign3", provider_id="wamid.stop1")
    context = apply(sender, [stop])
    assert context.touched_campaigns == {message.campaign_id}
    assert [entry.reason for entry in suppression.open_entries(contact.phone)] == [SuppressionReason.OPT_OUT]
    for _ in range(2):
        assert apply(sender, [stop]).touched_campaigns == set()  # a re-post is not a second opt-out

    conversation = conversation_of(sender, contact.phone)
    inbound_row, confirmation = thread_of(conversation)
    assert inbound_row.intent == "opt_out" and conversation.unread == 1
    assert confirmation.direction is Direction.OUTBOUND and confirmation.idempotency_key == "confirm-wamid.stop1"
    assert confirmation.status == free_text.OutboundStatus.QUEUED.value and confirmation.sent_by_id is None
    assert "отписались" in confirmation.text  # in the contact's language
    job = Job.fetch(send_job_id(confirmation.id), connection=redis_queues.connection)
    assert job.args == (confirmation.id,) and job.origin == "webhooks"


def test_a_confirmation_is_worded_in_the_language_the_stranger_wrote_in(app):
    sender = a_sender()
    apply(sender, [inbound("+447700900123", "STOP")])
    [_reply, confirmation] = thread_of(conversation_of(sender, "+447700900123"))
    assert confirmation.text.startswith("You have unsubscribed")


def test_a_long_provider_id_still_gives_one_confirmation_key_that_fits(app):
    sender = a_sender()
    wamid = "wamid.HBgLNzkwMzU1NTAwMDEVAgASGCA1RjE0QjI3QzY3NDM5RTNCQzE0NEE1N0UwQUJGNjkzMwA="
    apply(sender, [inbound("+79035550002", "СТОП", provider_id=wamid)])
    apply(sender, [inbound("+79035550002", "СТОП", provider_id=wamid)])
    keys = db.session.scalars(select(ConversationMessage.idempotency_key)
                              .where(ConversationMessage.direction == Direction.OUTBOUND)).all()
    assert keys == [free_text.confirmation_key(wamid)] and len(keys[0]) <= 64 and keys[0].startswith("confirm-")


def test_an_unsure_reply_holds_the_number_flags_the_conversation_and_notifies_once(app):
    sender = a_sender()
    contact = a_contact()
    message = sent(contact, sender)
    apply(sender, [inbound(contact.phone, "Не надо")])
    apply(sender, [inbound(contact.phone, "Зачем вы мне пишете")])  # a second one joins the open notification

    conversation = conversation_of(sender, contact.phone)
    assert conversation.needs_decision
    assert [row.intent for row in thread_of(conversation)] == ["unsure", "unsure"]
    assert not thread_of(conversation, Direction.OUTBOUND)  # nothing is sent back to a held number
    [entry] = suppression.open_entries(contact.phone)
    assert entry.reason is SuppressionReason.UNSURE_REPLY
    [notification] = db.session.scalars(select(Notification)).all()
    assert notification.kind is NotificationKind.UNSURE_REPLY and notification.conversation_id == conversation.id
    assert notification.resolved_at is None and notification.campaign_id == message.campaign_id
    assert notification.params["phone"] == contact.phone and notification.params["text"] == "Не надо"


def test_an_older_keyword_arriving_late_does_not_undo_the_newer_one(app):
    sender = a_sender()
    now = utcnow()
    # START was written after STOP, but the STOP arrives later: the person's last word stands.
    apply(sender, [inbound("+79035550003", "СТОП", at=now - timedelta(minutes=10))])
    apply(sender, [inbound("+79035550003", "СТАРТ", at=now - timedelta(minutes=5))])
    assert suppression.open_entries("+79035550003") == []
    apply(sender, [inbound("+79035550004", "СТАРТ", at=now - timedelta(minutes=5))])
    apply(sender, [inbound("+79035550004", "СТОП", at=now - timedelta(minutes=10))])  # late: superseded
    assert suppression.open_entries("+79035550004") == []
    late = thread_of(conversation_of(sender, "+79035550004"))
    assert [row.intent for row in late] == ["opt_out", "opt_in"]  # classified, and the older one not applied

    apply(sender, [inbound("+79035550005", "СТАРТ", at=now - timedelta(minutes=10))])
    apply(sender, [inbound("+79035550005", "СТОП", at=now - timedelta(minutes=5))])
    assert [entry.reason for entry in suppression.open_entries("+79035550005")] == [SuppressionReason.OPT_OUT]


def test_an_opt_out_button_tap_opts_out_and_answers_the_message_it_was_on(app):
    sender = a_sender()
    contact = a_contact()
    message = sent(contact, sender, provider_id="wamid.campaign4")
    context = apply(sender, [inbound(contact.phone, "Отписаться от рассылки", payload="STOP_PROMO",
                                     context_id="wamid.campaign4")])
    assert context.touched_campaigns == {message.campaign_id}
    [row, _confirmation] = thread_of(conversation_of(sender, contact.phone))
    assert (row.kind, row.button_payload, row.intent) == ("button", "STOP_PROMO", "opt_out")


def test_one_batch_of_many_people_is_applied_in_a_few_statements(app):
    sender = a_sender()
    contacts = [a_contact() for _ in range(20)]
    for contact in contacts:
        sent(contact, sender)
    statements = []

    from sqlalchemy import event

    def count(*_args):
        statements.append(1)

    events = [inbound(contact.phone, "Спасибо, получила") for contact in contacts]
    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        apply(sender, events)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) <= 12  # whatever the batch's size
    assert db.session.query(ConversationMessage).count() == 20
