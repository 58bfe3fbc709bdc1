"""The preflight of a campaign that sends SMS (its sender, or a step of its cascade): the text's parts and cost, and
the two laws an SMS mailing in Russia answers to.

- **The cost**: an SMS sender has no messaging tier and names no category; the estimate is the parts of the text as
  the review shows it (``campaigns.sms_rendering``, with the template's examples) times the rate card's price of a
  part per recipient country (``pricing.sms_estimate``; a cascade's SMS step is priced by ``step_preflight``). The
  actual cost counts each row's own text when its delivery is reported (``feedback.statuses``).
- **Advertising** (a marketing template) by SMS needs the subscriber's prior consent, which the advertiser must be
  able to prove (38-FZ "On Advertising", art. 18 part 1). The report shows the proof the importer keeps for the
  contacts with a number — its source and its dates, by source — and the recipients without one, who are excluded
  (``no_consent``: the launch and the send-time gate exclude them too).
- **A mailing** by SMS needs the subscriber's consent and goes out under a contract with a communications operator
  (126-FZ "On Communications", art. 44.1), its alpha name registered under that contract. That is a warning the
  reviewer acknowledges in writing, as a channel warning (``review.approve``).

Send windows and frequency caps apply to SMS rows as to any other: the same gate judges them at send time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from audience.models import Contact, Segment
from audience.segments import SegmentError, parse_definition, segment_filter
from campaigns import pricing, sms_rendering
from campaigns.cascade import is_cascade, steps
from campaigns.models import Campaign, Sender, Template, TemplateCategory
from campaigns.recipient_facts import consented
from compliance import sentences
from compliance.numbers import not_e164
from compliance.sentences import Sentence
from extensions import db

# The consent proof shown by source: the largest sources, the rest summed up.
MAX_SOURCES = 10
SENTENCES = {
    "sms_advertising_consent": _l(
        "Advertising by SMS needs each subscriber's prior consent, which the advertiser must be able to prove "
        "(art. 18 part 1 of 38-FZ “On Advertising”): %(proven)s recipients with a number have a consent proof on "
        "file (its source and date are listed below); %(without)s without one are excluded."),
    "sms_mailing_law": _l(
        "This campaign sends by SMS: a mailing needs each subscriber's consent and goes out under a contract with a "
        "communications operator, with the alpha name registered under it (art. 44.1 of 126-FZ “On "
        "Communications”). The reviewer must acknowledge in writing that the gateway's contract covers this mailing "
        "to approve."),
}
WARNING_CODES = ("sms_mailing_law",)


def sms_senders(campaign: Campaign) -> list[Sender]:
    """The SMS senders among the campaign's steps (its own sender for a campaign on one sender), in order."""
    found = [db.session.get(Sender, step.sender_id) for step in steps(campaign)]
    return [sender for sender in found if sender is not None and sms_rendering.is_sms_channel(sender.channel)]


def law_warnings(campaign: Campaign) -> list[Sentence]:
    """The warnings a campaign that sends SMS needs acknowledged (126-FZ art. 44.1); none for any other."""
    return [Sentence(SENTENCES, "sms_mailing_law")] if sms_senders(campaign) else []


def consent_proof(definition: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """The consent proof the importer keeps for the segment's contacts with a number (an SMS can reach them), by
    source: how many, the earliest and the latest consent; the largest ``MAX_SOURCES`` sources, then the rest."""
    rows = db.session.execute(
        select(Contact.consent_source, func.count(), func.min(Contact.consent_at), func.max(Contact.consent_at))
        .where(segment_filter(parse_definition(definition)), ~not_e164(Contact.phone), consented(now))
        .group_by(Contact.consent_source).order_by(func.count().desc(), Contact.consent_source)).all()
    shown = [{"source": source, "recipients": int(count), "first": first.isoformat(), "last": last.isoformat()}
             for source, count, first, last in rows[:MAX_SOURCES]]
    rest = rows[MAX_SOURCES:]
    if rest:
        shown.append({"source": None, "recipients": sum(int(row[1]) for row in rest),
                      "first": min(row[2] for row in rest).isoformat(),
                      "last": max(row[3] for row in rest).isoformat()})
    return shown


def _code(kept: Any) -> str | None:
    return kept.get("code") if isinstance(kept, dict) else None


def amend(report: dict[str, Any], campaign: Campaign, now: datetime) -> dict[str, Any]:
    """``report`` as it stands for a campaign that sends SMS (see the module docstring); any other comes back as
    it is."""
    if not sms_senders(campaign):
        return report
    template = db.session.get(Template, campaign.template_id)
    segment = db.session.get(Segment, campaign.segment_id)
    message = sms_rendering.preview_for(template)
    blocking = [kept for kept in report["blocking"] if _code(kept) != "sms_text_too_long"]
    blocking += [sentences.stored(sentence) for sentence in sms_rendering.preflight_sentences(message)]
    warnings = [kept for kept in report["warnings"] if _code(kept) not in WARNING_CODES]
    warnings += [sentences.stored(sentence) for sentence in law_warnings(campaign)]
    sms: dict[str, Any] = {"rendering": message.as_dict(), "advertising": None}
    if template.category is TemplateCategory.MARKETING:
        try:
            proof = consent_proof(segment.definition, now)
        except SegmentError:
            proof = []
        without = int(report["audience"]["excluded"].get("no_consent", 0))
        sms["advertising"] = {"consent": proof, "without_consent": without, "sentence": sentences.stored(Sentence(
            SENTENCES, "sms_advertising_consent", proven=sum(row["recipients"] for row in proof), without=without))}
    amended = {**report, "sms": sms, "blocking": blocking, "warnings": warnings,
               "outcome": "block" if blocking else ("warn" if warnings else "pass")}
    if not is_cascade(campaign):
        # An SMS gateway has no messaging tier; the estimate is the parts of the text by the card's price of one.
        countries = {row["country"]: row["messages"] for row in report["estimate"]["by_country"]}
        amended["tier"] = {"tier": None, "limit": None, "contacted_last_24h": 0, "headroom": None,
                           "new_recipients": report["audience"]["eligible"], "fits": True}
        amended["warnings"] = [kept for kept in warnings if _code(kept) != "tier_overflow"]
        amended["estimate"] = pricing.sms_estimate(countries, message.parts, pricing.current_rate_card())
        amended["rendering"] = message.as_dict()
        amended["outcome"] = "block" if blocking else ("warn" if amended["warnings"] else "pass")
    return amended
