"""The channel rule: may a message of this category reach a recipient in this country through this channel?

Russia restricts access to some messengers (WhatsApp was removed from the national domain system on
2026-02-11, Telegram has been slowed since 2026-02-10), and the FAS said in March 2026 that advertising
on resources whose access is restricted there shows signs of violating art. 5 part 10.7 of the
Advertising Law (38-FZ), for which the advertiser and the distributor are both liable. Since 2025-06-01
banks, microfinance companies, state companies and telecom operators may not use foreign messengers
with their clients at all (41-FZ). MAX (VK's national messenger) and SMS are lawful. The facts change,
so which channels count as restricted is a setting (``ChannelRules``), as is what restricted marketing
gets: a warning a reviewer acknowledges in writing, or a block. See docs/compliance.md.

``judge`` is pure: a channel family, the recipient's country, the category and the rules in, a
``Verdict`` out. Its sentences are ``compliance.sentences.Sentence``s, so a stored report can word
them again in its reader's language.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from compliance.sending import CATEGORIES
from compliance.sentences import Sentence
from compliance.verdict import Outcome, Verdict

RULE = "channel"
RUSSIA = "RU"
# The channel families a campaign can go through (a WhatsApp sender of any provider is "whatsapp").
CHANNELS = ("whatsapp", "telegram", "max", "sms")
CHANNEL_NAMES = {"whatsapp": "WhatsApp", "telegram": "Telegram", "max": "MAX", "sms": "SMS"}
# Foreign messengers in the sense of 41-FZ: MAX (VK) is national and SMS is an operator's service.
FOREIGN_MESSENGERS = ("whatsapp", "telegram")


class Mode(str, enum.Enum):
    """What marketing to recipients in Russia through a restricted channel gets."""

    WARNING = "warning"  # a reviewer must acknowledge it in writing to approve; it is sent
    BLOCK = "block"  # it is not sent: a blocking preflight error, and skipped at send time


MODE_LABELS = {
    Mode.WARNING: _l("Warning: a reviewer must acknowledge it in writing to approve"),
    Mode.BLOCK: _l("Block: such messages are not sent"),
}

SENTENCES = {
    "covered_41fz": _l(
        "Since 2025-06-01 an organisation covered by 41-FZ (a bank, a microfinance company, a state company or a "
        "telecom operator) may not write to its clients in Russia through a foreign messenger such as "
        "%(channel)s, whatever the message; use MAX or SMS."),
    "restricted_block": _l(
        "Access to %(channel)s is restricted in Russia, and the FAS said in March 2026 that advertising there shows "
        "signs of violating art. 5 part 10.7 of 38-FZ (the advertiser and the distributor are both liable); this "
        "workspace blocks such marketing. Use MAX or SMS for recipients in Russia."),
    "restricted_warning": _l(
        "Access to %(channel)s is restricted in Russia, and the FAS said in March 2026 that advertising there shows "
        "signs of violating art. 5 part 10.7 of 38-FZ (the advertiser and the distributor are both liable); a "
        "reviewer must acknowledge this in writing to approve. MAX and SMS are lawful."),
}


@dataclass(frozen=True)
class ChannelRules:
    """The workspace's settings for the rule, as an admin keeps them (the ``channels`` section)."""

    restricted_channels: tuple[str, ...] = ("whatsapp", "telegram")
    marketing_mode: Mode = Mode.WARNING
    covered_by_41fz: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChannelRules:
        """Rules from JSON-like data (as ``as_dict`` writes it); missing keys take the defaults.

        Raises ``ValueError`` with a sentence naming the offending setting.
        """
        if not isinstance(data, Mapping):
            raise ValueError(_("The channel rule settings must be a set of named settings."))
        unknown = sorted(set(data) - {"restricted_channels", "marketing_mode", "covered_by_41fz"})
        if unknown:
            raise ValueError(_("Unknown channel rule setting: %(name)s.", name=", ".join(unknown)))
        values: dict[str, Any] = {}
        if "restricted_channels" in data:
            channels = data["restricted_channels"]
            if not isinstance(channels, (list, tuple)) or not all(item in CHANNELS for item in channels):
                raise ValueError(_("The restricted channels must be a list of channels (whatsapp, telegram, max, "
                                   "sms)."))
            values["restricted_channels"] = tuple(channel for channel in CHANNELS if channel in channels)
        if "marketing_mode" in data:
            try:
                values["marketing_mode"] = Mode(data["marketing_mode"])
            except ValueError:
                raise ValueError(_("The mode for restricted channels must be “warning” or “block”.")) from None
        if "covered_by_41fz" in data:
            if not isinstance(data["covered_by_41fz"], bool):
                raise ValueError(_("Whether the workspace is covered by 41-FZ must be true or false."))
            values["covered_by_41fz"] = data["covered_by_41fz"]
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        """The rules as JSON-ready data that ``from_dict`` reads back unchanged."""
        return {"restricted_channels": list(self.restricted_channels), "marketing_mode": self.marketing_mode.value,
                "covered_by_41fz": self.covered_by_41fz}


def country_of(phone: str | None, country: str | None) -> str:
    """The recipient's country (ISO 3166-1 alpha-2, "" when unknown): the contact's own, which the importer
    takes from the number's country code, else a +7 number outside Kazakhstan's ranges (+7 6…, +7 7…) is
    Russia's. ``campaigns.channel_reach`` says the same in SQL."""
    if country:
        return country.upper()
    if phone and phone.startswith("+7") and phone[2:3] not in ("", "6", "7"):
        return RUSSIA
    return ""


def judge(channel: str, country: str, category: str, rules: ChannelRules) -> Verdict:
    """May a ``category`` message go to a recipient in ``country`` through ``channel`` (a family of
    ``CHANNELS``)? PASS, WARN (restricted marketing in warning mode) or BLOCK."""
    if channel not in CHANNELS:
        raise ValueError(f"Unknown channel {channel!r}; expected one of {', '.join(CHANNELS)}.")
    if category not in CATEGORIES:
        raise ValueError(f"Unknown message category {category!r}; expected one of {', '.join(CATEGORIES)}.")
    if country != RUSSIA:
        return Verdict(RULE, Outcome.PASS, "")
    name = CHANNEL_NAMES[channel]
    if rules.covered_by_41fz and channel in FOREIGN_MESSENGERS:
        return Verdict(RULE, Outcome.BLOCK, Sentence(SENTENCES, "covered_41fz", channel=name),
                       {"channel": channel, "law": "41-FZ"})
    if category == "marketing" and channel in rules.restricted_channels:
        if rules.marketing_mode is Mode.BLOCK:
            return Verdict(RULE, Outcome.BLOCK, Sentence(SENTENCES, "restricted_block", channel=name),
                           {"channel": channel, "law": "38-FZ art. 5 part 10.7"})
        return Verdict(RULE, Outcome.WARN, Sentence(SENTENCES, "restricted_warning", channel=name),
                       {"channel": channel, "law": "38-FZ art. 5 part 10.7"})
    return Verdict(RULE, Outcome.PASS, "")
