"""The send-time facts of message rows and of a whole segment, gathered set-wise, as the rules judge them."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import timedelta
from itertools import count as counter

import pytest
from sqlalchemy import event, select

from audience.segments import parse_definition, segment_filter
from campaigns import models, recipient_facts, senders
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Template, TemplateCategory
from campaigns.recipient_facts import country_zones, message_facts
from compliance import suppression
from compliance.models import SuppressionReason
from compliance.send_verdicts import RecipientFacts
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


# --- a whole segment, grouped ------------------------------------------------------------------------

ZONES = [("RU", "Europe/Moscow"), ("RU", "Asia/Vladivostok"), ("RU", None), ("RU", ""), ("KZ", "Asia/Almaty"),
         ("DE", None), ("US", "America/New_York"), ("US", None), (None, None), ("RU", "Mars/Olympus")]
CONSENTS = [("website form", -30)] * 8 + [("shop, paper form", -400), ("", -30), ("\u00a0", -30), (" \t", -30),
                                         ("website form", 2), ("website form", 0.01)]
SUPPRESSIONS = [()] * 12 + [("opt_out",), ("block",), ("opt_out", "spam_report"), ("lifted",), ("manual",)]
SENT_AGO = [timedelta(hours=1), timedelta(hours=5), timedelta(days=2), timedelta(days=5), timedelta(days=9)]
STATUSES = [MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.UNKNOWN,
            MessageStatus.QUEUED, MessageStatus.FAILED, MessageStatus.SKIPPED]


@pytest.fixture
def varied(world):
    """Three hundred contacts of the segment with every kind of fact, a few outside it, and the
    messages of earlier campaigns (of this sender and another, capped and not) to their numbers,
    some sent as another contact row."""
    import random

    from audience.models import Contact

    rng = random.Random(12)
    now = utcnow()
    inside, outside = [], []
    for index in range(330):
        country, zone = rng.choice(ZONES)
        source, days = rng.choice(CONSENTS)
        phone = f"+7916{index:07d}"
        if rng.random() < 0.03:  # not E.164: too short, no "+", a leading 0
            phone = rng.choice([f"+7{index}", phone[1:], f"+0{index:09d}"])
        contact = Contact(phone=phone, tags="|promo|" if index < 300 else "|other|", country=country,
                          timezone=zone, consent_source=source,
                          consent_at=now + timedelta(days=days))
        (inside if index < 300 else outside).append(contact)
    db.session.add_all(inside + outside)
    db.session.commit()
    for contact in inside:
        for reason in rng.choice(SUPPRESSIONS):
            if reason == "lifted":
                suppress(contact.phone, SuppressionReason.OPT_OUT)
                suppression.lift_opt_out(contact.phone)
            else:
                suppression.suppress(contact.phone, SuppressionReason(reason), source="test", note="test")
    other_sender = senders.create_sender("Other", "+74950000001", tier="TIER_250")
    db.session.commit()
    earlier = [campaign_of(world), campaign_of(world), campaign_of(world, sender=other_sender),
               campaign_of(world, sender=other_sender), campaign_of(world, category=TemplateCategory.UTILITY)]
    for campaign in earlier:
        spare = list(outside)  # one row per (campaign, contact)
        for contact in rng.sample(inside, 120):
            # Now and then the number went out as another contact row (its phone edited since).
            carrier = spare.pop() if spare and rng.random() < 0.15 else contact
            status = rng.choice(STATUSES)
            db.session.add(Message(campaign_id=campaign.id, contact_id=carrier.id, phone=contact.phone,
                                   idempotency_key=f"k{next(_keys)}", status=status,
                                   sent_at=None if status is MessageStatus.QUEUED else now - rng.choice(SENT_AGO)))
        db.session.commit()
    return world, inside, now


def one_by_one(contacts, sender_id, now):
    """Each contact's facts worked out in Python from the rows, as the rules define them."""
    from compliance.models import Suppression
    from compliance.numbers import is_e164

    open_reasons: dict[str, list[str]] = {}
    for entry in db.session.scalars(select(Suppression).where(Suppression.lifted_at.is_(None))):
        open_reasons.setdefault(entry.phone, []).append(entry.reason.value)
    sent = [(m.phone, m.sent_at, c.sender_id, t.category.value) for m, c, t in db.session.execute(
        select(Message, Campaign, Template).join(Campaign, Campaign.id == Message.campaign_id)
        .join(Template, Template.id == Campaign.template_id)) if m.status in models.SENT_STATUSES and m.sent_at]
    facts, invalid = [], 0
    for contact in contacts:
        if not is_e164(contact.phone):
            invalid += 1
            continue
        mine = [(at, sender, category) for phone, at, sender, category in sent if phone == contact.phone]
        facts.append(RecipientFacts(
            phone=contact.phone, country=contact.country or "",
            time_zones=(contact.timezone,) if contact.timezone else country_zones(contact.country),
            has_consent=bool((contact.consent_source or "").strip()) and contact.consent_at is not None
            and contact.consent_at <= now,
            suppressed=tuple(sorted(open_reasons.get(contact.phone, ()))),
            sent_today=sum(1 for at, _s, category in mine if category == "marketing" and at >= now - timedelta(days=1)),
            sent_this_week=sum(1 for at, _s, category in mine if category == "marketing"
                               and at >= now - timedelta(days=7)),
            contacted_last_24h=any(s == sender_id and at >= now - timedelta(days=1) for at, s, _c in mine)))
    return facts, invalid


def test_the_segments_groups_hold_exactly_its_contacts_facts(varied):
    world, inside, now = varied
    expected, invalid = one_by_one(inside, world.sender.id, now)
    where = segment_filter(parse_definition(world.segment.definition))
    grouped = recipient_facts.segment_fact_groups(where, world.sender.id, "marketing", now, RULES)
    assert grouped.invalid == invalid > 0
    assert len(grouped.groups) < len(expected) and all(facts.phone == "" for facts, _n in grouped.groups)
    assert Counter(dict(grouped.groups)) == Counter(replace(facts, phone="") for facts in expected)
    # One by one, with their phones, the same facts.
    single = recipient_facts.segment_facts(where, world.sender.id, "marketing", now, RULES)
    assert [facts for facts, _n in single.groups] == sorted(expected, key=lambda facts: facts.phone)
    assert single.invalid == invalid
    # Enough variety to mean something: every rule is met somewhere.
    assert {f.sent_today for f in expected} >= {0, 1, 2} and {f.sent_this_week for f in expected} >= {0, 1, 2, 3}
    assert {f.has_consent for f in expected} == {True, False} and {f.contacted_last_24h for f in expected} == {
        True, False}


@pytest.mark.parametrize("headroom", [None, 0, 7, 10_000])
def test_the_preflight_of_the_groups_is_the_preflight_of_every_contact(varied, monkeypatch, headroom):
    from audience.status import ContactStatus, status_of
    from campaigns import preflight
    from compliance import sending
    from compliance.send_verdicts import SendContext
    from compliance.send_verdicts import preflight as judge

    world, inside, now = varied
    campaign = world.campaign()
    contacted = preflight.run(campaign, now=now)["tier"]["contacted_last_24h"]
    monkeypatch.setitem(sending.TIER_LIMITS, "TIER_250", None if headroom is None else contacted + headroom)
    report = preflight.run(campaign, now=now)
    assert report["tier"]["headroom"] == headroom
    expected, invalid = one_by_one(inside, world.sender.id, now)
    context = SendContext(now=max(campaign.send_at, now), category="marketing",
                          rules=preflight.sending_rules_for(campaign), tier_headroom=headroom)
    oracle = judge(expected, context)
    not_blocked = [f for f in expected if not f.suppressed and f.has_consent]
    suppressed = Counter(status_of(f.suppressed) for f in expected if f.suppressed)
    audience = report["audience"]
    assert audience["total"] == len(inside) and audience["deferred"] == oracle.deferred
    assert audience["eligible"] == oracle.eligible + oracle.deferred
    assert audience["deferred_by"] == oracle.deferred_by
    assert audience["excluded"] == {
        "no_consent": oracle.excluded.get("consent", 0), "opted_out": suppressed[ContactStatus.OPTED_OUT],
        "blocked": suppressed[ContactStatus.BLOCKED], "frequency_cap": oracle.excluded.get("frequency_cap", 0),
        "invalid_number": invalid, "time_zone": oracle.excluded.get("send_window", 0)}
    assert audience["deferred_by"] and audience["excluded"]["time_zone"] and not_blocked
    if headroom == 7:  # taken by some of the new recipients, not all
        assert 0 < audience["deferred_by"]["tier"] < report["tier"]["new_recipients"] - 7
