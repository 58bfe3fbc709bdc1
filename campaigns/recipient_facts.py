"""The facts the send-time rules judge (``compliance.send_verdicts.RecipientFacts``), gathered set-wise.

Two callers, one set of definitions:

- the dispatcher's gate, right before a batch of message rows leaves (``message_facts``): a few
  statements over the rows' numbers and contacts, so an opt-out, a lifted suppression or another
  campaign's message that went out a minute ago is seen at send time;
- the preflight of a whole segment (``segment_fact_groups``): the segment's contacts grouped in SQL
  by the facts the rules read, so a million contacts come back as a few hundred (facts, count) rows
  instead of a million objects.

A fact means the same in both: suppressions are the open ones of the number; consent is a source that
is not blank (as Python's ``str.strip`` sees blank) recorded at or before the moment judged; the time
zone is the contact's own, else every zone of its country's mobile numbers (``country_zones``); the
frequency cap counts a number's messages of the capped categories sent in the last 24 hours and
7 days (``campaigns.models.sent_since``: by send time, whatever campaign or contact row they went out
as), and "contacted" is the sender having sent to the number in the last 24 hours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import phonenumbers
from phonenumbers import timezone as number_zones
from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select, text

from audience.models import Contact
from campaigns.models import Campaign, Message, Template, TemplateCategory, sent_by, sent_since
from compliance.models import Suppression, SuppressionReason
from compliance.numbers import not_e164
from compliance.send_verdicts import RecipientFacts
from compliance.sending import SendingRules
from dbtypes import UTCDateTime, one_of
from extensions import db

# Every character ``str.strip()`` removes: SQL's TRIM removes only spaces by default, and a consent
# source of a lone no-break space must be as blank in SQL as it is in Python.
_WHITESPACE = "".join(chr(code) for code in range(0x110000) if chr(code).isspace())
# One bit per suppression reason: at most one suppression per number and reason is open at a time
# (``uq_suppressions_open``), so the SUM of a number's bits is their OR, in any dialect.
_REASON_BITS = {reason.value: 1 << bit for bit, reason in enumerate(SuppressionReason)}


@cache
def country_zones(country: str | None) -> tuple[str, ...]:
    """Every time zone of ``country``'s mobile numbers (what a contact without a city may be in)."""
    if not country:
        return ()
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        return ()
    return tuple(zone for zone in number_zones.time_zones_for_number(example) if zone != "Etc/Unknown")


def time_zones(country: str | None, zone: str | None) -> tuple[str, ...]:
    """The candidate zones of a contact: its own when its place is known, else its country's."""
    return (zone,) if zone else country_zones(country)


def consented(now: datetime) -> ColumnElement[bool]:
    """SQL true for a contact whose consent proof holds at ``now``: a source that is not blank, and a
    consent moment at or before ``now`` (one recorded later proves nothing yet)."""
    return and_(Contact.consent_at <= literal(now, UTCDateTime),
                func.coalesce(func.trim(Contact.consent_source, _WHITESPACE), "") != "")


@dataclass(frozen=True)
class History:
    """A number's recent messages as the rules count them."""

    sent_today: int = 0
    sent_this_week: int = 0
    contacted_last_24h: bool = False


def _history(sender_id: int, category: str, now: datetime, rules: SendingRules,
             key: ColumnElement[Any] = Message.phone, campaign_id: int | None = None) -> Select[Any]:
    """Per number (or per ``key``: the contact, for a person known by a bot address only): capped messages sent
    in 24 h and 7 days, and whether the sender sent to it in 24 h. The rows of ``campaign_id`` are left out: a
    cascade's earlier step is the same message on another channel, not a second one the cap should count.

    When ``category`` is not capped no rule reads the counts, so they stay 0 and only the last day
    is scanned.
    """
    day_ago = literal(now - timedelta(days=1), UTCDateTime)
    capped = category in rules.capped_categories
    if capped:
        in_cap = Template.category.in_([TemplateCategory(c) for c in rules.capped_categories])
        today = func.sum(case((and_(in_cap, Message.sent_at >= day_ago), 1), else_=0))
        week = func.sum(case((in_cap, 1), else_=0))
        since = literal(now - timedelta(days=7), UTCDateTime)
    else:
        today = week = literal(0)
        since = day_ago
    contacted = func.max(case((and_(sent_by() == sender_id, Message.sent_at >= day_ago), 1), else_=0))
    query = (select(key, today.label("today"), week.label("week"), contacted.label("contacted"))
             .join(Campaign, Campaign.id == Message.campaign_id)
             .where(sent_since(since)))
    if campaign_id is not None:
        query = query.where(Message.campaign_id != campaign_id)
    if capped:
        query = query.join(Template, Template.id == Campaign.template_id)
    return query.group_by(key)


def _reasons(mask: int | None) -> tuple[str, ...]:
    # Sorted by name, as the suppression reasons of a recipient always are.
    return tuple(sorted(reason for reason, bit in _REASON_BITS.items() if (mask or 0) & bit))


def message_facts(message_ids: Iterable[int], sender_id: int, category: str, now: datetime,
                  rules: SendingRules, campaign_id: int | None = None) -> dict[int, RecipientFacts]:
    """The facts of each message row in ``message_ids`` at ``now``, by row id, in three statements.

    The rows themselves are not counted in their numbers' history: they are being judged, not sent
    (one of them may be ``sending`` again after a lease was recovered). Any other row of the number
    is, whatever its campaign or contact row, ``sending`` ones included once ``sent_since`` counts
    them, except the rows of ``campaign_id`` (a cascade's other steps). ``sender_id`` is the rows' sender, whose
    recent recipients are "contacted".
    """
    ids = sorted(set(message_ids))
    if not ids:
        return {}
    # One array parameter on PostgreSQL instead of an IN list per statement (``dbtypes.one_of``).
    judged = one_of(Message.id, ids, db.session.get_bind().dialect.name)
    phones = select(Message.phone).where(judged)
    rows = db.session.execute(
        select(Message.id, Message.phone, Contact.country, Contact.timezone, consented(now), Message.contact_id)
        .join(Contact, Contact.id == Message.contact_id)
        .where(judged)
    ).all()
    suppressed: dict[str, list[str]] = {}
    for phone, reason in db.session.execute(
            select(Suppression.phone, Suppression.reason)
            .where(Suppression.phone.in_(phones), Suppression.lifted_at.is_(None))):
        suppressed.setdefault(phone, []).append(reason.value)
    history = {
        phone: History(int(today or 0), int(week or 0), bool(contacted))
        for phone, today, week, contacted in db.session.execute(
            _history(sender_id, category, now, rules, campaign_id=campaign_id)
            .where(Message.phone.in_(phones), Message.phone != "", ~judged))
    }
    # A person known by a bot address only has no number ("" on every row): their history is their contact's.
    lone = [contact_id for _id, phone, *_facts, contact_id in rows if not phone]
    by_contact = {} if not lone else {
        contact_id: History(int(today or 0), int(week or 0), bool(contacted))
        for contact_id, today, week, contacted in db.session.execute(
            _history(sender_id, category, now, rules, key=Message.contact_id, campaign_id=campaign_id)
            .where(Message.phone == "", Message.contact_id.in_(lone), ~judged))
    }
    facts = {}
    for message_id, phone, country, zone, has_consent, contact_id in rows:
        recent = history.get(phone, History()) if phone else by_contact.get(contact_id, History())
        facts[message_id] = RecipientFacts(
            phone=phone,
            country=country or "",
            time_zones=time_zones(country, zone),
            has_consent=bool(has_consent),
            suppressed=tuple(sorted(suppressed.get(phone, ()))),
            sent_today=recent.sent_today,
            sent_this_week=recent.sent_this_week,
            contacted_last_24h=recent.contacted_last_24h,
        )
    return facts


@dataclass(frozen=True)
class SegmentFacts:
    """A segment's contacts as the rules see them: each distinct set of facts and how many share it.

    The facts of a group carry no phone. ``invalid`` counts the contacts whose number is not shaped
    like E.164: no provider would take it, so no rule judges them.
    """

    groups: list[tuple[RecipientFacts, int]]
    invalid: int


def _contacts(where: ColumnElement[bool], sender_id: int, category: str, now: datetime, rules: SendingRules):
    """One row per contact of the segment with the columns its facts are made of (a subquery)."""
    open_suppressions = (
        select(Suppression.phone,
               func.sum(case(*((Suppression.reason == reason, bit) for reason, bit in _REASON_BITS.items()),
                             else_=0)).label("reasons"))
        .where(Suppression.lifted_at.is_(None))
        .group_by(Suppression.phone)
        .subquery("open_suppressions")
    )
    history = _history(sender_id, category, now, rules).subquery("recently_sent")
    return (
        select(Contact.phone,
               case((not_e164(Contact.phone), 1), else_=0).label("invalid"),
               Contact.country, Contact.timezone,
               case((consented(now), 1), else_=0).label("consent"),
               func.coalesce(open_suppressions.c.reasons, 0).label("reasons"),
               func.coalesce(history.c.today, 0).label("today"),
               func.coalesce(history.c.week, 0).label("week"),
               func.coalesce(history.c.contacted, 0).label("contacted"))
        .select_from(Contact.__table__
                     .outerjoin(open_suppressions, open_suppressions.c.phone == Contact.phone)
                     .outerjoin(history, history.c.phone == Contact.phone))
        .where(where)
        .subquery("segment_contacts")
    )


def _facts(phone: str, country: str | None, zone: str | None, consent: int, reasons: int, today: int, week: int,
           contacted: int) -> RecipientFacts:
    return RecipientFacts(phone=phone, country=country or "", time_zones=time_zones(country, zone),
                          has_consent=bool(consent), suppressed=_reasons(reasons), sent_today=int(today),
                          sent_this_week=int(week), contacted_last_24h=bool(contacted))


@contextmanager
def hash_joins() -> Iterator[None]:
    """On PostgreSQL, plan the statements inside without nested loops. A segment scan joins aggregates by number
    (suppressions, recent sends), and PostgreSQL underestimates the rows that pass the per-contact conditions (a
    regular expression, a trimmed text): it would pick a nested loop over an aggregate, once per contact —
    minutes where hash joins take seconds for a million contacts."""
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    if postgresql:
        db.session.execute(text("SET LOCAL enable_nestloop = off"))
    yield
    if postgresql:  # after a failure the rollback ends the SET LOCAL anyway
        db.session.execute(text("RESET enable_nestloop"))


def segment_fact_groups(where: ColumnElement[bool], sender_id: int, category: str, now: datetime,
                        rules: SendingRules) -> SegmentFacts:
    """The contacts matching ``where`` (a segment's condition on ``Contact``) grouped by their facts
    at ``now``, in one statement: a million contacts come back as a few hundred groups."""
    contacts = _contacts(where, sender_id, category, now, rules)
    columns = [contacts.c[name] for name in
               ("invalid", "country", "timezone", "consent", "reasons", "today", "week", "contacted")]
    with hash_joins():
        rows = db.session.execute(select(*columns, func.count()).group_by(*columns)).all()
    groups: Counter[RecipientFacts] = Counter()
    invalid = 0
    for is_invalid, *facts, count in rows:
        if is_invalid:
            invalid += count
        else:  # groups apart in SQL may be one here (no zone and an empty one, say)
            groups[_facts("", *facts)] += count
    return SegmentFacts(list(groups.items()), invalid)


def segment_facts(where: ColumnElement[bool], sender_id: int, category: str, now: datetime,
                  rules: SendingRules) -> SegmentFacts:
    """The same as ``segment_fact_groups``, one group per contact with its phone, in the order of
    the phones: to look at individual recipients of a segment small enough to load."""
    contacts = _contacts(where, sender_id, category, now, rules)
    rows = db.session.execute(select(contacts).order_by(contacts.c.phone)).all()
    return SegmentFacts([(_facts(phone, *facts), 1) for phone, is_invalid, *facts in rows if not is_invalid],
                        sum(1 for row in rows if row.invalid))
