"""The preflight of a cascade: who is tried first on each step, what that costs, and each step's own checks.

Who each step tries first is decided by the launch's own statements: ``campaigns.materialise.materialise`` runs in
a SAVEPOINT, the rows it made are counted per step (and per country, for the prices), and the savepoint is rolled
back. So the preflight cannot disagree with the launch about who goes where; and it writes nothing.

The cost of a step is that of its first tries: WhatsApp by the recipient's country and the template's category
(``campaigns.pricing.estimate``), SMS the price of a part by country times the parts of the rendered text, a bot
nothing. A fallback's cost is not known before the send (it depends on who fails), so it is not estimated.

Each step is checked as a campaign on its sender alone would be: the template approved at the provider for every
WhatsApp step, and its messaging tier against the people it tries first; a bot's rendering within its channel's
limit, an SMS text within the gateway's; and the channel rule for the step's channel
(``campaigns.channel_reach.campaign_reach`` judges every step of a cascade).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import distinct, func, select

from audience.models import Contact
from campaigns import bot_rendering, pricing, sms_rendering, step_rendering
from campaigns.cascade import is_cascade
from campaigns.channel_reach import campaign_reach, country_sql
from campaigns.materialise import Materialised, materialise
from campaigns.models import Campaign, Message, Sender, Template, TemplateStatus, sent_by, sent_since
from campaigns.template_approvals import status_for
from compliance import sentences
from compliance.sending import SendingRules, tier_headroom, tier_limit
from compliance.sentences import Sentence
from extensions import db

# The preflight's sentences a cascade words again per step (the report's own, about the first sender only).
_REPLACED = ("template_not_approved", "nobody_eligible", "bot_nobody_reachable", "bot_text_too_long",
             "sms_text_too_long", "channel_warning", "channel_block", "channel_block_41fz", "tier_overflow")


def first_tries(campaign: Campaign, now: datetime, rules: SendingRules
                ) -> tuple[Materialised, dict[int, Counter[str]]]:
    """What the launch would do now, undone: its result, and the rows it made per step by recipient country."""
    savepoint = db.session.begin_nested()
    try:
        made = materialise(campaign, now, rules)
        country = country_sql().label("country")
        by_step: dict[int, Counter[str]] = defaultdict(Counter)
        for step, where, count in db.session.execute(
                select(Message.step, country, func.count()).join(Contact, Contact.id == Message.contact_id)
                .where(Message.campaign_id == campaign.id).group_by(Message.step, country)):
            by_step[step][where or ""] += count
    finally:
        savepoint.rollback()
    return made, by_step


def _minor(amount: Decimal, card: pricing.RateCard) -> int:
    unit = Decimal(1).scaleb(-card.exponent)
    return int(amount.quantize(unit, rounding=ROUND_HALF_UP).scaleb(card.exponent))


def step_costs(campaign: Campaign, template: Template, by_step: dict[int, Counter[str]],
               card: pricing.RateCard) -> list[dict[str, Any]]:
    """Each step: its sender and channel, how many are tried there first, and what those first tries cost (minor
    units of the card's currency; None when the card cannot price the channel)."""
    category = template.category.value
    found = []
    for step, sender in step_rendering.step_senders(campaign):
        channel = step_rendering.channel_of(sender)
        countries = by_step.get(step.index, Counter())
        tried = sum(countries.values())
        cost: int | None
        if bot_rendering.is_bot(sender.channel if sender is not None else ""):
            cost = 0
        elif channel == "sms":
            parts = step_rendering.rendering_for(sender, template)["parts"]
            prices = [(pricing.sms_price(card, country), count) for country, count in countries.items()]
            cost = None if any(price is None for price, _count in prices) else _minor(
                sum((price * parts * count for price, count in prices), Decimal(0)), card)
        else:
            cost = pricing.estimate(countries, category, card)["total_minor"]
        found.append({"step": step.index, "sender_id": step.sender_id, "channel": channel, "first_tried": tried,
                      "cost_minor": cost})
    return found


def whatsapp_tier(sender: Sender, first_tried: int, now: datetime) -> dict[str, Any]:
    """The messaging tier of a WhatsApp step's sender against the people the step tries first: each is counted as
    new (some may have had a message from it in the last 24 hours), so it errs on the high side, as the estimate
    does; the send-time gate holds back what the tier cannot take."""
    contacted = db.session.scalar(
        select(func.count(distinct(Message.phone))).join(Campaign, Campaign.id == Message.campaign_id)
        .where(sent_by() == sender.id, sent_since(now - timedelta(days=1)))) or 0
    headroom = tier_headroom(sender.tier, contacted)
    return {"tier": sender.tier, "limit": tier_limit(sender.tier), "contacted_last_24h": contacted,
            "headroom": headroom, "new_recipients": first_tried, "fits": headroom is None or first_tried <= headroom}


def _code(kept: Any) -> str | None:
    return kept.get("code") if isinstance(kept, dict) else None


def amend(report: dict[str, Any], campaign: Campaign, now: datetime, rules: SendingRules) -> dict[str, Any]:
    """``report`` (``preflight.run``'s) as it stands for a cascade; a campaign on one sender's comes back as it is."""
    if not is_cascade(campaign):
        return report
    template = db.session.get(Template, campaign.template_id)
    made, by_step = first_tries(campaign, now, rules)
    card = pricing.current_rate_card()
    steps = step_costs(campaign, template, by_step, card)
    blocking = [kept for kept in report["blocking"] if _code(kept) not in _REPLACED]
    warnings = [kept for kept in report["warnings"] if _code(kept) not in _REPLACED]
    from campaigns.preflight import SENTENCES  # the preflight imports this module

    unapproved = []
    for _step, sender in step_rendering.step_senders(campaign):
        if step_rendering.needs_provider_template(sender) and (
                status := status_for(template, sender)) is not TemplateStatus.APPROVED:
            unapproved.append(sender)
            blocking.append(sentences.stored(Sentence(
                SENTENCES, "template_not_approved", name=template.name, language=template.language,
                version=template.version, status=status.value, sender=sender.name)))
        elif sender is not None and bot_rendering.is_bot(sender.channel):
            message = bot_rendering.preview_for(sender.channel, template)
            blocking += [sentences.stored(sentence) for sentence in bot_rendering.preflight_sentences(message)]
        elif sender is not None and sms_rendering.is_sms_channel(sender.channel):
            text = sms_rendering.preview_for(template)
            blocking += [sentences.stored(sentence) for sentence in sms_rendering.preflight_sentences(text)]
    if made.recipients == 0:
        blocking.append(sentences.stored(Sentence(SENTENCES, "nobody_eligible")))
    tier = {"tier": None, "limit": None, "contacted_last_24h": 0, "headroom": None, "new_recipients": 0, "fits": True}
    tiers = [whatsapp_tier(sender, step["first_tried"], now) for step, (_step, sender)
             in zip(steps, step_rendering.step_senders(campaign), strict=True)
             if sender is not None and step["channel"] == "whatsapp"]
    for found in tiers:
        if not found["fits"]:
            warnings.append(sentences.stored(Sentence(SENTENCES, "tier_overflow", headroom=found["headroom"],
                                                      rest=found["new_recipients"] - found["headroom"])))
    if tiers:
        tier = tiers[0]  # the report's one tier line: the first WhatsApp step's
    channels = campaign_reach(campaign)
    for sentence in channels.sentences:
        (warnings if sentence.code == "channel_warning" else blocking).append(sentences.stored(sentence))
    known = [step["cost_minor"] for step in steps if step["cost_minor"] is not None]
    total = sum(known)
    estimate = {**report["estimate"], "messages": made.recipients, "free_messages": 0,
                "total_minor": total, "total": str(Decimal(total).scaleb(-card.exponent).quantize(
                    Decimal(1).scaleb(-card.exponent))),
                "complete": len(known) == len(steps), "steps": steps}
    return {
        **report,
        "template": {**report["template"], "approved": not unapproved},
        "audience": {"total": made.recipients + sum(made.exclusions.values()), "eligible": made.recipients,
                     "deferred": 0, "deferred_by": {}, "excluded": made.exclusions},
        "estimate": estimate,
        "tier": tier,
        "steps": steps,
        "renderings": step_rendering.renderings(campaign),
        "channels": channels.as_dict(),
        "blocking": blocking,
        "warnings": warnings,
        "outcome": "block" if blocking else ("warn" if warnings else "pass"),
    }
