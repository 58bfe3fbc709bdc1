"""The compliance preflight of a campaign: would it be allowed out, to whom, and what would it cost.

The recipients' facts are gathered for the whole segment by ``campaigns.recipient_facts`` — the same
facts the dispatcher's gate gathers for its rows at send time — grouped in SQL by what the rules read
(country, zone, consent, suppressions, recent sends), so a million contacts come back as a few hundred
groups and never pass through Python one by one. Each group is judged once by
``compliance.send_verdicts.evaluate_counted`` — the rules the dispatcher applies — at the moment the
campaign is meant to go out, and weighs as many recipients as it holds. The report adds what the
rules over one recipient cannot see: is the template approved in the sender's business account,
what the content linter says about the rendered text, the messaging tier's headroom, the cost
estimate, and how many recipients each channel reaches lawfully with the channel rule's verdict for the
campaign's own channel (``campaigns.channel_reach``: a warning the reviewer must acknowledge, or a
block). Any ``blocking`` sentence prevents submission.

The template is rendered with ``campaigns.rendering`` (the examples, else the constants and
fallbacks) and linted as ``rendering.content_verdicts`` lints it for the template editor.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import distinct, func, select

from audience.models import Segment
from audience.segments import SegmentError, parse_definition, sample, segment_filter
from audience.status import ContactStatus, status_of
from campaigns import (
    bot_preflight,
    bot_rendering,
    channel_reach,
    pricing,
    recipient_facts,
    rendering,
    sms_preflight,
    sms_rendering,
    step_preflight,
)
from campaigns.campaign_specs import template_variables, variable_values
from campaigns.message_templates import STATUS_LABELS as TEMPLATE_STATUS_LABELS
from campaigns.models import (
    Campaign,
    Message,
    MessageStatus,
    Sender,
    Template,
    TemplateCategory,
    TemplateStatus,
    sent_by,
    sent_since,
)
from campaigns.template_approvals import status_for
from compliance import lint, sentences
from compliance.policy import current_policy
from compliance.send_verdicts import Decision, RecipientFacts, SendContext, evaluate_counted
from compliance.sending import SendingRules, SendWindow, tier_headroom, tier_limit
from compliance.sentences import Sentence
from compliance.verdict import Outcome
from dbtypes import utcnow
from extensions import db

# Only delivered messages are charged, so only they take part of the month's free allowance.
_CHARGED = (MessageStatus.DELIVERED, MessageStatus.READ)

EXCLUSION_LABELS = {
    "no_consent": _l("No consent"),
    "opted_out": _l("Opted out"),
    "blocked": _l("Blocked"),
    "frequency_cap": _l("Frequency cap reached"),
    "invalid_number": _l("Invalid number"),
    "time_zone": _l("Time zone unknown or no common window"),
}
DEFERRAL_LABELS = {
    "send_window": _l("Outside the send window: waits for it"),
    "tier": _l("Over the messaging tier: waits for headroom"),
}

# The preflight's own sentences by code (see compliance.sentences): the stored report keeps codes and
# parameters, and ``readable`` words them in the language of whoever reads the report.
SENTENCES = {
    "template_not_approved": lambda p: _(
        "The template “%(name)s” (%(language)s, version %(version)s) is not approved by WhatsApp for the "
        "sender “%(sender)s” (it is “%(status)s” in its business account); only approved templates can be sent.",
        name=p["name"],
        language=p["language"],
        version=p["version"],
        sender=p.get("sender", "—"),
        status=TEMPLATE_STATUS_LABELS.get(TemplateStatus(p["status"]), p["status"]),
    ) if "sender" in p else _(
        "The template “%(name)s” (%(language)s, version %(version)s) is not approved by WhatsApp "
        "(it is “%(status)s”); only approved templates can be sent.",
        name=p["name"],
        language=p["language"],
        version=p["version"],
        status=TEMPLATE_STATUS_LABELS.get(TemplateStatus(p["status"]), p["status"]),
    ),
    "variables_missing": _l("Variables: map every template variable to a source; missing: %(names)s."),
    "nobody_eligible": _l("Nobody in the segment can receive this campaign; see why each recipient is excluded."),
    "tier_overflow": _l(
        "The messaging tier allows %(headroom)s more new recipients in the next 24 hours; "
        "the other %(rest)s wait until it frees up."
    ),
}
# Every table a stored report's sentences may come from.
_TABLES = (SENTENCES, lint.SENTENCES, rendering.SENTENCES, channel_reach.SENTENCES, bot_rendering.SENTENCES,
           bot_preflight.SENTENCES, sms_rendering.SENTENCES, sms_preflight.SENTENCES)


def readable(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored report with each sentence worded in the reader's language (reports stored with their
    sentences already worded, before they kept codes, are shown as they are)."""
    if report is None:
        return None

    def say(kept: sentences.Stored) -> str:
        return sentences.say(kept, *_TABLES)

    lint_part = report.get("lint") or {}
    channels = report.get("channels")
    if channels is not None:
        channels = {**channels, "sentences": [say(kept) for kept in channels.get("sentences", [])]}
    sms = report.get("sms")
    if sms is not None and sms.get("advertising"):
        sms = {**sms, "advertising": {**sms["advertising"], "sentence": say(sms["advertising"].get("sentence", ""))}}
    return {**report, **({"channels": channels} if channels is not None else {}),
            **({"sms": sms} if sms is not None else {}),
            "blocking": [say(kept) for kept in report.get("blocking", [])],
            "warnings": [say(kept) for kept in report.get("warnings", [])],
            "lint": {**lint_part, "verdicts": [{**verdict, "reason": say(verdict.get("reason", ""))}
                                               for verdict in lint_part.get("verdicts", [])]}}


@dataclasses.dataclass
class Audience:
    """The segment's recipients as the rules see them, and those excluded before any rule."""

    groups: list[tuple[RecipientFacts, int]]  # distinct facts and how many recipients have them
    invalid: int
    contacted_last_24h: int  # unique recipients of the sender in the last 24 hours
    used_this_month: int  # charged messages of the category this calendar month

    @property
    def facts(self) -> list[RecipientFacts]:
        """The facts of each recipient, one by one."""
        return [facts for facts, count in self.groups for _ in range(count)]

    @property
    def total(self) -> int:
        """Every contact of the segment, invalid numbers included."""
        return sum(count for _facts, count in self.groups) + self.invalid


def sending_rules_for(campaign: Campaign) -> SendingRules:
    """The policy's sending rules narrowed to the campaign's own window, if it has one.

    A country's legal window (the US's, say) is intersected with the campaign's, never widened.
    """
    rules = current_policy().sending
    if not campaign.send_window:
        return rules
    own = SendWindow(time.fromisoformat(campaign.send_window["start"]), time.fromisoformat(campaign.send_window["end"]))
    countries = {}
    for country, legal in rules.country_windows.items():
        start, end = max(own.start, legal.start), min(own.end, legal.end)
        countries[country] = SendWindow(start, end) if start < end else legal
    return dataclasses.replace(rules, window=own, country_windows=countries)


def gather(definition: dict[str, Any], sender: Sender, category: str, now: datetime,
           rules: SendingRules | None = None) -> Audience:
    """Every contact of the segment with its own facts and phone (one group each), and the sender's
    figures: to look at the recipients one by one. The report weighs ``gather_groups`` instead."""
    return _audience(recipient_facts.segment_facts, definition, sender, category, now, rules)


def gather_groups(definition: dict[str, Any], sender: Sender, category: str, now: datetime,
                  rules: SendingRules | None = None) -> Audience:
    """The segment's contacts grouped in SQL by their facts (``recipient_facts.segment_fact_groups``),
    and the sender's figures: a million contacts are a few hundred groups, judged once each."""
    return _audience(recipient_facts.segment_fact_groups, definition, sender, category, now, rules)


def _audience(facts_of: Callable[..., recipient_facts.SegmentFacts], definition: dict[str, Any], sender: Sender,
              category: str, now: datetime, rules: SendingRules | None) -> Audience:
    rules = rules or current_policy().sending
    segment = facts_of(segment_filter(parse_definition(definition)), sender.id, category, now, rules)
    # Counted by send time (``models.sent_since``): a row made by a launch but not sent yet takes no
    # part in the caps or the tier; one made long ago and sent an hour ago does.
    contacted = db.session.scalar(
        select(func.count(distinct(Message.phone))).join(Campaign, Campaign.id == Message.campaign_id)
        .where(sent_by() == sender.id, sent_since(now - timedelta(days=1)))) or 0
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = (
        db.session.scalar(
            select(func.count())
            .select_from(Message)
            .join(Campaign, Campaign.id == Message.campaign_id)
            .join(Template, Template.id == Campaign.template_id)
            .where(
                Template.category == TemplateCategory(category),
                Message.sent_at >= month_start,
                Message.status.in_(_CHARGED),
            )
        )
        or 0
    )
    return Audience(segment.groups, segment.invalid, contacted, used)


def example_values(campaign: Campaign, template: Template) -> dict[str, str]:
    """A value for each variable to render the template with: its example, else the constant or fallback."""
    mapped = variable_values(campaign.variables or {}, None)
    examples = template.examples or {}
    return {name: examples.get(name) or mapped.get(name) or f"{{{{{name}}}}}" for name in template_variables(template)}


def _language(template: Template) -> str:
    return (template.language or "ru").split("_")[0].lower()


def run(campaign: Campaign, now: datetime | None = None) -> dict[str, Any]:
    """The full preflight report of ``campaign`` as JSON-ready data (see the module docstring)."""
    now = now or utcnow()
    moment = max(campaign.send_at or now, now)
    template = db.session.get(Template, campaign.template_id)
    sender = db.session.get(Sender, campaign.sender_id)
    segment = db.session.get(Segment, campaign.segment_id)
    category = template.category.value
    blocking: list[str] = []
    warnings: list[str] = []
    policy = current_policy()

    status = status_for(template, sender)
    approved = status is TemplateStatus.APPROVED
    if not approved:
        blocking.append(Sentence(SENTENCES, "template_not_approved", name=template.name, language=template.language,
                                 version=template.version, status=status.value, sender=sender.name))
    missing = [name for name in template_variables(template) if name not in (campaign.variables or {})]
    if missing:
        names = ", ".join(f"{{{{{name}}}}}" for name in missing)
        blocking.append(Sentence(SENTENCES, "variables_missing", names=names))
    rendered = rendering.render(template, example_values(campaign, template))
    report, verdicts = rendering.content_verdicts(rendered, _language(template), policy)
    lint = {**report.as_dict(),
            "verdicts": [{**verdict.as_dict(), "reason": sentences.stored(verdict.reason)} for verdict in verdicts]}
    for verdict in verdicts:
        if verdict.outcome is Outcome.BLOCK:
            blocking.append(verdict.reason)
        elif verdict.outcome is Outcome.WARN:
            warnings.append(verdict.reason)

    rules = sending_rules_for(campaign)
    try:
        audience = gather_groups(segment.definition, sender, category, now, rules)
    except SegmentError as error:
        blocking.extend(error.errors)
        audience = Audience([], 0, 0, 0)
    headroom = tier_headroom(sender.tier, audience.contacted_last_24h)
    context = SendContext(now=moment, category=category, rules=rules, tier_headroom=headroom)
    excluded: Counter[str] = Counter()
    deferred: Counter[str] = Counter()
    reached: Counter[str] = Counter()  # by country, for the estimate
    new_recipients = 0
    # Decisions are shared instances, so this tallies a handful of (decision, …) keys, not every recipient.
    tally: Counter[tuple[Decision, str, tuple[str, ...], bool]] = Counter()
    for (facts, _count), decided in zip(audience.groups, evaluate_counted(audience.groups, context), strict=True):
        for decision, count in decided:
            tally[decision, facts.country, facts.suppressed, facts.contacted_last_24h] += count
    for (decision, country, suppressions, contacted), count in tally.items():
        if decision.outcome is Outcome.BLOCK:
            rule = next(v.rule for v in decision.verdicts if v.outcome is Outcome.BLOCK)
            if rule == "suppressed":
                rule = "blocked" if status_of(suppressions) is ContactStatus.BLOCKED else "opted_out"
            excluded[{"consent": "no_consent", "send_window": "time_zone"}.get(rule, rule)] += count
            continue
        if decision.outcome is Outcome.DEFER:
            deferred[next(v.rule for v in decision.verdicts if v.outcome is Outcome.DEFER)] += count
        reached[country] += count
        new_recipients += 0 if contacted else count
    if audience.invalid:
        excluded["invalid_number"] += audience.invalid
    eligible = sum(reached.values())
    if eligible == 0 and not blocking:
        blocking.append(Sentence(SENTENCES, "nobody_eligible"))
    channels = channel_reach.campaign_reach(campaign, policy.channels)
    for sentence in channels.sentences:
        (warnings if sentence.code == "channel_warning" else blocking).append(sentence)
    limit = tier_limit(sender.tier)
    fits = headroom is None or new_recipients <= headroom
    if not fits:
        warnings.append(Sentence(SENTENCES, "tier_overflow", headroom=headroom, rest=new_recipients - headroom))
    estimate = pricing.estimate(reached, category, pricing.current_rate_card(), audience.used_this_month)
    found = {
        "checked_at": now.isoformat(),
        "judged_at": moment.isoformat(),
        "template": {
            "id": template.id,
            "name": template.name,
            "language": template.language,
            "version": template.version,
            "category": category,
            "status": status.value,  # in the sender's business account
            "approved": approved,
        },
        "lint": lint,
        "audience": {
            "total": audience.total,
            "eligible": eligible,
            "deferred": sum(deferred.values()),
            "deferred_by": {rule: deferred[rule] for rule in DEFERRAL_LABELS if deferred[rule]},
            "excluded": {reason: excluded[reason] for reason in EXCLUSION_LABELS},
        },
        "tier": {
            "tier": sender.tier,
            "limit": limit,
            "contacted_last_24h": audience.contacted_last_24h,
            "headroom": headroom,
            "new_recipients": new_recipients,
            "fits": fits,
        },
        "estimate": estimate,
        "channels": channels.as_dict(),
        "blocking": [sentences.stored(sentence) for sentence in blocking],
        "warnings": [sentences.stored(sentence) for sentence in warnings],
        "outcome": "block" if blocking else ("warn" if warnings else "pass"),
    }
    found = bot_preflight.amend(found, campaign, now, rules)  # a bot reaches addresses, not numbers
    found = step_preflight.amend(found, campaign, moment, current_policy().sending)  # a cascade: per step
    return sms_preflight.amend(found, campaign, now)  # SMS: its parts, its price, its laws


def sample_messages(campaign: Campaign, limit: int = 5) -> list[dict[str, Any]]:
    """The message as each of up to ``limit`` real recipients of the segment would see it, with the disclaimer."""
    template = db.session.get(Template, campaign.template_id)
    segment = db.session.get(Segment, campaign.segment_id)
    policy = current_policy()
    try:
        contacts = sample(segment.definition, limit)
    except SegmentError:
        return []
    messages = []
    for contact in contacts:
        rendered = rendering.render(template, variable_values(campaign.variables or {}, contact))
        messages.append({
            "contact_id": contact.id, "phone": contact.phone, "name": contact.name, "header": rendered.header,
            "body": rendering.sent_body(rendered.body, _language(template), policy), "footer": rendered.footer,
            "buttons": [button.get("text", "") for button in rendered.buttons],
        })
    return messages
