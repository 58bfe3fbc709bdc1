"""Free text in a conversation: the 24-hour window on both sides of its edge, a reply through the sandbox
(audited), the channel's own refusal coming back as a status and worded for the marketer, the confirmation a
real worker sends once however often the webhook is re-posted, and the sweep of what was left behind."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from rq.job import Job
from sqlalchemy import select

from campaigns import senders
from campaigns.feedback import free_text, reply_jobs
from campaigns.feedback.models import Conversation, ConversationMessage, Direction
from campaigns.models import Sender
from channels.base import DeliveryStatus, StatusEvent
from channels.registry import channel_for
from channels.sandbox import defaults as sandbox_defaults
from compliance import suppression
from compliance.audit import AuditEvent
from compliance.models import SuppressionReason
from dbtypes import utcnow
from extensions import db, redis_queues
from tests.channels.sandbox_calls import calls_back
from tests.feedback.inbox_world import conversation_of, thread_of
from tests.feedback.payloads import signed
from tests.processes import wait_for
from tests.test_worker import finished_cleanly, start_worker  # noqa: F401  (a fixture, used by name)

PHONE = "+79035551234"


def a_conversation(sender: Sender, *, hours_ago: float | None = 1, phone: str = PHONE) -> Conversation:
    conversation = Conversation(sender_id=sender.id, phone=phone, profile_name="Ирина",
                                last_inbound_at=None if hours_ago is None else utcnow() - timedelta(hours=hours_ago))
    db.session.add(conversation)
    db.session.commit()
    return conversation


def text_messages(sandbox, to: str = PHONE) -> list[dict]:
    return [message for message in sandbox.ledger()["messages"] if message["type"] == "text"
            and message["to"] == to.lstrip("+")]


def parsed(sender: Sender, body: bytes):
    return channel_for(senders.settings_for(sender), None).parse_webhook(body)


# --- the window ---------------------------------------------------------------------------------------------

def test_the_window_is_open_for_24_hours_after_the_persons_last_message_and_not_a_minute_more(app):
    sender = Sender(name="Магазин", phone="+74951110000", channel="sandbox")
    db.session.add(sender)
    db.session.commit()
    now = utcnow()
    inside = Conversation(sender_id=sender.id, phone=PHONE, last_inbound_at=now - timedelta(hours=23, minutes=59))
    outside = Conversation(sender_id=sender.id, phone=PHONE, last_inbound_at=now - timedelta(hours=24, minutes=1))
    never = Conversation(sender_id=sender.id, phone=PHONE, last_inbound_at=None)

    window = free_text.window_of(inside, sender, now)
    assert window.open and window.hours == 24 and window.closes_at == inside.last_inbound_at + timedelta(hours=24)
    assert free_text.refusal(inside, sender, now) is None
    assert not free_text.window_of(outside, sender, now).open
    assert "More than 24 hours have passed" in free_text.refusal(outside, sender, now)
    assert not free_text.window_of(never, sender, now).open
    assert "has not written to this number" in free_text.refusal(never, sender, now)
    # The edge itself: 24 hours on the dot is closed.
    assert not free_text.window_of(inside, sender, inside.last_inbound_at + timedelta(hours=24)).open


def test_a_reply_outside_the_window_is_refused_with_its_sentence_and_no_request_leaves(app, sandbox, sandbox_sender,
                                                                                       make_user):
    conversation = a_conversation(sandbox_sender, hours_ago=25)
    with pytest.raises(free_text.FreeTextError) as refused:
        free_text.prepare_reply(conversation, "Да, размер M есть", actor=make_user("marketer"))
    assert refused.value.status == 409 and "only an approved template can be sent" in str(refused.value)
    db.session.rollback()
    assert sandbox.ledger()["messages"] == []
    assert db.session.scalar(select(ConversationMessage.id)) is None


@pytest.mark.parametrize("reason", [SuppressionReason.BLOCK, SuppressionReason.SPAM_REPORT,
                                    SuppressionReason.UNSURE_REPLY])
def test_nothing_is_sent_to_a_number_that_blocked_us_or_waits_for_a_decision(app, sandbox_sender, make_user, reason):
    conversation = a_conversation(sandbox_sender)
    suppression.suppress(PHONE, reason, source="api")
    db.session.commit()
    with pytest.raises(free_text.FreeTextError):
        free_text.prepare_reply(conversation, "Здравствуйте", actor=make_user("marketer"))


def test_a_reply_inside_the_window_goes_out_as_free_text_once_and_is_audited(app, sandbox, sandbox_sender,
                                                                             make_user):
    marketer = make_user("marketer")
    sandbox.inbound(PHONE.lstrip("+"), "Есть размер M?")  # opens the window at the provider too
    conversation = a_conversation(sandbox_sender, hours_ago=0.1)
    key = free_text.new_reply_key()
    message, new = free_text.prepare_reply(conversation, "Да, есть. Привезём завтра.", actor=marketer, key=key)
    db.session.commit()
    result = free_text.deliver(message, actor=marketer)
    db.session.commit()
    assert new and result.accepted and message.status == "sent" and message.provider_message_id == result.provider_id
    again, new_again = free_text.prepare_reply(conversation, "Да, есть. Привезём завтра.", actor=marketer, key=key)
    assert again.id == message.id and not new_again  # the same form posted twice

    [ledger] = text_messages(sandbox)
    assert (ledger["key"], ledger["text"], ledger["id"]) == (key, "Да, есть. Привезём завтра.", result.provider_id)
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "conversation.replied")).all()
    assert event.actor_id == marketer.id and event.object_id == str(conversation.id)
    assert event.details == {"phone": PHONE, "sender": "Sandbox", "result": "accepted", "code": "", "key": key}
    assert message.sent_by_id == marketer.id and message.direction is Direction.OUTBOUND


def test_the_channels_refusal_outside_its_window_comes_back_as_a_status_worded_for_the_marketer(
        app, sandbox, sandbox_sender, callback_receiver, make_user):
    # The platform believes the window open, the provider does not (nobody wrote to it): it accepts the send and
    # reports 131047 in a failed status, as Meta does.
    calls_back(sandbox, callback_receiver)
    conversation = a_conversation(sandbox_sender, hours_ago=1)
    message, _new = free_text.prepare_reply(conversation, "Здравствуйте!", actor=make_user("marketer"))
    db.session.commit()
    assert free_text.deliver(message).accepted
    db.session.commit()

    def failed_status() -> list[StatusEvent]:
        events = [event for callback in callback_receiver.received for event in parsed(sandbox_sender, callback.body)]
        return [event for event in events if isinstance(event, StatusEvent) and event.status is DeliveryStatus.FAILED]

    statuses = wait_for(failed_status, "the failed status of the free text")
    assert free_text.apply_statuses(statuses) == 1
    assert free_text.apply_statuses(statuses) == 0  # the same status again changes nothing
    db.session.commit()
    db.session.refresh(message)
    assert (message.status, message.error_code) == ("failed", "131047")
    assert "More than 24 hours have passed since the person last wrote" in free_text.status_sentence(message)


def test_statuses_move_an_outbound_message_forward_only(app, sandbox_sender):
    conversation = a_conversation(sandbox_sender)
    row = ConversationMessage(conversation_id=conversation.id, direction=Direction.OUTBOUND, text="Спасибо!",
                              idempotency_key="reply-" + "a" * 32, status="sent", provider_message_id="wamid.out1")
    db.session.add(row)
    db.session.commit()

    def status(kind: DeliveryStatus, key: str | None = row.idempotency_key, code: str | None = None) -> StatusEvent:
        return StatusEvent("wamid.out1", kind, utcnow(), PHONE.lstrip("+"), key=key, error_code=code)

    assert free_text.apply_statuses([status(DeliveryStatus.READ)]) == 1
    assert free_text.apply_statuses([status(DeliveryStatus.DELIVERED), status(DeliveryStatus.SENT),
                                     status(DeliveryStatus.FAILED, code="131026")]) == 0
    assert free_text.apply_statuses([status(DeliveryStatus.FAILED, key="1-2-3")]) == 0  # a campaign message's key
    db.session.refresh(row)
    assert (row.status, row.error_code) == ("read", None)


# --- the confirmation, through a real worker --------------------------------------------------------------

@pytest.mark.slow
def test_the_confirmation_of_a_stop_is_sent_once_by_a_real_worker_however_often_the_webhook_comes(
        app, client, sandbox, sandbox_sender, callback_receiver, start_worker):
    calls_back(sandbox, callback_receiver)
    wamid = sandbox.inbound(PHONE.lstrip("+"), "СТОП")["id"]
    [callback] = callback_receiver.wait_for(1)
    # The body as the sandbox signed it, that same body again, and the same message in other bytes (Meta
    # re-posts; another body may carry a message already seen): all through the webhook endpoint.
    again = json.dumps(json.loads(callback.body), indent=1).encode()
    for body, headers in ((callback.body, callback.headers), (callback.body, callback.headers),
                          (again, signed(again, sandbox_defaults.APP_SECRET))):
        answer = client.post(f"/webhooks/whatsapp/{sandbox_sender.id}", data=body,
                             headers={name: value for name, value in headers.items()
                                      if name.lower() in ("content-type", "x-hub-signature-256")})
        assert answer.status_code == 200, answer.get_data(as_text=True)
    finished_cleanly(start_worker("--burst"))  # applies the bodies, then sends the confirmation they queued

    db.session.rollback()
    conversation = conversation_of(sandbox_sender, PHONE)
    [stop, confirmation] = thread_of(conversation)
    assert (stop.provider_message_id, stop.intent) == (wamid, "opt_out") and conversation.unread == 1
    assert confirmation.idempotency_key == f"confirm-{wamid}" and confirmation.status == "sent"
    [sent] = text_messages(sandbox)
    assert sent["key"] == f"confirm-{wamid}" and sent["id"] == confirmation.provider_message_id
    assert sent["text"] == confirmation.text and "отписались" in sent["text"]
    assert [entry.reason for entry in suppression.open_entries(PHONE)] == [SuppressionReason.OPT_OUT]

    reply_jobs.enqueue_send(confirmation.id)  # asked for again (the sweep, a job Redis lost and found)
    finished_cleanly(start_worker("--burst"))
    assert len(text_messages(sandbox)) == 1 and sandbox.ledger()["messages"][0]["attempts"] == 1
    db.session.rollback()
    assert len(thread_of(conversation_of(sandbox_sender, PHONE), Direction.OUTBOUND)) == 1


def test_a_confirmation_whose_window_closed_before_its_job_ran_is_not_sent(app, sandbox, sandbox_sender):
    conversation = a_conversation(sandbox_sender, hours_ago=30)
    row = ConversationMessage(conversation_id=conversation.id, direction=Direction.OUTBOUND, text="Вы отписались.",
                              idempotency_key="confirm-wamid.late", status="queued")
    db.session.add(row)
    db.session.commit()
    assert reply_jobs.send_conversation_message(row.id) == {"sent": False, "status": "failed"}
    db.session.refresh(row)
    assert row.error_code == free_text.WINDOW_CLOSED and "window closed" in free_text.status_sentence(row)
    assert sandbox.ledger()["messages"] == []


# --- the sweep --------------------------------------------------------------------------------------------

def test_the_sweep_queues_what_lost_its_job_and_settles_what_lost_its_worker(app, sandbox_sender):
    cloud = Sender(name="Облако", phone="+74957770000", channel="whatsapp_cloud")
    db.session.add(cloud)
    db.session.commit()
    old = utcnow() - timedelta(minutes=30)
    here, there = a_conversation(sandbox_sender), a_conversation(cloud)

    def row(conversation: Conversation, status: str, key: str, at=old) -> ConversationMessage:
        made = ConversationMessage(conversation_id=conversation.id, direction=Direction.OUTBOUND, text="…",
                                   idempotency_key=key, status=status, at=at)
        db.session.add(made)
        return made

    lost_job = row(here, "queued", "confirm-wamid.a")
    fresh = row(here, "queued", "confirm-wamid.b", at=utcnow())
    dead_idempotent = row(here, "sending", "confirm-wamid.c")
    dead_cloud = row(there, "sending", "confirm-wamid.d")
    db.session.commit()

    assert reply_jobs.sweep_conversation_messages() == {"queued": 1, "requeued": 1, "unknown": 1}
    for made in (lost_job, fresh, dead_idempotent, dead_cloud):
        db.session.refresh(made)
    assert (dead_idempotent.status, dead_cloud.status) == ("queued", "unknown")
    assert fresh.status == "queued"
    jobs = redis_queues.queue("webhooks").job_ids
    assert set(jobs) == {reply_jobs.send_job_id(lost_job.id), reply_jobs.send_job_id(dead_idempotent.id)}
    assert Job.fetch(jobs[0], connection=redis_queues.connection).args in ((lost_job.id,), (dead_idempotent.id,))
