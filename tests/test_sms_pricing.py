"""SMS on the rate card (``campaigns.pricing``): a price per part by country and by operator, the shipped card's,
an admin's card with its SMS prices and one without; ``sms_cost_minor`` of a text; and the actual cost of a
delivered SMS — the parts of the row's own text times the price for its number — in process against the sandbox,
on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from audience.models import Segment
from campaigns import launch, pricing, senders
from campaigns.content import content_hash
from campaigns.feedback import statuses
from campaigns.feedback.routing import FeedbackContext
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus
from campaigns.pricing import RateCard, RateCardError
from channels.base import DeliveryStatus, StatusEvent
from channels.sandbox import defaults as sandbox_defaults
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import add_contact, add_template
from tests.test_dispatch import send_all, zone_at

WHATSAPP = {"marketing": "0.08", "utility": "0.04", "authentication": "0.04"}


def test_the_shipped_card_prices_an_sms_part_by_country_and_by_operator():
    card = pricing.default_rate_card()
    assert card.sms_price("ru") == Decimal("0.0560")
    assert card.sms_price("RU", "MegaFon") == card.sms_price("RU", " megafon ") == Decimal("0.0620")
    assert card.sms_price("RU", "Some MVNO") == Decimal("0.0560")  # an operator without its own price
    assert card.sms_price("FR") == card.sms_price(None) == card.sms["other"][""]
    assert card.sms_price("KZ", "MegaFon") == Decimal("0.0300")  # MegaFon's price is Russia's only
    assert RateCard.from_csv(card.to_csv()) == card
    assert pricing.operator_of("+79261234567") == "MegaFon" and pricing.operator_of("+7") is None


def test_an_sms_costs_its_parts_times_the_price_of_a_part():
    card = RateCard.from_dict({"currency": "RUB", "prices": {"other": WHATSAPP},
                               "sms": {"RU": {"": "3.50", "T2": "3.20"}, "other": {"": "6"}}})
    latin, cyrillic = "Sale today " * 16, "Скидка 20% " * 7  # 160 GSM-7 characters; 77 UCS-2: two parts
    assert pricing.sms_cost_minor("RU", latin[:160], card) == 350
    assert pricing.sms_cost_minor("RU", latin[:161], card) == 700
    assert pricing.sms_cost_minor("RU", cyrillic, card) == 700
    assert pricing.sms_cost_minor("RU", cyrillic, card, operator="T2") == 640
    assert pricing.sms_cost_minor("DE", "Hi", card) == 600
    # A card with no SMS price for the country (nor an "other" one) leaves it unpriced, never a guess.
    whatsapp_only = RateCard.from_dict({"currency": "USD", "prices": {"other": WHATSAPP}})
    assert whatsapp_only.sms == {} and pricing.sms_cost_minor("RU", "Hi", whatsapp_only) is None
    assert pricing.sms_price(whatsapp_only, "RU") is None


def test_the_sms_estimate_counts_parts_by_country_and_says_when_it_cannot_price_one():
    card = RateCard.from_dict({"currency": "USD", "prices": {"other": WHATSAPP}, "sms": {"RU": {"": "0.05"}}})
    estimate = pricing.sms_estimate({"RU": 1000, "KZ": 3}, 2, card)
    assert (estimate["total"], estimate["total_minor"], estimate["priced"], estimate["parts"]) == (
        "100.00", 10000, False, 2)
    assert estimate["by_country"][0] == {"country": "RU", "priced_as": "RU", "messages": 1000, "parts": 2, "free": 0,
                                         "price": "0.05", "cost": "100.00", "cost_minor": 10000}
    assert estimate["by_country"][1]["cost_minor"] is None
    assert pricing.sms_estimate({"RU": 1}, 1, pricing.default_rate_card())["total_minor"] == 6  # 0.056 → 0.06


@pytest.mark.parametrize(("sms", "fragment"), [
    ({"RUS": {"": "1"}}, "not a two-letter"),
    ({"RU": {"": "-1"}}, "price of a part"),
    ({"RU": "1"}, "give a price per part"),
    ("cheap", "SMS prices: give a price"),
])
def test_a_wrong_sms_price_is_refused_with_a_sentence(sms, fragment):
    with pytest.raises(RateCardError) as caught:
        RateCard.from_dict({"currency": "USD", "prices": {"other": WHATSAPP}, "sms": sms})
    assert any(fragment in error for error in caught.value.errors), caught.value.errors


def test_a_csv_card_takes_an_operators_row_and_a_country_priced_for_sms_only():
    text = ("country,operator,currency,marketing,utility,authentication,sms\n"
            "RU,,RUB,6.5,1,1,3.50\nRU,MTS,RUB,,,,3.90\nAM,,RUB,,,,9\nother,,RUB,7,1,1,\n")
    card = RateCard.from_csv(text)
    assert set(card.prices) == {"RU", "other"}
    assert card.sms == {"AM": {"": Decimal("9")}, "RU": {"": Decimal("3.50"), "MTS": Decimal("3.90")}}
    assert card.sms_price("FR") is None
    assert RateCard.from_csv(card.to_csv()) == card
    # The old five columns still read, with no SMS prices.
    assert RateCard.from_csv("country,currency,marketing,utility,authentication\nother,USD,1,1,1\n").sms == {}


def test_an_admins_card_keeps_its_sms_prices(app):
    card = RateCard.from_dict({"currency": "RUB", "prices": {"other": WHATSAPP}, "sms": {"other": {"": "4.10"}}})
    pricing.save_rate_card(card)
    db.session.commit()
    current = pricing.current_rate_card()
    assert current.customised and current.sms_price("RU") == Decimal("4.10")


# --- the actual cost of a delivered SMS ------------------------------------------------------------------------

def test_a_delivered_sms_costs_the_parts_of_its_own_text_times_the_price_for_its_number(app, sandbox):
    sms = senders.add_sender({"name": "SMS", "channel": "smsc", "base_url": sandbox.url,
                              "login": sandbox_defaults.SMS_LOGIN, "access_token": sandbox_defaults.SMS_PASSWORD,
                              "alpha_name": "Shop24", "messages_per_second": 200})
    # 144 UCS-2 characters with a short name: three parts (at most 201); a name of 60 makes it four.
    template = add_template("sms_priced", body="{{1}}, " + "ы" * 140)
    short = add_contact("+79261230001", name="Ян", timezone=zone_at(12))  # MegaFon's range
    long = add_contact("+79031230002", name="Я" * 60, timezone=zone_at(12))  # Beeline's
    kazakh = add_contact("+77011230003", name="Ян", country="KZ", timezone=zone_at(12))
    segment = Segment(name="SMS priced", definition={"countries": ["RU", "KZ"]})
    db.session.add(segment)
    db.session.flush()
    campaign = Campaign(name="SMS priced", sender_id=sms.id, template_id=template.id, segment_id=segment.id,
                        variables={"1": {"source": "field", "value": "name", "fallback": "друг"}},
                        status=CampaignStatus.SCHEDULED, messages_per_second=200)
    db.session.add(campaign)
    db.session.flush()
    campaign.content_hash = campaign.approved_hash = content_hash(campaign)
    db.session.commit()
    assert launch.launch(campaign.id).launched
    db.session.commit()
    send_all(campaign.id)
    rows = {row.contact_id: row
            for row in db.session.scalars(select(Message).where(Message.campaign_id == campaign.id))}
    assert {row.status for row in rows.values()} == {MessageStatus.SENT}

    context = FeedbackContext(sender=sms, now=utcnow())
    statuses.handle(context, [StatusEvent(provider_id=row.idempotency_key, status=DeliveryStatus.DELIVERED, at=utcnow(),
                                          key=row.idempotency_key, recipient=row.phone) for row in rows.values()])
    db.session.commit()
    db.session.expire_all()
    priced = {contact_id: (row.status, row.billable, row.price_category, row.cost_minor)
              for contact_id, row in ((c, db.session.get(Message, r.id)) for c, r in rows.items())}
    assert priced == {
        short.id: (MessageStatus.DELIVERED, True, "sms", 19),  # 3 × 0.062 = 0.186
        long.id: (MessageStatus.DELIVERED, True, "sms", 24),  # 4 × 0.061 = 0.244
        kazakh.id: (MessageStatus.DELIVERED, True, "sms", 9),  # 3 × 0.030 = 0.090
    }
    # Priced once: a read after it changes nothing.
    statuses.handle(context, [StatusEvent(provider_id=rows[short.id].idempotency_key, status=DeliveryStatus.READ,
                                          at=utcnow(), key=rows[short.id].idempotency_key, recipient="")])
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Message, rows[short.id].id).cost_minor == 19
