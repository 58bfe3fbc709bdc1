"""Where a campaign's recipients may lawfully be reached: the channel rule (``compliance.channel_rule``)
applied to a whole segment, for each channel, in one grouped statement.

A channel reaches a contact when it has the means: WhatsApp and SMS a valid number, MAX and Telegram an
active address on a bot of that channel (``audience.models.ContactAddress``). Of those, the rule may
warn about some and block others, by the recipient's country and the campaign's category. The contacts
are grouped in SQL by (country, has a number, has a MAX address, has a Telegram address), so a million
contacts come back as a few rows and the rule judges each row once.

The campaign's own channel is its sender's (``family_of``); a cascade's are every step's, each judged, and the
worst verdict stands for the campaign (every warning to acknowledge, every block). Its verdict is what the
preflight shows (a warning the reviewer must acknowledge, or a blocking error), what an approval checks again (the
settings may have changed since the submission), and the gate applies per message at send time.
The suggestion is the channel that reaches most recipients without a block or a warning.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select

from audience.models import AddressChannel, AddressStatus, Contact, ContactAddress, Segment
from audience.segments import SegmentError, parse_definition, segment_filter
from campaigns.cascade import steps
from campaigns.models import Campaign, Sender, Template
from compliance.channel_rule import CHANNEL_NAMES, CHANNELS, RUSSIA, ChannelRules, judge
from compliance.numbers import not_e164
from compliance.policy import current_policy
from compliance.sentences import Sentence
from compliance.verdict import Outcome
from extensions import db

# A sender's provider → the channel family the rule knows (the sandbox speaks WhatsApp's Cloud API).
FAMILIES = {"sandbox": "whatsapp", "whatsapp_cloud": "whatsapp", "max": "max", "telegram": "telegram",
            "smsc": "sms"}
# On a tie the campaign's own channel is suggested, then the national channels before the foreign ones.
_PREFERENCE = ("max", "sms", "telegram", "whatsapp")

# The campaign-level sentences (stored in the preflight report by code, see ``compliance.sentences``).
SENTENCES = {
    "channel_warning": _l(
        "%(count)s recipients in Russia would get this marketing message through %(channel)s, whose access is "
        "restricted there: the FAS said in March 2026 that advertising on such resources shows signs of violating "
        "art. 5 part 10.7 of 38-FZ, for which the advertiser and the distributor are both liable. The reviewer must "
        "acknowledge this in writing to approve; MAX and SMS are lawful."),
    "channel_block": _l(
        "%(count)s recipients in Russia cannot get this marketing message through %(channel)s: its access is "
        "restricted there, advertising on it shows signs of violating art. 5 part 10.7 of 38-FZ (the FAS, March "
        "2026), and this workspace blocks it. Send it through MAX or SMS, or leave recipients in Russia out of "
        "the segment."),
    "channel_block_41fz": _l(
        "%(count)s recipients in Russia cannot be written to through %(channel)s: since 2025-06-01 an organisation "
        "covered by 41-FZ may not use a foreign messenger with its clients, whatever the message. Send it through "
        "MAX or SMS, or leave recipients in Russia out of the segment."),
}


@dataclass
class Reach:
    """One channel's reach in a segment: contacts it has the means to reach, and how the rule judges them."""

    reachable: int = 0
    warned: int = 0
    blocked: int = 0

    @property
    def lawful(self) -> int:
        """Reachable and not blocked by the rule (a warned recipient may still be sent to, once acknowledged)."""
        return self.reachable - self.blocked

    @property
    def clean(self) -> int:
        """Reachable with neither a block nor a warning."""
        return self.reachable - self.blocked - self.warned

    def as_dict(self) -> dict[str, int]:
        return {"reachable": self.reachable, "lawful": self.lawful, "warned": self.warned, "blocked": self.blocked,
                "clean": self.clean}


@dataclass
class ChannelReport:
    """The segment's reach per channel, the campaign's own channel and its verdict, and the suggestion."""

    channel: str
    category: str
    by_channel: dict[str, Reach]
    outcome: Outcome = Outcome.PASS
    sentences: list[Sentence] = field(default_factory=list)  # the own channel's warning or block, with counts

    @property
    def own(self) -> Reach:
        return self.by_channel[self.channel]

    @property
    def suggestion(self) -> str | None:
        """The channel that reaches most recipients lawfully and without a warning (None: nobody at all)."""
        order = (self.channel, *(channel for channel in _PREFERENCE if channel != self.channel))
        best = max(order, key=lambda channel: (self.by_channel[channel].clean, self.by_channel[channel].lawful,
                                               -order.index(channel)))
        return best if self.by_channel[best].lawful else None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the stored preflight report (sentences kept as codes)."""
        return {"channel": self.channel, "category": self.category, "outcome": self.outcome.value,
                "by_channel": {channel: reach.as_dict() for channel, reach in self.by_channel.items()},
                "suggestion": self.suggestion, "sentences": [sentence.stored() for sentence in self.sentences]}


def family_of(sender_channel: str) -> str:
    """The channel family of a sender's provider (``Sender.channel``)."""
    return FAMILIES.get(sender_channel, "whatsapp")


def country_sql() -> ColumnElement[str]:
    """``compliance.channel_rule.country_of`` in SQL: the contact's country, else Russia for a +7 number
    outside Kazakhstan's ranges."""
    russian_number = and_(Contact.phone.like("+7%"), func.substr(Contact.phone, 3, 1).not_in(("6", "7")),
                          func.length(Contact.phone) > 2)
    return case((and_(Contact.country.is_not(None), Contact.country != ""), func.upper(Contact.country)),
                (russian_number, literal(RUSSIA)), else_=literal(""))


def _active_address(channel: AddressChannel) -> ColumnElement[bool]:
    return exists().where(ContactAddress.contact_id == Contact.id, ContactAddress.channel == channel,
                          ContactAddress.status == AddressStatus.ACTIVE)


def reach(where: ColumnElement[bool], channel: str, category: str, rules: ChannelRules) -> ChannelReport:
    """Each channel's reach among the contacts matching ``where`` (a segment's condition on ``Contact``),
    judged by ``rules`` for ``category``, and the verdict for ``channel`` (the campaign's own)."""
    has_phone = case((or_(Contact.phone.is_(None), not_e164(Contact.phone)), 0), else_=1)
    contacts = (select(country_sql().label("country"), has_phone.label("phone"),
                       case((_active_address(AddressChannel.MAX), 1), else_=0).label("max"),
                       case((_active_address(AddressChannel.TELEGRAM), 1), else_=0).label("telegram"))
                .where(where).subquery("reach_contacts"))
    columns = [contacts.c.country, contacts.c.phone, contacts.c.max, contacts.c.telegram]
    by_channel = {name: Reach() for name in CHANNELS}
    own: Counter[str] = Counter()  # the own channel's warned and blocked recipients, by the law that decides
    for country, phone, on_max, on_telegram, count in db.session.execute(
            select(*columns, func.count()).group_by(*columns)):
        means = {"whatsapp": phone, "sms": phone, "max": on_max, "telegram": on_telegram}
        for name, reached in means.items():
            if not reached:
                continue
            verdict = judge(name, country or "", category, rules)
            tally = by_channel[name]
            tally.reachable += count
            if verdict.outcome is Outcome.BLOCK:
                tally.blocked += count
            elif verdict.outcome is Outcome.WARN:
                tally.warned += count
            if name == channel and verdict.outcome is not Outcome.PASS:
                own[_sentence_code(verdict.outcome, verdict.details.get("law", ""))] += count
    report = ChannelReport(channel, category, by_channel)
    report.sentences = [Sentence(SENTENCES, code, count=count, channel=CHANNEL_NAMES[channel])
                        for code, count in sorted(own.items())]
    report.outcome = (Outcome.BLOCK if by_channel[channel].blocked else
                      Outcome.WARN if by_channel[channel].warned else Outcome.PASS)
    return report


def _sentence_code(outcome: Outcome, law: str) -> str:
    if outcome is Outcome.WARN:
        return "channel_warning"
    return "channel_block_41fz" if law == "41-FZ" else "channel_block"


def campaign_reach(campaign: Campaign, rules: ChannelRules | None = None) -> ChannelReport:
    """The channel report of ``campaign``'s segment now, under the policy in force (or ``rules``).

    A segment whose definition no longer reads reaches nobody (the preflight reports why)."""
    sender = db.session.get(Sender, campaign.sender_id)
    template = db.session.get(Template, campaign.template_id)
    segment = db.session.get(Segment, campaign.segment_id)
    try:
        where = segment_filter(parse_definition(segment.definition))
    except SegmentError:
        where = literal(False)
    rules = rules if rules is not None else current_policy().channels
    if not campaign.cascade:
        return reach(where, family_of(sender.channel), template.category.value, rules)
    # A cascade sends through every step's channel: each is judged, and the worst verdict is the campaign's.
    families = dict.fromkeys(family_of(found.channel) for step in steps(campaign)
                             if (found := db.session.get(Sender, step.sender_id)) is not None)
    reports = [reach(where, family, template.category.value, rules) for family in families]
    severity = {Outcome.PASS: 0, Outcome.WARN: 1, Outcome.BLOCK: 2}
    worst = max(reports, key=lambda report: severity[report.outcome])  # the first step's among equals
    return ChannelReport(worst.channel, worst.category, worst.by_channel, worst.outcome,
                         [sentence for report in reports for sentence in report.sentences])
