"""The send-time facts of message rows and of a whole segment, gathered set-wise, as the rules judge them."""

from __future__ import annotations

from datetime import timedelta
from itertools import count as counter

import pytest
from sqlalchemy import event

from campaigns import recipient_facts, senders
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, TemplateCategory
from campaigns.recipient_facts import country_zones, message_facts
from compliance import suppression
from compliance.models import SuppressionReason
from compliance.sending import SendingRules
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import add_contact, add_template, make_world
from tests.records import suppress

_keys = counter(1)
RULES = SendingRules()


@pytest.fixture
def world(app, make_user):
    return make_world(make_user)


def campaign_of(world, *, sender=None, category=TemplateCategory.MARKETING) -> Campaign:
    template = world.template if category is TemplateCategory.MARKETING else add_template(
        f"t_{next(_keys)}", category=category)
    campaign = Campaign(name=f"c{next(_keys)}", sender_id=(sender or world.sender).id, template_id=template.id,
                        segment_id=world.segment.id, status=CampaignStatus.SENDING)
    db.session.add(campaign)
    db.session.commit()
    return campaign


def row(campaign, contact, *, phone=None, status=MessageStatus.QUEUED, sent_ago=None) -> Message:
    """A message row of ``campaign`` to ``contact`` (sent to ``phone``, the contact's by default)."""
    message = Message(campaign_id=campaign.id, contact_id=contact.id, phone=phone or contact.phone,
                      idempotency_key=f"k{next(_keys)}", status=status,
                      sent_at=None if sent_ago is None else utcnow() - sent_ago)
    db.session.add(message)
    db.session.commit()
    return message


def facts_of(world, *messages, now=None, category="marketing", rules=RULES):
    found = message_facts([m.id for m in messages], world.sender.id, category, now or utcnow(), rules)
    return [found[m.id] for m in messages]


def test_open_suppressions_count_and_lifted_ones_do_not(world):
    lifted, blocked, both, clean = (add_contact() for _ in range(4))
    suppress(lifted.phone, SuppressionReason.OPT_OUT)
    suppression.lift_opt_out(lifted.phone)
    suppress(blocked.phone, SuppressionReason.BLOCK)
    suppress(both.phone, SuppressionReason.SPAM_REPORT)
    suppress(both.phone, SuppressionReason.OPT_OUT)
    db.session.commit()
    campaign = campaign_of(world)
    facts = facts_of(world, *(row(campaign, contact) for contact in (lifted, blocked, both, clean)))
    assert [f.suppressed for f in facts] == [(), ("block",), ("opt_out", "spam_report"), ()]


def test_consent_holds_only_with_a_source_recorded_by_now(world):
    now = utcnow()
    given = add_contact()
    later = add_contact(consent_at=now + timedelta(hours=1))
    blank = add_contact(consent_source="\u00a0 \t")  # blank to str.strip, not only to SQL's TRIM
    campaign = campaign_of(world)
    facts = facts_of(world, *(row(campaign, contact) for contact in (given, later, blank)), now=now)
    assert [f.has_consent for f in facts] == [True, False, False]
    # Judged a day later, the later consent holds.
    assert facts_of(world, row(campaign_of(world), later), now=now + timedelta(days=1))[0].has_consent


def test_time_zones_are_the_contacts_own_else_its_countrys(world):
    placed = add_contact(country="KZ", timezone="Asia/Almaty")
    no_city = add_contact(country="RU", timezone=None)
    nowhere = add_contact(country=None, timezone=None)
    campaign = campaign_of(world)
    facts = facts_of(world, *(row(campaign, contact) for contact in (placed, no_city, nowhere)))
    assert [(f.country, f.time_zones) for f in facts] == [
        ("KZ", ("Asia/Almaty",)), ("RU", country_zones("RU")), ("", ())]
    assert {"Europe/Moscow", "Asia/Vladivostok"} <= set(country_zones("RU"))
    assert recipient_facts.country_zones is __import__("campaigns.preflight").preflight.country_zones


def test_the_cap_counts_a_numbers_sends_across_campaigns_and_contact_rows(world):
    judged = add_contact()
    # The number came in earlier as another contact row (its phone edited since): still the same person.
    earlier_row = add_contact()
    other_sender = senders.create_sender("Other", "+74950000001", tier="TIER_250")
    db.session.commit()
    first, second = campaign_of(world), campaign_of(world, sender=other_sender)
    utility = campaign_of(world, category=TemplateCategory.UTILITY)
    row(first, earlier_row, phone=judged.phone, status=MessageStatus.DELIVERED, sent_ago=timedelta(hours=3))
    row(second, judged, status=MessageStatus.READ, sent_ago=timedelta(days=3))
    row(second, earlier_row, phone=judged.phone, status=MessageStatus.SENT, sent_ago=timedelta(days=8))  # too old
    row(utility, judged, status=MessageStatus.SENT, sent_ago=timedelta(hours=1))  # not a capped category
    # Made but never sent, and failed: neither went out.
    row(campaign_of(world), judged, status=MessageStatus.QUEUED)
    row(campaign_of(world), judged, status=MessageStatus.FAILED, sent_ago=timedelta(hours=1))
    # In flight in another campaign right now: it may be out already.
    flying = add_contact()
    row(campaign_of(world, sender=other_sender), flying, status=MessageStatus.SENDING, sent_ago=timedelta(0))
    current = campaign_of(world)
    facts = facts_of(world, row(current, judged), row(current, flying))
    assert [(f.sent_today, f.sent_this_week) for f in facts] == [(1, 2), (1, 1)]
    # Contacted by this sender in 24 h: the delivered and the utility message are the world sender's;
    # the flying one is the other sender's.
    assert [f.contacted_last_24h for f in facts] == [True, False]
    # An uncapped category counts nothing for the cap; contacted still holds.
    uncapped = facts_of(world, row(utility, flying), category="utility")[0]
    assert (uncapped.sent_today, uncapped.sent_this_week, uncapped.contacted_last_24h) == (0, 0, False)


def test_the_rows_being_judged_do_not_count_against_themselves(world):
    campaign = campaign_of(world)
    # A row already in flight judged again (as the core's gate may, for a row it holds) and a row of
    # the same number in another campaign, judged in the same batch: neither counts the other...
    contact, twin = add_contact(), add_contact()
    judged = row(campaign, contact, status=MessageStatus.SENDING, sent_ago=timedelta(minutes=1))
    same_number = row(campaign_of(world), twin, phone=contact.phone, status=MessageStatus.UNKNOWN,
                      sent_ago=timedelta(minutes=2))
    facts = facts_of(world, judged, same_number)
    assert [(f.sent_today, f.contacted_last_24h) for f in facts] == [(0, False), (0, False)]
    # ...but judged one at a time, each sees the other as sent.
    assert facts_of(world, judged)[0].sent_today == facts_of(world, same_number)[0].sent_today == 1


def test_a_batch_is_a_few_statements_whatever_its_size(world):
    campaign = campaign_of(world)
    messages = [row(campaign, add_contact()) for _ in range(60)]
    for message in messages[::7]:
        suppress(message.phone)
    ids, sender_id = [message.id for message in messages], world.sender.id
    statements = []
    engine = db.session.get_bind()

    def seen(_connection, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        facts = message_facts(ids, sender_id, "marketing", utcnow(), RULES)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 3
    assert sorted(facts) == sorted(ids) and sum(1 for f in facts.values() if f.suppressed) == len(ids[::7])
    assert message_facts([], world.sender.id, "marketing", utcnow(), RULES) == {}
