"""Materialising a launched campaign: its recipients become ``messages`` rows, set-wise.

One ``INSERT INTO messages (…) SELECT … FROM contacts …`` creates every row: the segment's
condition, the exclusions and the rendering of each variable are all SQL, so a million recipients
are one statement and no contact ever passes through Python. A second statement counts the
segment's contacts by the reason they were left out. Both read the same joined sources:

- the open suppressions, aggregated per number (one hash join instead of a lookup per contact), and the
  open person-scope suppressions of the contact's messenger address keys, aggregated per contact;
- for a capped category, the marketing messages each number was sent in the last 24 hours and
  7 days, aggregated per number from ``messages``.

Each contact that is left out counts once, under the first reason that applies, in the order of
``EXCLUSION_REASONS``: a number that cannot be messaged at all, then the suppressions (a block
outranks an opt-out, as ``audience.status`` ranks them), then consent, then the frequency cap —
the order of ``compliance.send_verdicts`` (suppressed, consent, frequency_cap), with ``suppressed``
split into the two statuses a marketer sees, and the same keys, conditions and order as the
preflight (``campaigns.preflight``), which judges the same contacts before the review. The send
window is not judged here: dispatch defers or blocks each row by the recipient's local time when
it sends.

A bot campaign (a MAX or Telegram sender) reaches the segment's contacts through their addresses on that bot:
a grouped join of ``contact_addresses`` gives each contact its active address (the oldest, as
``audience.addresses.active_addresses`` picks it), whose own opt-in evidence is the consent, and each row
records it in ``Message.address`` (``Message.phone`` is the contact's number, or "" for a messenger-only
contact). A contact without an address on the bot is left out as ``no_address``, one who stopped it as
``bot_stopped``; a person-wide refusal on the number or on any of the contact's address keys
(``audience.addresses.person_suppressed``, here as a join) as ``blocked``/``opted_out``. No number is needed, so
``invalid_number`` does not apply.

A cascade (``campaigns.cascade``) runs the insert once per step, each for the contacts no earlier step took, with
the step's own sources (a bot step reaches addresses on its bot, a WhatsApp or SMS step numbers); the contacts no
step took are counted by the last step's reasons. A row that falls back later gets its next step's row from
``materialise_fallbacks``, through the same statement restricted to its contact.

The rows are inserted with ``ON CONFLICT (campaign_id, contact_id, step) DO NOTHING`` and a
deterministic idempotency key (``<campaign id>-<contact id>``, ``-<step>`` after the first step), so running the
statement again for the same campaign adds nothing and can never mint a second key for a recipient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    null,
    or_,
    select,
)
from sqlalchemy.orm import aliased
from sqlalchemy.types import JSON

from audience.models import AddressStatus, Contact, ContactAddress, Segment
from audience.segment_definition import parse_definition
from audience.segments import attribute_text, segment_filter
from campaigns.bot_rendering import is_bot
from campaigns.cascade import Step, is_cascade, steps
from campaigns.models import Campaign, Message, MessageStatus, Sender, Template, sent_since
from campaigns.recipient_facts import consented, hash_joins
from campaigns.variables import CONTACT_FIELDS, SOURCES
from compliance.models import BLOCKING_REASONS, Suppression, SuppressionScope
from compliance.numbers import not_e164
from compliance.sending import SendingRules
from dbtypes import UTCDateTime, conflict_insert, dialect_function, one_of
from domain_errors import DomainError
from extensions import db

# The reasons a contact of the segment gets no message row, in the order they are checked.
# The keys are the preflight's (campaigns.preflight.EXCLUSION_LABELS), so the campaign page can set
# what the launch excluded beside what the preflight foresaw.
EXCLUSION_REASONS = ("invalid_number", "blocked", "opted_out", "no_consent", "frequency_cap")
# A bot campaign's: who cannot be written to on the bot first, then the same suppressions, consent and cap.
BOT_EXCLUSION_REASONS = ("no_address", "bot_stopped", "blocked", "opted_out", "no_consent", "frequency_cap")


class MaterialiseError(DomainError):
    """The campaign cannot be materialised as it stands; the message is a sentence."""

    status = 409


@dataclass(frozen=True)
class Materialised:
    """What a materialisation did: rows created and the segment's contacts left out, by reason."""

    recipients: int
    exclusions: dict[str, int]


# --- SQL pieces the two dialects spell differently ----------------------------------------------

# A JSON object from alternating keys and values.
_JsonObject = dialect_function("_JsonObject", JSON(), sqlite="json_object", postgresql="json_build_object")


def _text(value: str) -> ColumnElement[str]:
    # Cast so that PostgreSQL knows the type of a bound string inside json_build_object(… "any").
    return cast(literal(value, String), String)


# --- the pieces of the statements ---------------------------------------------------------------

def check_variables(variables: dict[str, dict[str, Any]]) -> None:
    """Raise ``MaterialiseError`` with a sentence if a variable cannot be filled in."""
    for name, spec in sorted(variables.items()):
        source, value = spec.get("source"), spec.get("value")
        if source == "field" and value not in CONTACT_FIELDS:
            raise MaterialiseError(
                _(
                    "The variable {{%(name)s}} is filled from a contact field that does not exist: “%(field)s”.",
                    name=name,
                    field=value,
                )
            )
        if source not in SOURCES or (source == "attribute" and not value):
            raise MaterialiseError(
                _(
                    "The variable {{%(name)s}} says neither which contact field or attribute fills it "
                    "nor its fixed value.",
                    name=name,
                )
            )


def _rendered(spec: dict[str, Any]) -> ColumnElement[str]:
    """The SQL value of one (checked) variable: the contact's field or attribute, else the fallback."""
    source, value, fallback = spec["source"], spec.get("value") or "", spec.get("fallback") or ""
    if source == "constant":  # as the campaign's preview renders it (campaigns.variable_values)
        return _text(str(value).strip() or str(fallback))
    raw = cast(getattr(Contact, value) if source == "field" else attribute_text(str(value)), String)
    # An empty or blank value is as good as none: the recipient would see a gap in the text.
    return func.coalesce(func.nullif(func.trim(raw), ""), _text(str(fallback)))


def render_variables(variables: dict[str, dict[str, Any]]) -> ColumnElement[Any]:
    """A JSON object of every variable's value for the contact of the row, built in SQL."""
    check_variables(variables)
    pairs: list[ColumnElement[Any]] = []
    for name in sorted(variables):
        pairs += [_text(name), _rendered(variables[name])]
    return _JsonObject(*pairs)


class _Sources:
    """The contacts of a campaign's segment, joined to what decides whether each may get a row."""

    def __init__(self, campaign: Campaign, sender_id: int, now: datetime, rules: SendingRules):
        segment = db.session.get(Segment, campaign.segment_id)
        template = db.session.get(Template, campaign.template_id)
        self.where = segment_filter(parse_definition(segment.definition))
        suppressions = (
            select(Suppression.phone,
                   func.max(case((Suppression.reason.in_(BLOCKING_REASONS), 1), else_=0)).label("blocking"))
            .where(Suppression.lifted_at.is_(None))
            .group_by(Suppression.phone)
            .subquery("open_suppressions")
        )
        # An opt-out in a messenger bot is the person's (person scope, on their address key): it stops WhatsApp too.
        by_address = (
            select(ContactAddress.contact_id,
                   func.max(case((Suppression.reason.in_(BLOCKING_REASONS), 1), else_=0)).label("blocking"))
            .join(Suppression, Suppression.address_key == ContactAddress.address_key)
            .where(Suppression.lifted_at.is_(None), Suppression.scope == SuppressionScope.PERSON)
            .group_by(ContactAddress.contact_id)
            .subquery("open_address_suppressions")
        )
        self.from_ = (Contact.__table__.outerjoin(suppressions, suppressions.c.phone == Contact.phone)
                      .outerjoin(by_address, by_address.c.contact_id == Contact.id))
        self.suppressed = or_(suppressions.c.phone.is_not(None), by_address.c.contact_id.is_not(None))
        self.blocked = or_(suppressions.c.blocking == 1, by_address.c.blocking == 1)
        # NULL too: a messenger-only contact (no number) is never sent WhatsApp.
        self.invalid = not_e164(Contact.phone)
        # The consent proof is a source and a moment; one recorded after the launch proves nothing yet.
        # The same proof the preflight and the send-time gate accept (a source blank by any whitespace is none).
        self.no_consent = or_(Contact.consent_at.is_(None), ~consented(now))
        self.capped = self._capped(campaign.id, template.category.value, now, rules)

    def _capped(self, campaign_id: int, category: str, now: datetime, rules: SendingRules
                ) -> ColumnElement[bool] | None:
        if category not in rules.capped_categories or (rules.cap_per_day is None and rules.cap_per_week is None):
            return None
        # Counted by send time (``models.sent_since``), never by the launch that made the row.
        day_ago, week_ago = literal(now - timedelta(days=1), UTCDateTime), literal(now - timedelta(days=7), UTCDateTime)
        sent = (
            select(Message.phone,
                   func.sum(case((Message.sent_at >= day_ago, 1), else_=0)).label("day"),
                   func.count().label("week"))
            .join(Campaign, Campaign.id == Message.campaign_id)
            .join(Template, Template.id == Campaign.template_id)
            # The campaign's own rows are the same message on another channel of its cascade, not another one.
            .where(sent_since(week_ago), Message.campaign_id != campaign_id,
                   Template.category.in_(rules.capped_categories))
            .group_by(Message.phone)
            .subquery("recently_sent")
        )
        # By number, as the suppression list and the preflight count: the person is the number, and
        # a contact deleted and imported again is still the person who got those messages.
        self.from_ = self.from_.outerjoin(sent, sent.c.phone == Contact.phone)
        limits = []
        if rules.cap_per_day is not None:
            limits.append(func.coalesce(sent.c.day, 0) >= rules.cap_per_day)
        if rules.cap_per_week is not None:
            limits.append(func.coalesce(sent.c.week, 0) >= rules.cap_per_week)
        return or_(*limits)

    def eligible(self) -> ColumnElement[bool]:
        conditions = [self.where, ~self.invalid, ~self.suppressed, ~self.no_consent]
        if self.capped is not None:
            conditions.append(~self.capped)
        return and_(*conditions)

    def reason(self) -> ColumnElement[str | None]:
        whens = [(self.invalid, "invalid_number"), (self.blocked, "blocked"), (self.suppressed, "opted_out"),
                 (self.no_consent, "no_consent")]
        if self.capped is not None:
            whens.append((self.capped, "frequency_cap"))
        return case(*whens, else_=null())


class _BotSources(_Sources):
    """The contacts of a bot campaign's segment, joined to their addresses on the bot and the person-wide
    suppressions of those addresses' keys."""

    def __init__(self, campaign: Campaign, sender_id: int, now: datetime, rules: SendingRules):
        super().__init__(campaign, sender_id, now, rules)
        active = ContactAddress.status == AddressStatus.ACTIVE
        # Whether each contact stopped an address on the bot (an unreachable one is no address to write to).
        on_bot = (
            select(ContactAddress.contact_id,
                   func.max(case((ContactAddress.status == AddressStatus.STOPPED, 1), else_=0)).label("stopped"))
            .where(ContactAddress.sender_id == sender_id)
            .group_by(ContactAddress.contact_id)
            .subquery("bot_contacts")
        )
        # The oldest active address per contact, as ``active_addresses`` picks it (ids grow with time).
        chosen = (
            select(ContactAddress.contact_id, func.min(ContactAddress.id).label("address_id"))
            .where(ContactAddress.sender_id == sender_id, active)
            .group_by(ContactAddress.contact_id)
            .subquery("active_addresses")
        )
        self.address = aliased(ContactAddress, name="bot_address")
        person = (
            select(ContactAddress.contact_id,
                   func.max(case((Suppression.reason.in_(BLOCKING_REASONS), 1), else_=0)).label("blocking"))
            .join(Suppression, Suppression.address_key == ContactAddress.address_key)
            .where(Suppression.lifted_at.is_(None), Suppression.scope == SuppressionScope.PERSON)
            .group_by(ContactAddress.contact_id)
            .subquery("person_suppressions")
        )
        self.from_ = (self.from_
                      .outerjoin(on_bot, on_bot.c.contact_id == Contact.id)
                      .outerjoin(chosen, chosen.c.contact_id == Contact.id)
                      .outerjoin(self.address, self.address.id == chosen.c.address_id)
                      .outerjoin(person, person.c.contact_id == Contact.id))
        self.no_address = and_(chosen.c.address_id.is_(None), func.coalesce(on_bot.c.stopped, 0) == 0)
        self.stopped = chosen.c.address_id.is_(None)
        self.blocked = or_(self.blocked, person.c.blocking == 1)
        self.suppressed = or_(self.suppressed, person.c.contact_id.is_not(None))
        # The address's own opt-in evidence: the person started the bot, at a moment before the launch.
        self.no_consent = or_(self.address.consent_at > literal(now, UTCDateTime),
                              func.coalesce(func.trim(self.address.consent_source), "") == "")

    def eligible(self) -> ColumnElement[bool]:
        conditions = [self.where, ~self.stopped, ~self.suppressed, ~self.no_consent]
        if self.capped is not None:
            conditions.append(~self.capped)
        return and_(*conditions)

    def reason(self) -> ColumnElement[str | None]:
        whens = [(self.no_address, "no_address"), (self.stopped, "bot_stopped"), (self.blocked, "blocked"),
                 (self.suppressed, "opted_out"), (self.no_consent, "no_consent")]
        if self.capped is not None:
            whens.append((self.capped, "frequency_cap"))
        return case(*whens, else_=null())


def _idempotency_key(campaign_id: int, step: int) -> ColumnElement[str]:
    # "<campaign>-<contact>" (and "-<step>" on a cascade's later steps): the same recipient on the same channel
    # always gets the same key, so no retry can mint another.
    key = _text(f"{campaign_id}-") + cast(Contact.id, String)
    return key if step == 0 else key + _text(f"-{step}")


def _insert(table):
    return conflict_insert(table, db.session.get_bind().dialect.name)


def _sources(campaign: Campaign, step: Step, now: datetime, rules: SendingRules) -> _Sources:
    """The contacts of the segment joined to what decides whether the step's channel may take each."""
    sender = db.session.get(Sender, step.sender_id)
    kind = _BotSources if sender is not None and is_bot(sender.channel) else _Sources
    return kind(campaign, step.sender_id, now, rules)


def _without_row(campaign_id: int) -> ColumnElement[bool]:
    """The contact has no row of the campaign on any step yet."""
    return ~exists().where(Message.campaign_id == campaign_id, Message.contact_id == Contact.id)


def _step_insert(campaign: Campaign, step: Step, sources: _Sources, now: datetime,
                 only: ColumnElement[bool] | None = None):
    """The INSERT … SELECT of the step's rows for the eligible contacts, returning the contacts it made rows for:
    at the launch those no earlier step took, on a fallback the contacts ``only`` picks."""
    bot = isinstance(sources, _BotSources)
    values = [
        cast(literal(campaign.id, BigInteger), BigInteger),
        Contact.id,
        func.coalesce(Contact.phone, _text("")) if bot else Contact.phone,
        render_variables(campaign.variables or {}),
        _idempotency_key(campaign.id, step.index),
        _text(MessageStatus.QUEUED.value),
        literal(now, UTCDateTime),
        literal(step.index, Integer),
        cast(literal(step.sender_id, BigInteger), BigInteger),
    ]
    columns = ["campaign_id", "contact_id", "phone", "variables", "idempotency_key", "status", "created_at", "step",
               "sender_id"]
    if bot:
        values.append(sources.address.address)
        columns.append("address")
    conditions = [sources.eligible()]
    if only is not None:
        conditions.append(only)
    elif is_cascade(campaign):  # a later step only for those no earlier one took; a lone step needs no such check
        conditions.append(_without_row(campaign.id))
    rows = select(*values).select_from(sources.from_).where(*conditions)
    return (_insert(Message.__table__).from_select(columns, rows)
            .on_conflict_do_nothing(index_elements=["campaign_id", "contact_id", "step"])
            .returning(Message.contact_id))


def bot_audience(campaign: Campaign, now: datetime, rules: SendingRules) -> Materialised:
    """What materialising the bot campaign would do now, without doing it (the preflight's audience): the
    contacts it would reach and those it would leave out, by reason. One statement; writes nothing."""
    sources = _BotSources(campaign, campaign.sender_id, now, rules)
    reason = sources.reason().label("reason")
    found = dict(db.session.execute(
        select(reason, func.count()).select_from(sources.from_).where(sources.where).group_by(reason)).all())
    return Materialised(recipients=found.pop(None, 0),
                        exclusions={name: found.get(name, 0) for name in BOT_EXCLUSION_REASONS})


def materialise(campaign: Campaign, now: datetime, rules: SendingRules) -> Materialised:
    """Create one queued message row per eligible contact of the campaign's segment, on the first step of its
    cascade whose channel may take them (a campaign on one sender has one step); count the rest by the reasons
    of the last step, the one that tried everybody left.

    One insert per step and one count, in the caller's transaction; flushes only. A campaign materialised
    before gains no rows.
    """
    ladder = steps(campaign)
    with hash_joins():
        for step in ladder:
            db.session.execute(_step_insert(campaign, step, _sources(campaign, step, now, rules), now)).all()
        last = _sources(campaign, ladder[-1], now, rules)
        reason = last.reason().label("reason")
        left_out = [last.where, reason.is_not(None)]
        if is_cascade(campaign):
            left_out.append(_without_row(campaign.id))
        found = dict(db.session.execute(
            select(reason, func.count()).select_from(last.from_).where(*left_out).group_by(reason)).all())
    reasons = BOT_EXCLUSION_REASONS if isinstance(last, _BotSources) else EXCLUSION_REASONS
    exclusions = {name: found.get(name, 0) for name in reasons}
    recipients = db.session.scalar(select(func.count(distinct(Message.contact_id)))
                                   .where(Message.campaign_id == campaign.id))
    return Materialised(recipients=recipients or 0, exclusions=exclusions)


def materialise_fallbacks(campaign: Campaign, contact_ids: list[int], after: int, now: datetime,
                          rules: SendingRules) -> dict[int, int]:
    """Give each of ``contact_ids`` (whose row on step ``after`` failed or timed out) a row on the first later
    step whose channel may take them, as the launch chose the first; returns the rows made, by step. A contact
    no later step takes gets none (the cascade ends for them). Flushes only."""
    made: dict[int, int] = {}
    waiting = sorted(set(contact_ids))
    with hash_joins():
        for step in steps(campaign)[after + 1:]:
            if not waiting:
                break
            only = one_of(Contact.id, waiting, db.session.get_bind().dialect.name)
            taken = set(db.session.scalars(
                _step_insert(campaign, step, _sources(campaign, step, now, rules), now, only=only)))
            made[step.index] = len(taken)
            waiting = [contact_id for contact_id in waiting if contact_id not in taken]
    return made
