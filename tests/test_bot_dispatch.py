"""Dispatch through a bot: ``send_batch`` against the real sandbox's MAX and Telegram Bot APIs and a real Redis, on
SQLite and PostgreSQL — the rendered message at the provider, the send-time re-check of addresses and person-wide
refusals, stopped and unknown dialogs closing the address, and the per-dialog pacing measured by the sandbox."""

from __future__ import annotations

import time
from itertools import pairwise

import pytest
from sqlalchemy import select

from audience import addresses
from audience.models import AddressStatus, Contact, ContactAddress
from campaigns import launch, test_sends
from campaigns.bot_rendering import OPT_OUT_PAYLOAD
from campaigns.dispatch import jobs as dispatch_jobs
from campaigns.dispatch.ratelimit import PACING_MARGIN, Pacer, dialog_name
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Template, TemplateCategory
from channels.sandbox import defaults as sandbox_defaults
from compliance.models import Suppression, SuppressionReason, SuppressionScope
from compliance.suppression import suppress
from dbtypes import utcnow
from extensions import db, redis_queues
from tests.bot_world import add_bot, start_bot
from tests.channels.max_calls import ok as max_control
from tests.test_dispatch import ranges, zone_at
from tests.test_materialise import add_campaign, add_template
from tests.test_materialise import add_contact as add_any_contact

_users = iter(range(7_100_001, 7_200_000))


def sandbox_people(sandbox, count: int) -> list[int]:
    """People the sandbox's MAX bot knows who started it (their dialogs open, no update posted)."""
    ids = [next(_users) for _ in range(count)]
    max_control(sandbox, "POST", "/users", {"users": [{"user_id": user, "first_name": f"Person {user}",
                                                        "started": True} for user in ids]})
    return ids


def add_contact(**fields):
    """A contact at noon local time (inside every send window)."""
    return add_any_contact(timezone=zone_at(12), **fields)


def max_sent(sandbox, user_id: int | None = None) -> list[dict]:
    return max_control(sandbox, "GET", "/messages" + (f"?user_id={user_id}" if user_id else ""))


def launched_for(bot, contacts, **options) -> Campaign:
    campaign = add_campaign(sender=bot, status=CampaignStatus.SCHEDULED, **options)
    assert launch.launch(campaign.id).launched
    db.session.commit()
    return db.session.get(Campaign, campaign.id)


def send_all(campaign_id: int) -> list[dict]:
    return [dispatch_jobs.send_batch(campaign_id, first, last) for first, last in ranges(campaign_id)]


def rows_by_address(campaign_id: int) -> dict[str, Message]:
    db.session.rollback()
    db.session.expire_all()
    return {row.address: row for row in db.session.scalars(select(Message).where(Message.campaign_id == campaign_id))}


def address_row(bot, address: str) -> ContactAddress:
    db.session.expire_all()
    return addresses.find_address(bot.id, address)


def test_a_max_campaign_goes_out_rendered_and_a_stopped_or_unknown_dialog_closes_its_address(app, sandbox):
    bot = add_bot("max", sandbox.url)
    people = sandbox_people(sandbox, 3)
    contacts = [add_contact(name=f"Анна {index}") for index in range(4)]
    for contact, user in zip(contacts, [*people, 7_099_999], strict=True):  # the last one MAX never saw
        start_bot(bot, contact, address=str(user))
    max_control(sandbox, "POST", f"/users/{people[2]}/stop", {})  # stopped in MAX; we have not heard yet
    db.session.commit()
    campaign = launched_for(bot, contacts)

    [outcome] = send_all(campaign.id)
    assert outcome["completed"], outcome
    by_address = rows_by_address(campaign.id)
    assert {address: row.status for address, row in by_address.items()} == {
        str(people[0]): MessageStatus.SENT, str(people[1]): MessageStatus.SENT,
        str(people[2]): MessageStatus.FAILED, "7099999": MessageStatus.FAILED}
    assert by_address[str(people[2])].error_code == "chat.denied"
    assert by_address[str(people[0])].provider_message_id  # MAX's mid; no delivery status will ever come

    [message] = max_sent(sandbox, people[0])
    assert message["format"] == "html" and message["text"].startswith("Здравствуйте, Анна 0!")
    [keyboard] = message["attachments"]
    assert keyboard["payload"]["buttons"] == [[{"type": "callback", "text": "Отписаться",
                                                "payload": OPT_OUT_PAYLOAD}]]
    # The stopped dialog closed the address (with a BOT_STOPPED entry of its key), the unknown one is unreachable.
    stopped, unknown = address_row(bot, str(people[2])), address_row(bot, "7099999")
    assert stopped.status is AddressStatus.STOPPED and "chat.denied" in stopped.status_evidence
    assert unknown.status is AddressStatus.UNREACHABLE
    entry = db.session.scalar(select(Suppression).where(Suppression.address_key == stopped.address_key))
    assert (entry.reason, entry.scope, entry.lifted_at) == (SuppressionReason.BOT_STOPPED, SuppressionScope.ADDRESS,
                                                            None)
    # Nobody was sent to twice, and a second run sends nothing: failed rows are never retried.
    assert len(max_sent(sandbox)) == 2
    send_all(campaign.id)
    assert len(max_sent(sandbox)) == 2


def test_at_send_time_a_stop_or_a_refusal_anywhere_wins(app, sandbox):
    bot, other_bot = add_bot("max", sandbox.url), add_bot("max", sandbox.url)
    people = sandbox_people(sandbox, 4)
    contacts = [add_contact() for _ in people]
    rows = [start_bot(bot, contact, address=str(user)) for contact, user in zip(contacts, people, strict=True)]
    campaign = launched_for(bot, contacts)
    # After the launch: one stops the bot, one opts out on another bot, one is blocked by number.
    addresses.stop_address(bot.id, rows[0].address, at=utcnow(), evidence="update-1")
    elsewhere = start_bot(other_bot, contacts[1], address="999001")
    suppress(elsewhere.address_key, SuppressionReason.OPT_OUT, source="reply", scope=SuppressionScope.PERSON)
    suppress(contacts[2].phone, SuppressionReason.BLOCK, source="reply")
    db.session.commit()

    send_all(campaign.id)
    by_address = rows_by_address(campaign.id)
    assert {address: (row.status, row.error_code) for address, row in by_address.items()} == {
        rows[0].address: (MessageStatus.SKIPPED, "bot_stopped"),
        rows[1].address: (MessageStatus.SKIPPED, "opted_out"),
        rows[2].address: (MessageStatus.SKIPPED, "blocked"),
        rows[3].address: (MessageStatus.SENT, None)}
    assert [message["user_id"] for message in max_sent(sandbox)] == [people[3]]


def test_a_telegram_campaign_reaches_a_messenger_only_person(app, sandbox):
    bot = add_bot("telegram", sandbox.url)
    chat = next(_users)
    sandbox.control("POST", "/_sandbox/telegram/users", {"chat_id": chat, "first_name": "Ivan", "started": True})
    row = start_bot(bot, address=str(chat))
    contact = db.session.get(Contact, row.contact_id)
    contact.country, contact.tags, contact.timezone = "RU", "", zone_at(12)
    db.session.commit()
    campaign = launched_for(bot, [contact])
    send_all(campaign.id)
    [message] = rows_by_address(campaign.id).values()
    assert (message.status, message.phone) == (MessageStatus.SENT, "")


# --- the per-dialog pacer (real Redis) -------------------------------------------------------------------

def test_a_busy_dialog_gets_no_slot_and_leaves_its_place_to_the_next_message(app):
    pacer = Pacer(redis_queues.connection, prefix=f"test-dialogs-{utcnow().timestamp()}")
    limits = [("sender:1", 30)]
    dialog_interval, bot_interval = 1 / (2 * (1 - PACING_MARGIN)), 1 / (30 * (1 - PACING_MARGIN))
    origin = time.monotonic()
    calls = []

    def reserve(*addresses: str):
        """The slots, with when the call started and ended, in seconds since the first call: a slot is "seconds
        from now", and a loaded machine spends milliseconds between two calls."""
        started = time.monotonic() - origin
        slots = pacer.reserve_dialogs(limits, [dialog_name(1, address) for address in addresses], 2)
        calls.append((started, time.monotonic() - origin))
        return slots

    def at(slot, expected: float) -> bool:
        """Whether ``slot``, reserved by the latest call, is ``expected`` seconds after the first call's start."""
        started, ended = calls[-1]
        return started + slot - 0.005 <= expected <= ended + slot + 0.005

    first = reserve("a", "b")
    assert at(first[0].slot, 0) and at(first[1].slot, bot_interval), (first, calls)
    # A second campaign (or a reply) to "a" and "c" right after: "a" must wait for its dialog and holds nothing;
    # "c" takes the bot's next slot.
    second = reserve("a", "c")
    assert second[0].slot is None and at(second[0].wait, dialog_interval), (second, calls)
    assert at(second[1].slot, 2 * bot_interval), (second, calls)
    [third] = reserve("d")
    assert at(third.slot, 3 * bot_interval), (third, calls)
    with pytest.raises(ValueError):
        reserve("a", "a")


@pytest.mark.parametrize("channel", ["max", "telegram"])
def test_a_bot_is_paced_one_message_a_second_under_its_platforms_limit_whatever_its_sender_says(app, channel):
    from campaigns.dispatch.batch import _Run

    bot = add_bot(channel, messages_per_second=1000)
    campaign = add_campaign(sender=bot, status=CampaignStatus.SENDING)
    campaign.messages_per_second = 1000
    db.session.commit()
    run = _Run(campaign, 1, 1, None)
    assert run.limits[0] == (f"sender:{bot.id}", 29)  # MAX and Telegram: 30 a second per bot
    bot.messages_per_second = 5
    db.session.commit()
    assert _Run(campaign, 1, 1, None).limits[0] == (f"sender:{bot.id}", 5)


def test_two_campaigns_to_the_same_people_never_exceed_the_dialog_limit_at_the_sandbox(app, sandbox):
    """MAX allows 2 messages a second to one dialog; the sandbox enforces it (429) and time-stamps each message."""
    bot = add_bot("max", sandbox.url)
    people = sandbox_people(sandbox, 3)
    contacts = [add_contact() for _ in people]
    for contact, user in zip(contacts, people, strict=True):
        start_bot(bot, contact, address=str(user))
    # Service messages (no frequency cap between the two): an order update right behind a reminder.
    first = launched_for(bot, contacts, template=add_template(TemplateCategory.UTILITY))
    second = launched_for(bot, contacts, template=add_template(TemplateCategory.UTILITY))
    send_all(first.id)
    [outcome] = send_all(second.id)  # right behind the first: each dialog's second message must wait for its slot
    assert outcome["counts"]["dialog_wait"] >= 1 and outcome["completed"], outcome
    for user in people:
        stamps = [message["at"] for message in max_sent(sandbox, user)]
        assert len(stamps) == 2
        assert all(later - earlier >= 490 for earlier, later in pairwise(stamps)), stamps
    counts = sandbox.ledger(summary=True)["counts"]
    assert counts.get("max_dialog_throttled", 0) == 0


# --- test sends -----------------------------------------------------------------------------------------------

def test_a_test_send_through_a_bot_goes_only_to_an_address_the_bot_has(app, sandbox):
    bot = add_bot("max", sandbox.url)
    [me] = sandbox_people(sandbox, 1)
    start_bot(bot, add_contact(), address=str(me))
    template = db.session.get(Template, add_campaign().template_id)
    values = {"1": "Анна", "2": "gold", "3": "OSEN"}
    result = test_sends.send_test(bot, template, str(me), values)
    assert result.accepted
    [message] = max_sent(sandbox, me)
    assert message["format"] == "html"
    with pytest.raises(test_sends.TestSendError) as refused:
        test_sends.send_test(bot, template, "12345", values)
    assert refused.value.code == "unknown_address" and "started" in str(refused.value)
    assert sandbox_defaults.MAX_TOKEN  # the bot spoke with the sandbox's public token
