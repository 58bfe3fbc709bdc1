"""A worker killed outright (kill -9) in the middle of a cascade MAX → WhatsApp, and another one started: nobody is
sent twice on one channel, and everybody is reached once or left ``unknown``.

A third of the MAX people stopped the bot in MAX without our hearing of it: their MAX send fails (``chat.denied``)
and hands them to WhatsApp, while the rest of the campaign's people have no MAX address and go to WhatsApp from the
launch. MAX has no idempotency key, so a MAX row whose request may have left when its worker died becomes
``unknown`` and is neither sent again nor handed to WhatsApp: we cannot know it did not arrive.
"""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import select

from audience import addresses
from audience.models import Contact
from campaigns import campaign_specs, review, senders
from campaigns.cascade import parse_cascade
from campaigns.content import content_hash
from campaigns.models import Message, MessageStatus, Sender
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import ACKNOWLEDGEMENT
from tests.channels.max_calls import ok as max_control
from tests.processes import wait_for
from tests.reliability.harness import (
    PROGRESS_SECONDS,
    add_approved_template,
    add_contacts,
    add_sender,
    fresh,
    messages_by_phone,
    wait_for_job,
    wait_until_done,
)

pytestmark = [pytest.mark.slow, pytest.mark.reliability]

ON_MAX = 240  # eight seconds at MAX's 30 a second: the kill lands in the middle
STOPPED_EVERY = 3  # every third MAX person stopped the bot in MAX
PHONE_ONLY = 1_000
FIRST_USER = 9_300_001


def max_messages(sandbox) -> Counter:
    return Counter(message["user_id"] for message in max_control(sandbox, "GET", "/messages"))


def cascade_world(sandbox, marketer, reviewer):
    """The MAX bot, the WhatsApp sender, the contacts (MAX people first) and the approved cascade campaign."""
    bot = senders.create_sender("Shop MAX", None, channel="max", base_url=sandbox.url, bot_username="shop_bot",
                                access_token=sandbox_token(), messages_per_second=30)
    whatsapp = add_sender(sandbox, rate=500)
    template = add_approved_template()
    phones = add_contacts(ON_MAX + PHONE_ONLY)
    users = list(range(FIRST_USER, FIRST_USER + ON_MAX))
    max_control(sandbox, "POST", "/users", {"users": [{"user_id": user, "first_name": f"P{user}", "started": True}
                                                      for user in users]})
    contacts = db.session.scalars(select(Contact).where(Contact.phone.in_(phones[:ON_MAX])).order_by(Contact.id))
    for contact, user in zip(contacts, users, strict=True):
        addresses.link_address(sender_id=bot.id, channel="max", address=str(user), at=utcnow(),
                               consent_source="qr:shop", event_id=f"start-{user}", user_id=str(user),
                               contact_id=contact.id)
    stopped = users[::STOPPED_EVERY]
    for user in stopped:
        max_control(sandbox, "POST", f"/users/{user}/stop", {})
    db.session.commit()
    from audience import segments
    segment = segments.create_segment("Everybody promo", {"tags": ["promo"]})
    db.session.flush()
    campaign = campaign_specs.create_campaign({
        "name": "Cascade sale", "sender": bot.name, "template": {"name": template.name, "language": template.language},
        "segment": segment.name,
        "variables": {"1": {"source": "field", "value": "name", "fallback": "friend"},
                      "2": {"source": "constant", "value": "Monday"}},
        "send_at": None, "send_window": None, "messages_per_second": 30,
    }, marketer)
    campaign.messages_per_second = 500  # the campaign's own rate; each step's sender paces itself below it
    campaign.cascade = parse_cascade([bot.id, whatsapp.id], lambda value: db.session.get(Sender, value))
    campaign.content_hash = content_hash(campaign)
    db.session.commit()
    review.submit(campaign, marketer)
    db.session.commit()
    review.approve(campaign, reviewer, acknowledgement=ACKNOWLEDGEMENT)
    return campaign, phones, set(stopped)


def sandbox_token() -> str:
    from channels.sandbox import defaults

    return defaults.MAX_TOKEN


def test_a_worker_killed_mid_cascade_sends_nobody_twice_on_one_channel(app, people, workers, provider):
    first = workers.start()
    marketer, reviewer = people
    campaign, phones, stopped = cascade_world(provider, marketer, reviewer)
    workers.ready()
    db.session.commit()  # the launch job reaches Redis

    wait_for(lambda: sum(max_messages(provider).values()) >= ON_MAX // 4, "a quarter of the MAX messages",
             timeout=PROGRESS_SECONDS, interval=0.05)
    wait_for_job(first, "send-batch-", workers, campaign.id)
    workers.kill(first)
    workers.start()
    wait_until_done(campaign.id, workers)

    fresh()
    rows = list(db.session.scalars(select(Message).where(Message.campaign_id == campaign.id)))
    on_max, on_whatsapp = max_messages(provider), messages_by_phone(provider.ledger())
    assert {user: n for user, n in on_max.items() if n > 1} == {}, "a MAX user got the campaign twice"
    assert {phone: n for phone, n in on_whatsapp.items() if n > 1} == {}, "a number got the WhatsApp message twice"
    by_contact: dict[int, dict[int, Message]] = {}
    for row in rows:
        assert row.step not in by_contact.get(row.contact_id, {}), "two rows of one person on one step"
        by_contact.setdefault(row.contact_id, {})[row.step] = row
    assert len(by_contact) == len(phones), "every contact has its row"
    for steps in by_contact.values():
        max_row, whatsapp_row = steps.get(0), steps.get(1)
        if max_row is not None and max_row.status is MessageStatus.UNKNOWN:
            assert whatsapp_row is None, "an unknown MAX row was handed to WhatsApp"
            continue
        reached = [row for row in steps.values() if row.status is MessageStatus.SENT]
        assert len(reached) == 1, {step: (row.status, row.error_code) for step, row in steps.items()}
        if max_row is not None and max_row.status is MessageStatus.FAILED:
            assert max_row.error_code == "chat.denied" and int(max_row.address) in stopped
            assert max_row.fallback_at is not None and whatsapp_row.status is MessageStatus.SENT
    # Everyone MAX took is someone who had not stopped the bot.
    assert not set(on_max) & stopped
