"""The rate card and the cost estimate: the shipped card, rounding to minor units, the "other" row,
the monthly free allowance, and an admin's card stored and used by the preflight."""

from __future__ import annotations

from decimal import Decimal

import pytest

from campaigns import preflight, pricing
from campaigns.pricing import RateCard, RateCardError
from extensions import db
from tests.campaign_world import add_contact, make_world
from tests.records import audit_events

CARD = RateCard(
    "USD",
    {
        "RU": {"marketing": Decimal("0.0802"), "utility": Decimal("0.04"), "authentication": Decimal("0.04")},
        "other": {"marketing": Decimal("0.0604"), "utility": Decimal("0.0077"), "authentication": Decimal("0.0171")},
    },
)


def test_the_shipped_card_prices_every_listed_country_and_the_rest():
    card = pricing.default_rate_card()
    assert card.currency == "USD" and card.free_per_month == 0
    assert set(card.prices) == {"RU", "KZ", "BY", "UZ", "DE", "GB", "US", "IN", "BR", "other"}
    assert card.price("ru", "marketing") == Decimal("0.0802")
    assert card.price("FR", "utility") == card.prices["other"]["utility"]
    assert RateCard.from_csv(card.to_csv()) == card


def test_the_estimate_by_country_rounds_half_up_to_minor_units():
    estimate = pricing.estimate({"RU": 1000, "FR": 3, None: 1}, "marketing", CARD)
    assert estimate["messages"] == 1004 and estimate["currency"] == "USD"
    assert estimate["by_country"][0] == {"country": "RU", "priced_as": "RU", "messages": 1000, "free": 0,
                                         "price": "0.0802", "cost": "80.20", "cost_minor": 8020}
    assert estimate["by_country"][1]["priced_as"] == "other" and estimate["by_country"][1]["cost"] == "0.18"
    # 80.2 + 0.1812 + 0.0604 = 80.4416 → 80.44
    assert (estimate["total"], estimate["total_minor"]) == ("80.44", 8044)


def test_the_free_allowance_goes_to_the_cheapest_messages_first():
    card = RateCard(CARD.currency, CARD.prices, free_per_month=1000)
    estimate = pricing.estimate({"RU": 1000, "FR": 100}, "marketing", card, used_this_month=400)
    rows = {row["country"]: row for row in estimate["by_country"]}
    assert rows["FR"]["free"] == 100 and rows["RU"]["free"] == 500
    assert estimate["free_messages"] == 600 and estimate["total"] == "40.10"


def test_rub_has_kopecks():
    card = RateCard.from_dict(
        {"currency": "RUB", "prices": {"other": {"marketing": "6.5", "utility": "1", "authentication": "1,5"}}}
    )
    assert pricing.estimate({"RU": 3}, "authentication", card)["total_minor"] == 450


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"currency": "XYZ", "prices": {"other": {"marketing": 1, "utility": 1, "authentication": 1}}}, "Currency:"),
        ({"currency": "USD", "prices": {"RU": {"marketing": 1, "utility": 1, "authentication": 1}}}, "“other” row"),
        (
            {"currency": "USD", "prices": {"RUS": {"marketing": 1, "utility": 1, "authentication": 1}}},
            "not a two-letter",
        ),
        (
            {"currency": "USD", "prices": {"other": {"marketing": "-1", "utility": 1, "authentication": 1}}},
            "marketing price",
        ),
        (
            {
                "currency": "USD",
                "free_per_month": -5,
                "prices": {"other": {"marketing": 1, "utility": 1, "authentication": 1}},
            },
            "Free allowance",
        ),
    ],
)
def test_a_wrong_card_is_refused_with_a_sentence_naming_the_field(data, fragment):
    with pytest.raises(RateCardError) as caught:
        RateCard.from_dict(data)
    assert any(fragment in error for error in caught.value.errors)


def test_a_file_must_use_one_currency():
    text = "country,currency,marketing,utility,authentication\nRU,USD,1,1,1\nother,EUR,1,1,1\n"
    with pytest.raises(RateCardError, match="mixes currencies"):
        RateCard.from_csv(text)


def test_an_admins_card_is_stored_used_and_reset(app, make_user):
    world = make_world(make_user)
    add_contact("+79030000001")
    admin = make_user("admin")
    card = RateCard.from_dict({"currency": "RUB", "free_per_month": 0,
                               "prices": {"RU": {"marketing": "7.25", "utility": "2", "authentication": "2"},
                                          "other": {"marketing": "9", "utility": "2", "authentication": "2"}}})
    pricing.save_rate_card(card, admin)
    db.session.commit()
    current = pricing.current_rate_card()
    assert current.customised and current.currency == "RUB"
    assert audit_events("pricing.rate_card_changed")[0].actor_id == admin.id
    estimate = preflight.run(world.campaign())["estimate"]
    assert (estimate["currency"], estimate["total"], estimate["total_minor"], estimate["customised_card"]) == (
        "RUB",
        "7.25",
        725,
        True,
    )
    pricing.reset_rate_card(admin)
    db.session.commit()
    assert not pricing.current_rate_card().customised and audit_events("pricing.rate_card_reset")
