"""What a campaign will cost: the rate card and the estimate.

Since July 2025 Meta charges per delivered template message, by the recipient's country (its calling
code) and the template's category. The card ships as ``data/rate_card.csv`` (one row per country,
one price column per category, in the card's currency; "other" prices every country not listed) and
an admin may replace it. The edited card is stored whole, as JSON, in ``compliance_settings`` under
the key ``rate_card`` — the same row-per-section store ``compliance.policy`` uses for the admin's
settings — so no table of our own is needed and every process sees an edit at once. A monthly free
allowance (messages not charged per calendar month, 0 by default) is part of the card.

Prices are ``Decimal`` (Meta's are fractions of a cent); totals are rounded half-up to the
currency's minor unit and stored as integer minor units, never floats.

**SMS** is priced on the same card, in its currency, per part (what a gateway bills; ``channels.sms.segments``
counts them): the ``sms`` column gives a country's price, and a row with an ``operator`` (as ``phonenumbers``
names the number's mobile operator: ``MegaFon``, ``Beeline``, ``T2``, ``MTS``…) gives that operator's own price
in the country, SMS only (its WhatsApp columns stay empty). A message to a country without a price takes the
"other" row's; a card with no SMS price there leaves SMS unpriced (None), never a guess. ``sms_cost_minor`` is the
price of one text; ``sms_estimate`` of many recipients.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

import phonenumbers
from babel.numbers import get_currency_precision
from flask_babel import gettext as _
from phonenumbers import carrier

from channels.sms import segments
from compliance import audit
from compliance.models import ComplianceSetting
from compliance.sending import CATEGORIES
from dbtypes import utcnow
from domain_errors import DomainError
from extensions import db

RATE_CARD_PATH = Path(__file__).parent / "data" / "rate_card.csv"
SETTING_KEY = "rate_card"
OTHER = "other"
CURRENCIES = ("USD", "EUR", "RUB", "INR", "BRL", "GBP", "KZT")
MAX_PRICE = Decimal("100")
ANY_OPERATOR = ""  # the key of a country's SMS price for every operator without its own
COLUMNS = ("country", "operator", "currency", *CATEGORIES, "sms")


class RateCardError(DomainError):
    """The card cannot be used; ``errors`` are sentences naming the row or field."""


@dataclass(frozen=True)
class RateCard:
    """Prices per delivered message by country (ISO code or "other") and category, in ``currency``."""

    currency: str
    prices: Mapping[str, Mapping[str, Decimal]]
    free_per_month: int = 0
    customised: bool = field(default=False, compare=False)
    # SMS: the price of one part by country (ISO code or "other") and operator (``ANY_OPERATOR`` for the rest).
    sms: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)

    def price(self, country: str | None, category: str) -> Decimal:
        """The price of one delivered message to ``country`` in ``category``."""
        row = self.prices.get((country or "").upper()) or self.prices[OTHER]
        return row[category]

    def sms_price(self, country: str | None, operator: str | None = None) -> Decimal | None:
        """The price of one SMS part to ``country`` (and its mobile ``operator``, when the card prices it on its
        own); the "other" row's for a country the card does not list; None when the card prices no SMS there."""
        row = self.sms.get((country or "").upper()) or {}
        wanted = operator_key(operator)
        own = next((price for name, price in row.items() if name and operator_key(name) == wanted), None)
        if wanted and own is not None:
            return own
        if ANY_OPERATOR in row:
            return row[ANY_OPERATOR]
        return self.sms.get(OTHER, {}).get(ANY_OPERATOR)

    @property
    def exponent(self) -> int:
        return get_currency_precision(self.currency)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready data that ``from_dict`` reads back unchanged (prices as decimal strings)."""
        return {
            "currency": self.currency,
            "free_per_month": self.free_per_month,
            "prices": {country: {category: str(price) for category, price in row.items()}
                       for country, row in self.prices.items()},
            "sms": {country: {operator: str(price) for operator, price in row.items()}
                    for country, row in self.sms.items()},
        }

    def to_csv(self) -> str:
        """The card as the CSV the data file uses."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        for country, row in self.prices.items():
            sms = self.sms.get(country, {}).get(ANY_OPERATOR)
            writer.writerow([country, "", self.currency, *(str(row[category]) for category in CATEGORIES),
                             "" if sms is None else str(sms)])
        for country, row in self.sms.items():
            if country not in self.prices and ANY_OPERATOR in row:
                writer.writerow([country, "", self.currency, *("" for _ in CATEGORIES), str(row[ANY_OPERATOR])])
            for operator, price in row.items():
                if operator != ANY_OPERATOR:
                    writer.writerow([country, operator, self.currency, *("" for _ in CATEGORIES), str(price)])
        return out.getvalue()

    @classmethod
    def from_dict(cls, data: Any) -> RateCard:
        """A card from JSON-like data; ``RateCardError`` names every wrong field."""
        if not isinstance(data, Mapping):
            raise RateCardError([_("The rate card must be a set of named settings.")])
        errors: list[str] = []
        currency = data.get("currency")
        if currency not in CURRENCIES:
            errors.append(_("Currency: use one of %(currencies)s.", currencies=", ".join(CURRENCIES)))
        free = data.get("free_per_month", 0)
        if isinstance(free, bool) or not isinstance(free, int) or free < 0:
            errors.append(_("Free allowance: give a whole number of messages per month, 0 for none."))
        prices: dict[str, dict[str, Decimal]] = {}
        raw_prices = data.get("prices")
        if not isinstance(raw_prices, Mapping) or not raw_prices:
            errors.append(_("Prices: give a price per category for each country, and one for “other”."))
            raw_prices = {}
        for country, row in raw_prices.items():
            code = _country_code(country)
            if not code:
                errors.append(_("Prices: %(country)s is not a two-letter country code or “other”.", country=country))
                continue
            parsed = _prices_row(code, row, errors)
            if parsed is not None:
                prices[code] = parsed
        if raw_prices and OTHER not in prices and not errors:
            errors.append(_("Prices: the card needs an “other” row for the countries it does not list."))
        sms = _sms_prices(data.get("sms"), errors)
        if errors:
            raise RateCardError(errors)
        return cls(currency=currency, prices=dict(sorted(prices.items(), key=_other_last)), free_per_month=free,
                   sms=dict(sorted(sms.items(), key=_other_last)))

    @classmethod
    def from_csv(cls, text: str, free_per_month: int = 0) -> RateCard:
        """A card from CSV with columns country, currency, marketing, utility, authentication, and optionally sms
        (the price of an SMS part) and operator (a row of one operator's SMS price in the country)."""
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        wanted = {"country", "currency", *CATEGORIES}
        if reader.fieldnames is None or not wanted <= {name.strip() for name in reader.fieldnames}:
            raise RateCardError(
                [_("The rate card file needs the columns country, currency, marketing, utility and authentication.")]
            )
        currencies: set[str] = set()
        prices: dict[str, dict[str, str]] = {}
        sms: dict[str, dict[str, str]] = {}
        for row in reader:
            row = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
            if not row.get("country"):
                continue
            currencies.add(row["currency"].upper())
            operator = row.get("operator") or ANY_OPERATOR
            if row.get("sms"):
                sms.setdefault(row["country"], {})[operator] = row["sms"]
            # An operator's row prices its SMS only; so may a country's row with no WhatsApp prices.
            if operator == ANY_OPERATOR and (any(row.get(category) for category in CATEGORIES) or not row.get("sms")):
                prices[row["country"]] = {category: row[category] for category in CATEGORIES}
        if len(currencies) > 1:
            raise RateCardError(
                [
                    _(
                        "The rate card file mixes currencies (%(currencies)s); use one.",
                        currencies=", ".join(sorted(currencies)),
                    )
                ]
            )
        return cls.from_dict(
            {"currency": next(iter(currencies), ""), "free_per_month": free_per_month, "prices": prices, "sms": sms}
        )


def _prices_row(country: str, row: Any, errors: list[str]) -> dict[str, Decimal] | None:
    if not isinstance(row, Mapping):
        errors.append(_("Prices for %(country)s: give a price per category.", country=country))
        return None
    parsed: dict[str, Decimal] = {}
    for category in CATEGORIES:
        price = _price(row.get(category, ""))
        if price is None:
            errors.append(_("Prices for %(country)s: the %(category)s price must be a number such as 0.0802.",
                            country=country, category=category))
            return None
        parsed[category] = price
    return parsed


def _other_last(item: tuple[str, Any]) -> tuple[bool, str]:
    return item[0] == OTHER, item[0]


def _country_code(country: Any) -> str:
    """``country`` as the card keys it (an upper-case ISO code or "other"), "" when it is neither."""
    code = country if country == OTHER else (country.upper() if isinstance(country, str) else "")
    return code if code == OTHER or (len(code) == 2 and code.isascii() and code.isalpha()) else ""


def _price(value: Any) -> Decimal | None:
    """A price as written (a comma for the decimal point too), None when it is not one from 0 to ``MAX_PRICE``."""
    try:
        price = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        return None
    return price if price.is_finite() and 0 <= price <= MAX_PRICE else None


def _sms_prices(raw: Any, errors: list[str]) -> dict[str, dict[str, Decimal]]:
    """The card's SMS prices (``{country: {operator or "": price per part}}``); none given is none."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        errors.append(_("SMS prices: give a price per part for each country (and operator), such as 0.0560."))
        return {}
    parsed: dict[str, dict[str, Decimal]] = {}
    for country, row in raw.items():
        code = _country_code(country)
        if not code:
            errors.append(_("SMS prices: %(country)s is not a two-letter country code or “other”.", country=country))
            continue
        if not isinstance(row, Mapping):
            errors.append(_("SMS prices for %(country)s: give a price per part.", country=country))
            continue
        for operator, value in row.items():
            price = _price(value)
            name = operator.strip() if isinstance(operator, str) else None
            if price is None or name is None or len(name) > 64:
                errors.append(_("SMS prices for %(country)s: the price of a part must be a number such as 0.0560.",
                                country=country))
                continue
            parsed.setdefault(code, {})[name] = price
    return parsed


def operator_key(operator: str | None) -> str:
    """An operator's name as the card matches it: case and surrounding spaces aside."""
    return (operator or "").strip().casefold()


@lru_cache(maxsize=65536)
def operator_of(phone: str) -> str | None:
    """The mobile operator of an E.164 number as ``phonenumbers`` names it by its range ("MegaFon", "T2"), None
    when it cannot tell. By the range the number was issued from: a number moved to another operator keeps its
    range, so the price of an operator is an estimate too."""
    try:
        name = carrier.name_for_number(phonenumbers.parse(phone, None), "en")
    except phonenumbers.NumberParseException:
        return None
    return name or None


def sms_price(card: RateCard, country: str | None, operator: str | None = None) -> Decimal | None:
    """The price of one SMS part to ``country`` (and ``operator``) on ``card``; None when the card prices none."""
    return card.sms_price(country, operator)


def sms_cost_minor(country: str | None, text: str, card: RateCard | None = None, operator: str | None = None
                   ) -> int | None:
    """What one SMS of ``text`` to ``country`` costs: its parts (``channels.sms.segments``) times the card's price
    of a part there (``operator``'s own, when the card has one), rounded half-up to the card's minor units; None
    when the card prices no SMS to ``country``. ``card`` defaults to the one in force. What the cascade's
    analytics compare a cascade's cost with ("an SMS to everybody")."""
    card = card or current_rate_card()
    price = card.sms_price(country, operator)
    if price is None:
        return None
    cost = price * segments.parts(text)
    return int(cost.scaleb(card.exponent).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def sms_estimate(recipients_by_country: Mapping[str | None, int], parts: int, card: RateCard) -> dict[str, Any]:
    """The cost of an SMS of ``parts`` parts to ``recipients_by_country``, total and by country, shaped as
    ``estimate``'s (``category`` "sms"); ``priced`` False (and the unpriced countries' cost None) when the card has
    no SMS price for some of them. Countries' prices: an operator's own price counts when the message is sent."""
    unit = Decimal(1).scaleb(-card.exponent)
    total, priced, by_country = Decimal(0), True, []
    for country, count in sorted(recipients_by_country.items(), key=lambda item: (-item[1], item[0] or "")):
        if count <= 0:
            continue
        code = (country or "").upper()
        price = card.sms_price(code)
        listed = code if code in card.sms else OTHER
        if price is None:
            priced = False
            by_country.append({"country": code or None, "priced_as": None, "messages": count, "parts": parts,
                               "free": 0, "price": None, "cost": None, "cost_minor": None})
            continue
        cost = price * parts * count
        total += cost
        rounded = cost.quantize(unit, rounding=ROUND_HALF_UP)
        by_country.append({"country": code or None, "priced_as": listed, "messages": count, "parts": parts,
                           "free": 0, "price": str(price), "cost": str(rounded),
                           "cost_minor": int(rounded.scaleb(card.exponent))})
    total = total.quantize(unit, rounding=ROUND_HALF_UP)
    return {"currency": card.currency, "category": "sms", "parts": parts,
            "messages": sum(row["messages"] for row in by_country), "free_messages": 0, "total": str(total),
            "total_minor": int(total.scaleb(card.exponent)), "by_country": by_country, "priced": priced,
            "customised_card": card.customised}


def default_rate_card() -> RateCard:
    """The card shipped in ``data/rate_card.csv``."""
    return RateCard.from_csv(RATE_CARD_PATH.read_text(encoding="utf-8"))


def current_rate_card() -> RateCard:
    """The card in force: the admin's, else the shipped one."""
    row = db.session.get(ComplianceSetting, SETTING_KEY)
    if row is None:
        return default_rate_card()
    card = RateCard.from_dict(row.value)
    return RateCard(card.currency, card.prices, card.free_per_month, customised=True, sms=card.sms)


def save_rate_card(card: RateCard, actor: Any = None) -> RateCard:
    """Store ``card`` as the one in force (validated again on the way in)."""
    value = RateCard.from_dict(card.as_dict()).as_dict()
    row = db.session.get(ComplianceSetting, SETTING_KEY) or ComplianceSetting(key=SETTING_KEY)
    row.value, row.updated_at, row.updated_by_id = value, utcnow(), getattr(actor, "id", None)
    db.session.add(row)
    audit.record("pricing.rate_card_changed", actor=actor, details={"currency": value["currency"],
                                                                     "free_per_month": value["free_per_month"]})
    db.session.flush()
    return current_rate_card()


def reset_rate_card(actor: Any = None) -> None:
    """Go back to the shipped card."""
    row = db.session.get(ComplianceSetting, SETTING_KEY)
    if row is not None:
        db.session.delete(row)
        audit.record("pricing.rate_card_reset", actor=actor)
        db.session.flush()


def estimate(recipients_by_country: Mapping[str | None, int], category: str, card: RateCard,
             used_this_month: int = 0) -> dict[str, Any]:
    """The cost of messaging ``recipients_by_country`` in ``category``, total and by country.

    ``used_this_month`` messages already took part of the monthly free allowance; what is left is
    applied to the cheapest messages first, so the estimate errs on the high side. Amounts are
    decimal strings in the card's currency and integer minor units (``*_minor``).
    """
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}")
    unit = Decimal(1).scaleb(-card.exponent)
    rows = []
    for country, count in recipients_by_country.items():
        if count <= 0:
            continue
        code = (country or "").upper()
        listed = code if code in card.prices else OTHER
        rows.append(
            {"country": code or None, "priced_as": listed, "messages": count, "price": card.price(code, category)}
        )
    free_left = max(card.free_per_month - max(used_this_month, 0), 0)
    for row in sorted(rows, key=lambda item: (item["price"], item["country"] or "")):
        row["free"] = min(free_left, row["messages"])
        free_left -= row["free"]
    total = Decimal(0)
    by_country = []
    for row in sorted(rows, key=lambda item: (-item["messages"], item["country"] or "")):
        cost = row["price"] * (row["messages"] - row["free"])
        total += cost
        rounded = cost.quantize(unit, rounding=ROUND_HALF_UP)
        by_country.append({"country": row["country"], "priced_as": row["priced_as"], "messages": row["messages"],
                           "free": row["free"], "price": str(row["price"]), "cost": str(rounded),
                           "cost_minor": int(rounded.scaleb(card.exponent))})
    total = total.quantize(unit, rounding=ROUND_HALF_UP)
    return {
        "currency": card.currency,
        "category": category,
        "messages": sum(row["messages"] for row in rows),
        "free_messages": sum(row["free"] for row in rows),
        "total": str(total),
        "total_minor": int(total.scaleb(card.exponent)),
        "by_country": by_country,
        "customised_card": card.customised,
    }
