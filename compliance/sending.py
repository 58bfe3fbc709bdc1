"""The configurable rules for sending: local send windows, frequency caps and WhatsApp messaging tiers.

Quiet hours and caps apply to marketing only by default. Utility and authentication messages (an order
update, a delivery slot, a login code) answer something the customer did and are useless if held back
until morning, so neither the window nor the cap holds them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

CATEGORIES = ("marketing", "utility", "authentication")
_HH_MM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_COUNTRY = re.compile(r"[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Allowed local hours: from ``start`` (inclusive) to ``end`` (exclusive), within one day."""

    # 09:00-21:00 is a courtesy default, not a legal limit; countries with a legal one get their own.
    start: time = time(9, 0)
    end: time = time(21, 0)

    def __post_init__(self) -> None:
        # Windows across midnight are refused: quiet hours are the night, so an allowed span never
        # needs to cross it, and one-day windows keep the time-zone arithmetic simple.
        if not self.start < self.end:
            raise ValueError(_("A send window must start before it ends."))

    def contains(self, moment: time) -> bool:
        """Whether the local wall-clock time ``moment`` is inside the window."""
        return self.start <= moment < self.end

    def as_dict(self) -> dict[str, str]:
        """The window as ``{"start": "HH:MM", "end": "HH:MM"}``."""
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


def _default_country_windows() -> dict[str, SendWindow]:
    # US: the TCPA rules forbid telephone solicitations before 8 a.m. and after 9 p.m. at the called
    # party's location (47 CFR § 64.1200(c)(1)). Some states are stricter (Florida and Oklahoma end at
    # 8 p.m.); narrow the window here when sending there.
    return {"US": SendWindow(time(8, 0), time(21, 0))}


@dataclass(frozen=True)
class SendingRules:
    """Send windows and frequency caps, as configured for the workspace.

    A cap of ``None`` means no cap. Zero is refused rather than read as "no cap" or "never": a marketer
    who types 0 almost certainly means one of the two, and guessing wrong either floods people or
    silently drops every message.
    """

    window: SendWindow = field(default_factory=SendWindow)
    country_windows: Mapping[str, SendWindow] = field(default_factory=_default_country_windows, hash=False)
    cap_per_day: int | None = 1
    cap_per_week: int | None = 3
    capped_categories: tuple[str, ...] = ("marketing",)
    windowed_categories: tuple[str, ...] = ("marketing",)

    def window_for(self, country: str) -> SendWindow:
        """The send window for recipients in ``country`` (ISO 3166-1 alpha-2; unknown → the default)."""
        return self.country_windows.get(country.upper(), self.window) if country else self.window

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SendingRules:
        """Rules from JSON-like data (as ``as_dict`` writes it); missing keys take the defaults.

        Raises ``ValueError`` with a sentence naming the offending field.
        """
        if not isinstance(data, Mapping):
            raise ValueError(_("The sending rules must be a set of named settings."))
        unknown = sorted(set(data) - {setting.name for setting in fields(cls)})
        if unknown:
            raise ValueError(_("Unknown sending rule setting: %(name)s.", name=", ".join(unknown)))
        values: dict[str, Any] = {}
        if "window" in data:
            values["window"] = _parse_window(data["window"])
        if "country_windows" in data:
            values["country_windows"] = _parse_country_windows(data["country_windows"])
        caps = {
            "cap_per_day": _("The daily cap must be a whole number of at least 1, or empty for no cap."),
            "cap_per_week": _("The weekly cap must be a whole number of at least 1, or empty for no cap."),
        }
        for name, message in caps.items():
            if name in data:
                values[name] = _parse_cap(data[name], message)
        categories = {
            "capped_categories": _(
                "The capped categories must be a list of message categories (marketing, utility, authentication)."
            ),
            "windowed_categories": _(
                "The categories with quiet hours must be a list of message categories "
                "(marketing, utility, authentication)."
            ),
        }
        for name, message in categories.items():
            if name in data:
                values[name] = _parse_categories(data[name], message)
        rules = cls(**values)
        if rules.cap_per_day is not None and rules.cap_per_week is not None and rules.cap_per_week < rules.cap_per_day:
            raise ValueError(_("The weekly cap cannot be lower than the daily cap."))
        return rules

    def as_dict(self) -> dict[str, Any]:
        """The rules as JSON-ready data that ``from_dict`` reads back unchanged."""
        return {
            "window": self.window.as_dict(),
            "country_windows": {country: window.as_dict() for country, window in sorted(self.country_windows.items())},
            "cap_per_day": self.cap_per_day,
            "cap_per_week": self.cap_per_week,
            "capped_categories": list(self.capped_categories),
            "windowed_categories": list(self.windowed_categories),
        }


def parse_time(value: Any) -> time | None:
    """A time of day written HH:MM (``09:00``, ``21:30``), else None."""
    match = _HH_MM.fullmatch(value) if isinstance(value, str) else None
    return time(int(match[1]), int(match[2])) if match else None


def _parse_window(value: Any, country: str | None = None) -> SendWindow:
    # Whole sentences per case rather than one sentence with the window's name slotted in: Russian
    # declines that name differently in each sentence.
    if country is None:
        shape = _("Give the default send window as a start and an end time.")
        format_ = _("The times of the default send window must be written as HH:MM, for example 09:00.")
        order = _("The default send window must start before it ends.")
    else:
        shape = _("Give the send window for %(country)s as a start and an end time.", country=country)
        format_ = _(
            "The times of the send window for %(country)s must be written as HH:MM, for example 08:00.", country=country
        )
        order = _("The send window for %(country)s must start before it ends.", country=country)
    if not isinstance(value, Mapping) or set(value) != {"start", "end"}:
        raise ValueError(shape)
    start, end = parse_time(value["start"]), parse_time(value["end"])
    if start is None or end is None:
        raise ValueError(format_)
    if not start < end:
        raise ValueError(order)
    return SendWindow(start, end)


def _parse_country_windows(value: Any) -> dict[str, SendWindow]:
    if not isinstance(value, Mapping):
        raise ValueError(_("The country send windows must map two-letter country codes to windows."))
    windows = {}
    for country, window in value.items():
        code = country.upper() if isinstance(country, str) else ""
        if not _COUNTRY.fullmatch(code):
            raise ValueError(
                _("%(code)s is not a two-letter country code (ISO 3166-1), such as US or RU.", code=country)
            )
        windows[code] = _parse_window(window, code)
    return windows


def _parse_cap(value: Any, message: str) -> int | None:
    if value is None:
        return None
    # bool is an int subclass; "true" as a cap is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(message)
    return value


def _parse_categories(value: Any, message: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(item in CATEGORIES for item in value):
        raise ValueError(message)
    return tuple(dict.fromkeys(value))


# WhatsApp's messaging limits: how many unique recipients a business portfolio may start conversations
# with (messages outside a customer service window) in a moving 24 hours. A new portfolio has 250;
# Meta raises it to 2,000 on a scaling path and then automatically with good quality.
TIER_LIMITS: dict[str, int | None] = {
    "TIER_50": 50,
    "TIER_250": 250,
    "TIER_1K": 1_000,  # what the Cloud API's messaging_limit_tier still reports for many numbers
    "TIER_2K": 2_000,
    "TIER_10K": 10_000,
    "TIER_100K": 100_000,
    "TIER_UNLIMITED": None,
}
# The tiers in words, for pages (web/labels.py): what each allows.
TIER_LABELS = {
    "TIER_50": _l("50 new recipients per 24 hours"),
    "TIER_250": _l("250 new recipients per 24 hours"),
    "TIER_1K": _l("1,000 new recipients per 24 hours"),
    "TIER_2K": _l("2,000 new recipients per 24 hours"),
    "TIER_10K": _l("10,000 new recipients per 24 hours"),
    "TIER_100K": _l("100,000 new recipients per 24 hours"),
    "TIER_UNLIMITED": _l("Unlimited new recipients"),
}


def tier_limit(tier: str) -> int | None:
    """Unique recipients per rolling 24 hours that ``tier`` allows (``None`` = unlimited)."""
    try:
        return TIER_LIMITS[tier]
    except KeyError:
        raise ValueError(_("Unknown WhatsApp messaging tier: %(tier)s.", tier=tier)) from None


def tier_headroom(tier: str, contacted_last_24h: int) -> int | None:
    """How many new unique recipients the sender may still message now (``None`` = unlimited)."""
    limit = tier_limit(tier)
    return None if limit is None else max(limit - contacted_last_24h, 0)
