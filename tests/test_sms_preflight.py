"""The preflight and review of an SMS campaign (``campaigns.sms_preflight``): no messaging tier, the estimate in parts
× the card's price of one, the consent proof by source that advertising by SMS needs (38-FZ art. 18) with the
recipients without one excluded, the warning of 126-FZ art. 44.1 the reviewer acknowledges in writing; the segment
line in the template editor and on the review page, in Russian; and the send window and the frequency cap holding
for SMS at send time as for any channel (in process, against the sandbox's SMSC API)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from audience import segments
from campaigns import campaign_specs, preflight, review, senders
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, TemplateCategory
from channels.sandbox import defaults as sandbox_defaults
from dbtypes import utcnow
from extensions import db
from tests.campaign_world import add_contact, add_template
from tests.channels import sms_calls
from tests.records import audit_events
from tests.test_analytics_web import browser_of
from tests.test_dispatch import send_all, sending_campaign, zone_at

ACKNOWLEDGEMENT = "Договор с SMSC покрывает эту рассылку, имя Shop24 зарегистрировано у операторов."
LONG = "Здравствуйте, {{1}}! Осенняя распродажа в нашем магазине: скидки до 50% на всё, только до воскресенья."


def sms_sender(base_url: str = "https://smsc.ru"):
    sender = senders.add_sender({"name": "Магазин SMS", "channel": "smsc", "base_url": base_url,
                                 "login": sandbox_defaults.SMS_LOGIN, "access_token": sandbox_defaults.SMS_PASSWORD,
                                 "alpha_name": "Shop24", "messages_per_second": 200})
    db.session.commit()
    return sender


def sms_campaign(make_user, template, sender) -> tuple[Campaign, object, object]:
    marketer, reviewer = make_user("marketer"), make_user("reviewer")
    segment = segments.create_segment(f"SMS {template.name}", {"tags": ["promo"]})
    campaign = campaign_specs.create_campaign({
        "name": f"SMS {template.name}", "sender": sender.name, "template": template.id, "segment": segment.name,
        "variables": {"1": {"source": "field", "value": "name", "fallback": "друг"}},
        "send_at": None, "send_window": None, "messages_per_second": 50}, marketer)
    db.session.commit()
    return campaign, marketer, reviewer


def code(kept) -> str | None:
    return kept.get("code") if isinstance(kept, dict) else None


def test_an_sms_campaigns_preflight_prices_its_parts_has_no_tier_and_shows_the_consent_proof(app, make_user):
    sender = sms_sender()
    template = add_template("sms_long", body=LONG, examples={"1": "Анна"})
    spring = datetime(2026, 3, 1, 10, tzinfo=UTC)
    # More people than the TIER_250 a WhatsApp number starts with: an SMS gateway has no such tier.
    for index in range(255):
        add_contact(f"+7903{index:07d}", consent_source="website form", consent_at=spring + timedelta(days=index))
    for index in range(3):
        add_contact(f"+7926{index:07d}", consent_source="shop till", consent_at=spring)
    add_contact("+79169990001", consent_source="   ")  # no proof at all
    campaign, _marketer, _reviewer = sms_campaign(make_user, template, sender)

    report = preflight.run(campaign)
    assert report["tier"]["tier"] is None and report["tier"]["fits"]
    assert "tier_overflow" not in {code(kept) for kept in report["warnings"]}
    assert report["audience"]["eligible"] == 258 and report["audience"]["excluded"]["no_consent"] == 1
    rendering = report["sms"]["rendering"]
    assert (rendering["encoding"], rendering["parts"]) == ("UCS-2", 2)
    assert rendering["text"].startswith("Здравствуйте, Анна! Осенняя распродажа")
    estimate = report["estimate"]
    assert (estimate["category"], estimate["parts"], estimate["messages"], estimate["priced"]) == ("sms", 2, 258, True)
    assert (estimate["total"], estimate["total_minor"]) == ("28.90", 2890)  # 258 × 2 × 0.056 = 28.896

    advertising = report["sms"]["advertising"]
    assert advertising["without_consent"] == 1
    assert advertising["consent"] == [
        {"source": "website form", "recipients": 255, "first": spring.isoformat(),
         "last": (spring + timedelta(days=254)).isoformat()},
        {"source": "shop till", "recipients": 3, "first": spring.isoformat(), "last": spring.isoformat()}]
    assert code(advertising["sentence"]) == "sms_advertising_consent"
    assert "sms_mailing_law" in {code(kept) for kept in report["warnings"]} and report["outcome"] == "warn"
    worded = preflight.readable(report)
    assert "258 recipients with a number have a consent proof" in worded["sms"]["advertising"]["sentence"]
    assert any("art. 44.1 of 126-FZ" in sentence for sentence in worded["warnings"])


def test_a_utility_sms_has_no_advertising_part_but_the_mailing_law_still_warns(app, make_user):
    sender = sms_sender()
    template = add_template("sms_utility", body="Заказ {{1}} готов.", category=TemplateCategory.UTILITY,
                            examples={"1": "42"})
    add_contact("+79031110001")
    campaign, _marketer, _reviewer = sms_campaign(make_user, template, sender)
    report = preflight.run(campaign)
    assert report["sms"]["advertising"] is None
    assert [code(kept) for kept in report["warnings"]] == ["sms_mailing_law"]


def test_the_reviewer_acknowledges_the_sms_law_in_writing_to_approve(app, make_user):
    sender = sms_sender()
    template = add_template("sms_review", body="Здравствуйте, {{1}}!")
    add_contact("+79031110001")
    campaign, marketer, reviewer = sms_campaign(make_user, template, sender)
    review.submit(campaign, marketer)
    db.session.commit()
    with pytest.raises(review.ReviewError) as refused:
        review.approve(campaign, reviewer, schedule=False, acknowledgement="ok")
    db.session.rollback()
    assert any("126-FZ" in sentence for sentence in refused.value.errors)
    assert any("through SMS" in sentence for sentence in refused.value.errors)
    decision = review.approve(campaign, reviewer, schedule=False, acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    assert decision.acknowledgement == ACKNOWLEDGEMENT
    [event] = audit_events("campaign.approve")
    assert event.details["sms_law"] == ["sms_mailing_law"] and event.details["acknowledgement"] == ACKNOWLEDGEMENT


def test_the_segment_line_reads_in_russian_in_the_editor_and_on_the_review_page(app, make_user):
    sender = sms_sender()
    template = add_template("sms_line", body=LONG, examples={"1": "Анна"})
    add_contact("+79031110001", consent_source="website form")
    campaign, marketer, reviewer = sms_campaign(make_user, template, sender)
    review.submit(campaign, marketer)
    db.session.commit()

    editor = browser_of(app, marketer, "ru")
    page = editor.get(f"/templates/{template.id}").get_data(as_text=True)
    line = re.search(r'<span id="tpl-sms-segments">([^<]*)</span>', page).group(1)
    assert line == "UCS-2 · 2 части · осталось 33 символа"  # 101 characters: 67 + 34 of 67
    answer = editor.post("/templates/preview", data={
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1), "name": "x", "language": "en",
        "category": "utility", "body": "Hello {{1}}", "example-1": "Ann"})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.get_json()["sms"]["line"] == "GSM-7 · 1 часть · остался 151 символ"

    page = browser_of(app, reviewer, "ru").get(f"/reviews/{campaign.id}").get_data(as_text=True)
    assert "UCS-2 · 2 части · осталось 33 символа" in page and 'id="sms-law"' in page
    assert "ст. 44.1 126-ФЗ" in page and "ч. 1 ст. 18 38-ФЗ" in page
    review_page = browser_of(app, reviewer, "en").get(f"/reviews/{campaign.id}").get_data(as_text=True)
    assert "UCS-2 · 2 parts · 33 characters left" in review_page


def test_a_cascades_sms_step_is_priced_by_its_parts_and_carries_the_sms_laws(app, make_user):
    from tests.bot_world import a_bot
    from tests.campaign_world import make_world
    from tests.test_cascade_campaigns import cascade_world

    world = make_world(make_user)
    campaign, _sms = cascade_world(world, (a_bot("MAX bot", "max", "shop_max"),
                                           a_bot("Telegram bot", "telegram", "shop_tg")))
    campaign_specs.update_campaign(campaign, {"cascade": ["MAX bot", "SMS"]}, world.marketer)
    db.session.commit()
    report = preflight.run(campaign)
    [sms_step] = [step for step in report["steps"] if step["channel"] == "sms"]
    parts = report["sms"]["rendering"]["parts"]
    # Its three first tries in Russia (Beeline's range, but the estimate prices the country): parts × 0.056 each.
    assert sms_step["first_tried"] == 3 and sms_step["cost_minor"] == round(3 * parts * 5.6)
    assert report["estimate"]["complete"] is True
    assert "sms_mailing_law" in {code(kept) for kept in report["warnings"]}
    assert report["sms"]["advertising"]["consent"][0]["source"] == "website form"
    db.session.rollback()


# --- send windows and caps at send time ------------------------------------------------------------------------

def test_the_send_window_and_the_daily_cap_hold_for_sms_as_for_any_channel(app, sandbox):
    sender = sms_sender(sandbox.url)
    template = add_template("sms_rules")
    night = add_contact("+79031110001", name="Ночь", timezone=zone_at(3))  # 03:xx there: the window opens at 09:00
    day = add_contact("+79031110002", name="День", timezone=zone_at(12))
    first, second = sending_campaign(sender, template), sending_campaign(sender, template)
    send_all(first.id)
    send_all(second.id)

    db.session.expire_all()
    rows = {(row.campaign_id, row.contact_id): row for row in db.session.scalars(
        select(Message).where(Message.campaign_id.in_((first.id, second.id))))}
    opening = datetime.combine(utcnow().astimezone(ZoneInfo(zone_at(3))).date(), time(9),
                               ZoneInfo(zone_at(3))).astimezone(UTC)
    for campaign in (first, second):
        waiting = rows[campaign.id, night.id]
        assert (waiting.status, waiting.not_before) == (MessageStatus.DEFERRED, opening)
    # One marketing message a day: the second campaign's SMS to the same person is skipped at send time.
    assert rows[first.id, day.id].status is MessageStatus.SENT
    assert (rows[second.id, day.id].status, rows[second.id, day.id].error_code) == (
        MessageStatus.SKIPPED, "frequency_cap")
    assert [message["phone"] for message in sms_calls.messages(sandbox)] == [day.phone]
    assert db.session.get(Campaign, second.id).status is CampaignStatus.SENDING  # the deferred row holds it open
