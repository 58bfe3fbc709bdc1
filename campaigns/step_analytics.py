"""What a cascade did on each of its channels, and what it saved against sending SMS to everybody.

Per step: the rows tried there (first tries and fallbacks), the people it reached (``cascade.reached_by_step``),
the rows that failed, those whose person was tried on a later step (``Message.fallback_at``) and the step's actual
cost (the billable rows' ``cost_minor``). ``delivered_twice`` is the people reached on two channels — a delivery
that came after its fallback had fired: the figure to tune a step's wait by. ``sms_savings_minor`` is what an SMS
to every person reached would have cost by the rate card (the SMS text's parts, by country) minus what the cascade
actually cost; None while the rate card prices no SMS (``pricing.sms_price``). One grouped statement
per figure, never a row at a time.
"""

from __future__ import annotations

from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import and_, case, distinct, func, select

from audience.models import Contact
from campaigns import cascade, pricing, sms_rendering, step_rendering
from campaigns.channel_reach import country_sql
from campaigns.models import Campaign, Message, MessageStatus, Template
from extensions import db


def _count(condition) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def steps(campaign: Campaign) -> list[dict[str, Any]]:
    """Each step of the campaign (one for a campaign on one sender) with what it did."""
    found = {step: (tried, failed, fallen, cost) for step, tried, failed, fallen, cost in db.session.execute(
        select(Message.step, func.count(), _count(Message.status == MessageStatus.FAILED),
               _count(Message.fallback_at.is_not(None)),
               func.coalesce(func.sum(case((Message.billable.is_(True), Message.cost_minor), else_=0)), 0))
        .where(Message.campaign_id == campaign.id).group_by(Message.step))}
    reached = cascade.reached_by_step(campaign)
    shown = []
    for step, sender in step_rendering.step_senders(campaign):
        tried, failed, fallen, cost = found.get(step.index, (0, 0, 0, 0))
        shown.append({"step": step.index, "sender_id": step.sender_id, "sender": sender.name if sender else None,
                      "channel": step_rendering.channel_of(sender), "tried": int(tried),
                      "reached": reached.get(step.index, 0), "failed": int(failed), "fallen_back": int(fallen),
                      "cost_minor": int(cost)})
    return shown


def sms_savings_minor(campaign: Campaign, actual_minor: int) -> int | None:
    """What an SMS to every person the campaign reached would have cost, minus ``actual_minor`` (None: the rate
    card has no SMS price for some of their countries)."""
    template = db.session.get(Template, campaign.template_id)
    if template is None:
        return None
    country = country_sql().label("country")
    people = Counter({where or "": int(count) for where, count in db.session.execute(
        select(country, func.count(distinct(Message.contact_id))).join(Contact, Contact.id == Message.contact_id)
        .where(and_(Message.campaign_id == campaign.id, cascade.reached(campaign))).group_by(country))})
    card = pricing.current_rate_card()
    parts = sms_rendering.preview_for(template).parts
    total = Decimal(0)
    for where, count in people.items():
        price = pricing.sms_price(card, where)
        if price is None:
            return None
        total += price * parts * count
    return int(total.scaleb(card.exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP)) - actual_minor


def figures(campaign: Campaign) -> dict[str, Any]:
    """The cascade's figures for the API and the page: ``steps``, ``delivered_twice``, ``sms_savings_minor``."""
    shown = steps(campaign)
    return {"steps": shown, "delivered_twice": cascade.delivered_twice(campaign.id),
            "sms_savings_minor": sms_savings_minor(campaign, sum(step["cost_minor"] for step in shown))}
