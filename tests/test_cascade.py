"""Cascades (``campaigns.cascade``): the first channel each recipient is tried on, the fallbacks on a definite
failure and on a timeout, nobody twice on one channel, and the late delivery counted as "delivered twice" — in
process, with the batches and the sweep called directly against the real sandbox (its WhatsApp, MAX and Telegram
APIs) and a real Redis, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from audience import addresses
from audience.models import Contact
from campaigns import cascade
from campaigns import senders as sender_service
from campaigns.cascade import CascadeError, parse_cascade
from campaigns.dispatch import jobs as dispatch_jobs
from campaigns.dispatch.completion import complete_if_done
from campaigns.dispatch.sweep import sweep
from campaigns.feedback import statuses
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Sender
from channels.base import DeliveryStatus, StatusEvent
from channels.sandbox import defaults as sandbox_defaults
from compliance import policy
from dbtypes import utcnow
from extensions import db
from tests.bot_world import add_bot, start_bot
from tests.campaign_world import add_contact, add_template
from tests.channels import sms_calls
from tests.channels.max_calls import ok as max_control
from tests.test_bot_dispatch import max_sent, sandbox_people
from tests.test_dispatch import fast_sender, people, sandbox_template, sending_campaign, zone_at  # noqa: F401

_names = iter(range(1, 10_000))


def find(value) -> Sender | None:
    return db.session.get(Sender, value) if isinstance(value, int) else None


# --- the marketer's cascade ----------------------------------------------------------------------------------

def test_a_cascade_is_two_to_four_distinct_senders_and_only_a_channel_with_receipts_waits(app, sandbox_sender):
    max_bot, telegram_bot = add_bot("max"), add_bot("telegram")
    parsed = parse_cascade([max_bot.id, {"sender": sandbox_sender.id, "wait_seconds": 300}, telegram_bot.id], find)
    assert parsed == [{"sender_id": max_bot.id, "wait_seconds": None},
                      {"sender_id": sandbox_sender.id, "wait_seconds": 300},
                      {"sender_id": telegram_bot.id, "wait_seconds": None}]
    # WhatsApp reports deliveries: without a wait it gets the default; the last step never waits.
    assert parse_cascade([sandbox_sender.id, max_bot.id], find)[0]["wait_seconds"] == cascade.DEFAULT_WAIT_SECONDS
    assert parse_cascade(None, find) is None and parse_cascade([], find) is None

    def refused(value) -> list[str]:
        with pytest.raises(CascadeError) as caught:
            parse_cascade(value, find)
        return caught.value.errors

    assert refused([max_bot.id]) == ["A cascade has 2 to 4 channels; this one has 1."]
    assert refused([max_bot.id, max_bot.id]) == [
        f"“{max_bot.name}” is in the cascade twice; each channel is tried once."]
    assert refused([max_bot.id, 999_999]) == ["Step 2 of the cascade names no sender that exists."]
    assert refused([{"sender": max_bot.id, "wait_seconds": 600}, sandbox_sender.id]) == [
        f"Step 1 (“{max_bot.name}”) cannot wait for a delivery: a bot reports no deliveries, so the next channel is "
        "tried only when it fails."]
    assert refused([{"sender": sandbox_sender.id, "wait_seconds": 5}, max_bot.id]) == [
        "Step 1 waits between 60 and 86400 seconds for a delivery."]
    assert refused("max") == ["A cascade is a list of senders, in the order they are tried."]


# --- a cascade through the sandbox ---------------------------------------------------------------------------

def cascade_campaign(senders: list[Sender], template, *, waits: dict[int, int] | None = None) -> Campaign:
    """A campaign over every RU contact, with the cascade ``senders`` (``waits`` by step), launched for real."""
    steps = parse_cascade([{"sender": sender.id, "wait_seconds": (waits or {}).get(index)}
                           for index, sender in enumerate(senders)], find)
    campaign = sending_campaign(senders[0], template, cascade=steps)
    return db.session.get(Campaign, campaign.id)


def rows_of(campaign_id: int) -> list[Message]:
    db.session.rollback()
    db.session.expire_all()
    return list(db.session.scalars(select(Message).where(Message.campaign_id == campaign_id)
                                   .order_by(Message.contact_id, Message.step)))


def by_contact(campaign_id: int) -> dict[int, list[tuple[int, MessageStatus]]]:
    found: dict[int, list[tuple[int, MessageStatus]]] = {}
    for row in rows_of(campaign_id):
        found.setdefault(row.contact_id, []).append((row.step, row.status))
    return found


def drain(campaign_id: int) -> None:
    """Run every due batch job (every step's), as the workers would, until none is left."""
    for _round in range(5):
        due = [(row.step, row.id // 500) for row in rows_of(campaign_id)
               if row.status in (MessageStatus.QUEUED, MessageStatus.DEFERRED)]
        if not due:
            return
        for step, bucket in sorted(set(due)):
            dispatch_jobs.send_batch(campaign_id, bucket * 500, bucket * 500 + 499, step)
    left = [(row.step, row.status, row.not_before, row.error_code) for row in rows_of(campaign_id)]
    raise AssertionError(f"rows still due after five rounds: {left}")


@pytest.fixture
def telegram_chat(sandbox):
    chats = iter(range(8_100_001, 8_200_000))

    def started() -> int:
        chat = next(chats)
        sandbox.control("POST", "/_sandbox/telegram/users", {"chat_id": chat, "first_name": "Ivan", "started": True})
        return chat

    return started


@pytest.fixture
def channels(app, sandbox, fast_sender):
    app.config["DISPATCH_BATCH_SIZE"] = 500
    return add_bot("max", sandbox.url), add_bot("telegram", sandbox.url), fast_sender


def test_each_person_is_tried_first_on_the_first_channel_that_can_take_them_and_reached_once(
        app, sandbox, channels, telegram_chat):
    max_bot, telegram_bot, whatsapp = channels
    template = sandbox_template(whatsapp)
    on_max, on_telegram_only, phone_only, stopped_max, stops_at_send = people(5)
    [user_a, user_e] = sandbox_people(sandbox, 2)
    start_bot(max_bot, on_max, address=str(user_a))
    start_bot(telegram_bot, on_telegram_only, address=str(telegram_chat()))
    stopped = start_bot(max_bot, stopped_max, address="7100999")
    from audience import addresses
    addresses.stop_address(max_bot.id, stopped.address, at=utcnow(), evidence="update-9")
    start_bot(max_bot, stops_at_send, address=str(user_e))
    max_control(sandbox, "POST", f"/users/{user_e}/stop", {})  # stopped in MAX; we have not heard yet
    lone = db.session.get(Contact, start_bot(telegram_bot, address=str(telegram_chat())).contact_id)
    lone.country, lone.timezone = "RU", zone_at(12)  # came in through the bot: no number
    db.session.commit()

    campaign = cascade_campaign([max_bot, telegram_bot, whatsapp], template)
    assert campaign.recipients == 6 and sum(campaign.exclusions.values()) == 0
    first = {contact: steps[0][0] for contact, steps in by_contact(campaign.id).items()}
    assert first == {on_max.id: 0, on_telegram_only.id: 1, phone_only.id: 2, stopped_max.id: 2,
                     stops_at_send.id: 0, lone.id: 1}

    drain(campaign.id)
    rows = by_contact(campaign.id)
    # The one who stopped the bot since the launch failed on MAX and was reached on WhatsApp instead.
    assert rows[stops_at_send.id] == [(0, MessageStatus.FAILED), (2, MessageStatus.SENT)]
    for contact in (on_max, on_telegram_only, phone_only, stopped_max, lone):
        assert [status for _step, status in rows[contact.id]] == [MessageStatus.SENT], [
            (row.error_code, row.error_message) for row in rows_of(campaign.id) if row.contact_id == contact.id]
    assert [message["user_id"] for message in max_sent(sandbox)] == [user_a]
    ledger = sorted(message["to"] for message in sandbox.ledger()["messages"])
    assert ledger == sorted(person.phone.lstrip("+") for person in (phone_only, stopped_max, stops_at_send))
    # Nothing is left to try and no WhatsApp row may time out yet: the campaign waits for their deliveries.
    assert not complete_if_done(campaign.id)
    assert cascade.reached_by_step(db.session.get(Campaign, campaign.id)) == {0: 1, 1: 2, 2: 0}
    # A later step's statuses are its own sender's, not the campaign's first sender's.
    [whatsapp_row] = [row for row in rows_of(campaign.id) if row.contact_id == phone_only.id]
    deliver(whatsapp, whatsapp_row)
    assert cascade.reached_by_step(db.session.get(Campaign, campaign.id)) == {0: 1, 1: 2, 2: 1}


def status_of(campaign_id: int) -> CampaignStatus:
    db.session.rollback()
    return db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))


def deliver(sender: Sender, row: Message, status: DeliveryStatus = DeliveryStatus.DELIVERED,
            code: str | None = None) -> None:
    """The provider's status of ``row`` arrives (as the webhook's processing applies it)."""
    from campaigns.feedback.routing import FeedbackContext

    context = FeedbackContext(sender=sender, now=utcnow())
    event = StatusEvent(provider_id=row.provider_message_id or "wamid.none", status=status, at=utcnow(),
                        key=row.idempotency_key, recipient=row.phone.lstrip("+"), error_code=code)
    statuses.handle(context, [event])
    db.session.commit()


def on_both(sandbox, max_bot: Sender, count: int) -> list[Contact]:
    """People with a number (for WhatsApp) who also started the MAX bot."""
    found = people(count)
    for contact, user in zip(found, sandbox_people(sandbox, count), strict=True):
        start_bot(max_bot, contact, address=str(user))
    return found


def test_a_definite_failure_falls_back_at_once_and_an_opt_out_ends_the_cascade(app, sandbox, channels):
    max_bot, _telegram_bot, whatsapp = channels
    template = sandbox_template(whatsapp)
    not_on_whatsapp, opted_out = on_both(sandbox, max_bot, 2)
    campaign = cascade_campaign([whatsapp, max_bot], template)
    drain(campaign.id)
    rows = {row.contact_id: row for row in rows_of(campaign.id)}
    assert {row.step for row in rows.values()} == {0}

    deliver(whatsapp, rows[not_on_whatsapp.id], DeliveryStatus.FAILED, "131026")  # not a WhatsApp user
    deliver(whatsapp, rows[opted_out.id], DeliveryStatus.FAILED, "131050")  # stopped marketing messages
    after = by_contact(campaign.id)
    assert after[not_on_whatsapp.id] == [(0, MessageStatus.FAILED), (1, MessageStatus.QUEUED)]
    assert after[opted_out.id] == [(0, MessageStatus.FAILED)]
    drain(campaign.id)
    assert by_contact(campaign.id)[not_on_whatsapp.id][1] == (1, MessageStatus.SENT)
    assert len(max_sent(sandbox)) == 1
    # A second failure status of the same message falls back no second time.
    deliver(whatsapp, rows[not_on_whatsapp.id], DeliveryStatus.FAILED, "131026")
    assert len(by_contact(campaign.id)[not_on_whatsapp.id]) == 2
    assert status_of(campaign.id) is CampaignStatus.COMPLETED  # by the batch that sent the fallback


def test_no_delivery_in_the_wait_falls_back_and_a_late_delivery_counts_as_delivered_twice(app, sandbox, channels):
    max_bot, _telegram_bot, whatsapp = channels
    template = sandbox_template(whatsapp)
    slow, quick = on_both(sandbox, max_bot, 2)
    # A daily cap of one: the fallback is the same message on another channel, not a second one.
    policy.save_section("sending", {**policy.section_data("sending"), "cap_per_day": 1}, None)
    db.session.commit()
    campaign = cascade_campaign([whatsapp, max_bot], template, waits={0: 600})
    drain(campaign.id)
    rows = {row.contact_id: row for row in rows_of(campaign.id)}
    deliver(whatsapp, rows[quick.id])

    assert sweep()["fallen_back"] == 0  # not yet ten minutes
    db.session.commit()
    assert not complete_if_done(campaign.id)  # the slow one may still time out
    db.session.execute(update(Message).where(Message.id == rows[slow.id].id)
                       .values(sent_at=utcnow() - timedelta(seconds=601)))
    db.session.commit()
    assert sweep()["fallen_back"] == 1
    db.session.commit()
    assert sweep()["fallen_back"] == 0  # once
    db.session.commit()
    drain(campaign.id)
    assert by_contact(campaign.id)[slow.id] == [(0, MessageStatus.SENT), (1, MessageStatus.SENT)]
    assert by_contact(campaign.id)[quick.id] == [(0, MessageStatus.DELIVERED)]
    assert cascade.delivered_twice(campaign.id) == 0

    deliver(whatsapp, rows[slow.id])  # WhatsApp's delivery after all, after MAX (which has no receipts) got it too
    assert cascade.delivered_twice(campaign.id) == 1
    assert cascade.reached_by_step(db.session.get(Campaign, campaign.id)) == {0: 2, 1: 1}
    assert status_of(campaign.id) is CampaignStatus.COMPLETED


# --- a cascade ending in SMS ---------------------------------------------------------------------------------

def sms_sender(sandbox) -> Sender:
    """An SMS sender on the sandbox's SMSC account (its reports go nowhere: the test applies them)."""
    sender = sender_service.add_sender({"name": f"SMS {next(_names)}", "channel": "smsc", "base_url": sandbox.url,
                                 "login": sandbox_defaults.SMS_LOGIN, "access_token": sandbox_defaults.SMS_PASSWORD,
                                 "alpha_name": "Shop24", "messages_per_second": 200})
    db.session.commit()
    return sender


def test_max_then_telegram_then_sms_reaches_each_person_once_and_an_unreachable_phone_ends_the_cascade(
        app, sandbox, channels, telegram_chat):
    max_bot, telegram_bot, _whatsapp = channels
    sms = sms_sender(sandbox)
    # SMS renders the template itself: no provider's approval is asked of any step.
    template = add_template(f"cascade_sms_{next(_names)}", body="Здравствуйте, {{1}}! Скидка 20% в {{2}}.")
    phones = iter(f"+7903555{number:04d}" for number in range(1001, 1100))
    on_max, on_telegram_only, phone_only, stopped_max = (add_contact(next(phones), name=name, timezone=zone_at(12))
                                                         for name in ("Анна", "Борис", "Вера", "Глеб"))
    unreachable = add_contact("+79035550085", timezone=zone_at(12))  # SMSC's code 8: SMS cannot reach it
    [user] = sandbox_people(sandbox, 1)
    start_bot(max_bot, on_max, address=str(user))
    chat = telegram_chat()
    start_bot(telegram_bot, on_telegram_only, address=str(chat))
    stopped = start_bot(max_bot, stopped_max, address="7100998")
    addresses.stop_address(max_bot.id, stopped.address, at=utcnow(), evidence="update-10")
    db.session.commit()

    campaign = cascade_campaign([max_bot, telegram_bot, sms], template)
    assert campaign.recipients == 5 and sum(campaign.exclusions.values()) == 0
    first = {contact: steps[0][0] for contact, steps in by_contact(campaign.id).items()}
    assert first == {on_max.id: 0, on_telegram_only.id: 1, phone_only.id: 2, stopped_max.id: 2, unreachable.id: 2}

    drain(campaign.id)
    rows = by_contact(campaign.id)
    assert rows == {
        on_max.id: [(0, MessageStatus.SENT)], on_telegram_only.id: [(1, MessageStatus.SENT)],
        phone_only.id: [(2, MessageStatus.SENT)], stopped_max.id: [(2, MessageStatus.SENT)],
        unreachable.id: [(2, MessageStatus.FAILED)]}
    # Each once, on the channel that reached them.
    assert [message["user_id"] for message in max_sent(sandbox)] == [user]
    telegram = sandbox.control("GET", "/_sandbox/telegram/messages")
    assert [message["chat_id"] for message in telegram] == [chat]
    taken = sorted(message["phone"] for message in sms_calls.messages(sandbox))
    assert taken == sorted([phone_only.phone, stopped_max.phone])
    names = {contact.phone: contact.name for contact in (phone_only, stopped_max)}
    assert {message["phone"]: (message["text"], message["sender"]) for message in sms_calls.messages(sandbox)} == {
        phone: (f"Здравствуйте, {name}! Скидка 20% в Monday.", "Shop24") for phone, name in names.items()}

    # The unreachable phone failed on the last step: nothing is left to try and nothing waits for it.
    failed = next(row for row in rows_of(campaign.id) if row.contact_id == unreachable.id)
    assert (failed.error_code, failed.fallback_at, failed.attempts) == ("8", None, 1)
    assert status_of(campaign.id) is CampaignStatus.COMPLETED  # the last step waits for nothing
    for row in rows_of(campaign.id):
        if row.step == 2 and row.status is MessageStatus.SENT:
            deliver(sms, row)  # SMSC's delivery reports, keyed by our message key
    assert cascade.reached_by_step(db.session.get(Campaign, campaign.id)) == {0: 1, 1: 1, 2: 2}
    assert cascade.delivered_twice(campaign.id) == 0
