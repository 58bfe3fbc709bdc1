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
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from babel.numbers import get_currency_precision
from flask_babel import gettext as _

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


class RateCardError(DomainError):
    """The card cannot be used; ``errors`` are sentences naming the row or field."""


@dataclass(frozen=True)
class RateCard:
    """Prices per delivered message by country (ISO code or "other") and category, in ``currency``."""

    currency: str
    prices: Mapping[str, Mapping[str, Decimal]]
    free_per_month: int = 0
    customised: bool = field(default=False, compare=False)

    def price(self, country: str | None, category: str) -> Decimal:
        """The price of one delivered message to ``country`` in ``category``."""
        row = self.prices.get((country or "").upper()) or self.prices[OTHER]
        return row[category]

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
        }

    def to_csv(self) -> str:
        """The card as the CSV the data file uses."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["country", "currency", *CATEGORIES])
        for country, row in self.prices.items():
            writer.writerow([country, self.currency, *(str(row[category]) for category in CATEGORIES)])
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
            code = country if country == OTHER else (country.upper() if isinstance(country, str) else "")
            if code != OTHER and not (len(code) == 2 and code.isascii() and code.isalpha()):
                errors.append(_("Prices: %(country)s is not a two-letter country code or “other”.", country=country))
                continue
            parsed = _prices_row(code, row, errors)
            if parsed is not None:
                prices[code] = parsed
        if raw_prices and OTHER not in prices and not errors:
            errors.append(_("Prices: the card needs an “other” row for the countries it does not list."))
        if errors:
            raise RateCardError(errors)
        return cls(currency=currency, prices=dict(sorted(prices.items(), key=lambda item: (item[0] == OTHER, item[0]))),
                   free_per_month=free)

    @classmethod
    def from_csv(cls, text: str, free_per_month: int = 0) -> RateCard:
        """A card from CSV with columns country, currency, marketing, utility, authentication."""
        reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
        wanted = {"country", "currency", *CATEGORIES}
        if reader.fieldnames is None or not wanted <= {name.strip() for name in reader.fieldnames}:
            raise RateCardError(
                [_("The rate card file needs the columns country, currency, marketing, utility and authentication.")]
            )
        currencies: set[str] = set()
        prices: dict[str, dict[str, str]] = {}
        for row in reader:
            row = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
            if not row.get("country"):
                continue
            currencies.add(row["currency"].upper())
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
            {"currency": next(iter(currencies), ""), "free_per_month": free_per_month, "prices": prices}
        )


def _prices_row(country: str, row: Any, errors: list[str]) -> dict[str, Decimal] | None:
    if not isinstance(row, Mapping):
        errors.append(_("Prices for %(country)s: give a price per category.", country=country))
        return None
    parsed: dict[str, Decimal] = {}
    for category in CATEGORIES:
        try:
            price = Decimal(str(row.get(category, "")).strip().replace(",", "."))
        except InvalidOperation:
            price = Decimal(-1)
        if not price.is_finite() or price < 0 or price > MAX_PRICE:
            errors.append(_("Prices for %(country)s: the %(category)s price must be a number such as 0.0802.",
                            country=country, category=category))
            return None
        parsed[category] = price
    return parsed


def default_rate_card() -> RateCard:
    """The card shipped in ``data/rate_card.csv``."""
    return RateCard.from_csv(RATE_CARD_PATH.read_text(encoding="utf-8"))


def current_rate_card() -> RateCard:
    """The card in force: the admin's, else the shipped one."""
    row = db.session.get(ComplianceSetting, SETTING_KEY)
    if row is None:
        return default_rate_card()
    card = RateCard.from_dict(row.value)
    return RateCard(card.currency, card.prices, card.free_per_month, customised=True)


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
