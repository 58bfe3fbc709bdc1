"""Delivery statuses from webhooks, applied to the message rows set-based: one UPDATE per status kind a batch.

The rules are dispatch's (``campaigns.dispatch.settle``): a row only moves forward — ``sent`` < ``delivered``
< ``read``, ``failed`` only from a row not yet delivered — whatever order the statuses arrive in; a ``read``
without a ``delivered`` sets ``delivered_at`` too; an ``unknown`` row (its worker died with the request maybe
gone) is settled by its status; our own ``unknown_outcome`` failure yields to a later sent, delivered or read.
Within one batch the kinds are applied sent, delivered, read, failed, so a row whose three statuses arrive
together keeps each time.

A status finds its row by our key (``biz_opaque_callback_data``), else by the provider's message id, among the
messages of the sender's own campaigns. The rows are read once per batch, locked in id order on PostgreSQL (so
two workers' batches touching the same rows wait for each other instead of deadlocking).

Pricing: the Cloud API prices a message once it is delivered (per-message pricing since July 2025), by the
category it names. A ``sent`` status records ``billable`` and the category; a ``delivered`` or ``read`` status
also records ``cost_minor``, the rate card's price (``campaigns.pricing``) for the recipient's country (the
region of the row's phone) and that category, in the card's minor units — 0 when not billable. Once: a row
with a cost keeps it. The monthly free allowance is not taken off per message. An SMS gateway names no category: a
delivered SMS (an SMS sender's ``delivered`` status) records ``billable``, the category ``sms`` and the parts of
the row's own text (``campaigns.sms_rendering`` with the row's values) times the card's price of a part for its
country and operator (``pricing.sms_cost_minor``).

A failure whose code means the person stopped marketing messages (131050) suppresses the number as an
opt-out, as a send answer does (``dispatch.results.suppress_opt_outs``); one whose code means the channel cannot
reach the person (``cascade.FALLBACK_MEANINGS``) hands them to the cascade's next step, as a send answer does.
Failures add their campaigns to ``context.touched_campaigns``. A row is the sender's when it went out from it:
its cascade step's sender (``Message.sender_id``), else its campaign's.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

import phonenumbers
from sqlalchemy import bindparam, func, or_, select, update

from campaigns.cascade import FALLBACK_MEANINGS
from campaigns.dispatch import jobs, settle
from campaigns.dispatch.fallbacks import fall_back
from campaigns.dispatch.results import suppress_opt_outs
from campaigns.models import Campaign, Message, MessageStatus, Template
from campaigns.pricing import RateCard, current_rate_card, operator_of, sms_cost_minor
from campaigns.sms_rendering import SmsRenderer, is_sms_channel
from channels.base import DeliveryStatus, FailureMeaning, StatusEvent
from channels.errors import decision_for
from compliance.sending import CATEGORIES
from dbtypes import one_of, utcnow
from extensions import after_commit, db

if TYPE_CHECKING:
    from campaigns.feedback.routing import FeedbackContext

log = logging.getLogger(__name__)

_table = Message.__table__
# The provider's pricing categories that the rate card prices under another name.
PRICED_AS = {"authentication_international": "authentication", "marketing_lite": "marketing"}
_CHARGED = (DeliveryStatus.DELIVERED, DeliveryStatus.READ)
SMS_CATEGORY = "sms"  # the price category of an SMS row (gateways name none)
_MOVE_BY_ID = {status: settle.moving(status, _table.c.id == bindparam("row_id")) for status in settle.SETTLING}
_PRICE = (
    update(_table)
    .where(_table.c.id == bindparam("row_id"), _table.c.cost_minor.is_(None))
    .values(billable=bindparam("billable"), price_category=func.coalesce(bindparam("category"),
                                                                        _table.c.price_category),
            cost_minor=bindparam("cost"))
)


@lru_cache(maxsize=65536)
def country_of(phone: str) -> str | None:
    """The ISO country of an E.164 number (phonenumbers' region), None when it cannot tell."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None))
    except phonenumbers.NumberParseException:
        return None


def cost_minor(card: RateCard, phone: str, category: str | None, billable: bool) -> int | None:
    """What one delivered message costs by ``card``, in its minor units: 0 when not billable, None for a
    billable category the card does not price (left for a later status to price)."""
    if not billable:
        return 0
    priced_as = PRICED_AS.get(category or "", category)
    if priced_as not in CATEGORIES:
        return None
    price = card.price(country_of(phone), priced_as)
    return int(price.scaleb(card.exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _rows(sender_id: int, events: Sequence[StatusEvent]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sender's message rows the events name, by key and by provider id (locked on PostgreSQL)."""
    dialect = db.session.get_bind().dialect.name
    keys = sorted({event.key for event in events if event.key})
    provider_ids = sorted({event.provider_id for event in events})
    # By the two unique-ish indexes only: a join to the sender's campaigns here lets the planner walk every row of
    # a campaign instead (a million for a large one); whose rows they are is checked on the few found.
    query = (
        select(_table.c.id, _table.c.campaign_id, _table.c.phone, _table.c.idempotency_key,
               _table.c.provider_message_id, _table.c.sender_id)
        .where(or_(one_of(_table.c.idempotency_key, keys, dialect),
                   one_of(_table.c.provider_message_id, provider_ids, dialect)))
        .order_by(_table.c.id)
    )
    if dialect == "postgresql":
        query = query.with_for_update()
    found = db.session.execute(query).all()
    campaigns = {row.campaign_id for row in found}
    senders = dict(db.session.execute(select(Campaign.id, Campaign.sender_id).where(
        one_of(Campaign.id, campaigns, dialect))).all()) if campaigns else {}
    by_key, by_provider_id = {}, {}
    for row in found:
        # The row's own sender: a cascade's later step goes out from another sender than its campaign's first.
        if (row.sender_id or senders.get(row.campaign_id)) != sender_id:
            continue
        by_key[row.idempotency_key] = row
        if row.provider_message_id:
            by_provider_id[row.provider_message_id] = row
    return by_key, by_provider_id


def handle(context: FeedbackContext, events: Sequence[StatusEvent]) -> None:
    """Apply a batch's statuses of one sender: the moves (one executemany per kind), the pricing (one more), the
    opt-outs; flushes only."""
    by_key, by_provider_id = _rows(context.sender.id, events)
    moves: dict[MessageStatus, list[dict[str, Any]]] = defaultdict(list)
    prices: list[dict[str, Any]] = []
    opt_outs: list[tuple[str, str]] = []
    unreachable: dict[int, list[int]] = defaultdict(list)  # by campaign: rows a cascade tries on its next step
    sms = is_sms_channel(context.sender.channel)
    sms_delivered: list[Any] = []
    card: RateCard | None = None
    unmatched = 0
    for event in events:
        row = (by_key.get(event.key) if event.key else None) or by_provider_id.get(event.provider_id)
        if row is None:
            unmatched += 1
            continue
        status = MessageStatus(event.status.value)
        moves[status].append({"row_id": row.id, **settle.parameters(event.at, event.provider_id, event.error_code,
                                                                    event.error_title)})
        if status is MessageStatus.FAILED:
            context.touched_campaigns.add(row.campaign_id)
            decision = decision_for(context.sender.channel, event.error_code) if event.error_code else None
            if decision is not None and decision.meaning is FailureMeaning.OPTED_OUT:
                opt_outs.append((row.phone, f"{event.error_code} {row.idempotency_key}"))
            elif decision is not None and decision.meaning in FALLBACK_MEANINGS:
                unreachable[row.campaign_id].append(row.id)
        elif sms and event.status in _CHARGED:
            sms_delivered.append(row)
        elif event.billable is not None:
            cost = None
            if event.status in _CHARGED:
                card = card or current_rate_card()
                cost = cost_minor(card, row.phone, event.pricing_category, event.billable)
            prices.append({"row_id": row.id, "billable": event.billable, "category": event.pricing_category,
                           "cost": cost})
    for status in settle.SETTLING:
        if moves[status]:
            db.session.execute(_MOVE_BY_ID[status], sorted(moves[status], key=_by_row))
    if sms_delivered:
        prices += sms_prices(sms_delivered)
    if prices:
        db.session.execute(_PRICE, sorted(prices, key=_by_row))
    suppress_opt_outs(opt_outs)
    _fall_back(unreachable)
    if unmatched:
        # A status of a message that is not ours (a test send from Meta's console, another app on the number).
        log.info("event=statuses_unmatched sender_id=%s count=%d", context.sender.id, unmatched)


def sms_prices(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The price of each delivered SMS row (``id``, ``campaign_id``, ``phone``): its own text's parts times the
    card's price of a part (None, unpriced, where the card has none); the rows' values and templates read once."""
    ids = sorted({row.id for row in rows})
    dialect = db.session.get_bind().dialect.name
    values = dict(db.session.execute(select(_table.c.id, _table.c.variables).where(
        one_of(_table.c.id, ids, dialect))).all())
    campaigns = sorted({row.campaign_id for row in rows})
    templates = db.session.execute(select(Campaign.id, Template).join(Template, Template.id == Campaign.template_id)
                                   .where(one_of(Campaign.id, campaigns, dialect))).all()
    renderers = {campaign_id: SmsRenderer(template) for campaign_id, template in templates}
    card = current_rate_card()
    found = []
    for row in rows:
        renderer = renderers.get(row.campaign_id)
        if renderer is None:
            continue
        text = renderer.row_text(values.get(row.id))
        cost = sms_cost_minor(country_of(row.phone), text, card, operator_of(row.phone))
        found.append({"row_id": row.id, "billable": True, "category": SMS_CATEGORY, "cost": cost})
    return found


def _fall_back(unreachable: dict[int, list[int]]) -> None:
    """Hand the rows whose failure says the channel cannot reach the person to their cascade's next step (only
    rows the failure moved: one delivered before stays delivered), and queue the new rows once this commits."""
    now = utcnow()
    for campaign_id, row_ids in sorted(unreachable.items()):
        if fall_back(campaign_id, row_ids, MessageStatus.FAILED, now):
            after_commit(partial(jobs.enqueue_batches, campaign_id))


def _by_row(values: dict[str, Any]) -> int:
    return values["row_id"]
