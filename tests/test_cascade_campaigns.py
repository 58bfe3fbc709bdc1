"""Cascade campaigns from the marketer's side: the spec, the API, the CLI and the form; the content hash over every
step's rendering; the launch's and the approval's checks per step; the preflight and the estimate per step (equal
to what the launch does); the analytics per channel. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from audience.models import AddressStatus
from campaigns import campaign_specs, cascade, launch, preflight, pricing, review
from campaigns.campaign_specs import CampaignError
from campaigns.content import content_hash
from campaigns.models import Campaign, CampaignStatus, Message, MessageStatus, Sender
from extensions import db
from tests.bot_world import a_bot, messenger_only, start_bot
from tests.campaign_world import ACKNOWLEDGEMENT, add_contact, make_world
from tests.helpers import assert_problem
from tests.test_campaign_web import run, token


@pytest.fixture
def world(app, make_user):
    return make_world(make_user)


@pytest.fixture
def bots(world):
    return a_bot("MAX bot", "max", "shop_max"), a_bot("Telegram bot", "telegram", "shop_tg")


def sms_sender(name: str = "SMS") -> Sender:
    """An SMS sender (SMSC.ru) under an alpha name, committed."""
    sender = Sender(name=name, phone=None, channel="smsc", base_url="https://smsc.ru", messages_per_second=30)
    db.session.add(sender)
    db.session.commit()
    return sender


def errors_of(spec) -> list[tuple[str | None, str]]:
    with pytest.raises(CampaignError) as caught:
        campaign_specs.create_campaign(spec)
    db.session.rollback()
    return [(field, str(sentence)) for field, sentence in caught.value.field_errors]


# --- the spec --------------------------------------------------------------------------------------------------

def test_a_cascade_by_names_sets_the_first_steps_sender_and_keeps_the_waits(world, bots):
    max_bot, telegram_bot = bots
    spec = world.spec(cascade=["MAX bot", {"sender": "Main", "wait_seconds": 300}, telegram_bot.id])
    del spec["sender"]
    campaign = campaign_specs.create_campaign(spec, world.marketer)
    db.session.commit()
    assert campaign.sender_id == max_bot.id
    assert campaign.cascade == [{"sender_id": max_bot.id, "wait_seconds": None},
                                {"sender_id": world.sender.id, "wait_seconds": 300},
                                {"sender_id": telegram_bot.id, "wait_seconds": None}]
    # The campaign's rate caps its steps together; the fastest step's sender bounds it (Main 50, the bots' rows 80).
    assert campaign.messages_per_second == 20
    max_bot.messages_per_second = telegram_bot.messages_per_second = 30
    campaign_specs.update_campaign(campaign, {"messages_per_second": 50}, world.marketer)
    assert campaign.messages_per_second == 50
    with pytest.raises(campaign_specs.CampaignError) as refused:
        campaign_specs.update_campaign(campaign, {"messages_per_second": 51}, world.marketer)
    assert refused.value.errors == ["Rate: 51 messages per second is more than the sender “Main” allows (50)."]
    db.session.rollback()

    # An empty cascade sends on the first step's sender alone again.
    campaign_specs.update_campaign(campaign, {"cascade": []}, world.marketer)
    db.session.commit()
    assert campaign.cascade is None and campaign.sender_id == max_bot.id


def test_cascade_mistakes_are_sentences_about_the_cascade_field(world, bots):
    _max_bot, _telegram = bots
    assert errors_of(world.spec(cascade=["MAX bot"])) == [
        ("cascade", "A cascade has 2 to 4 channels; this one has 1.")]
    assert errors_of(world.spec(cascade=["MAX bot", "nobody"])) == [
        ("cascade", "Step 2 of the cascade names no sender that exists.")]
    # A sender that is not the first step contradicts the cascade.
    assert errors_of(world.spec(cascade=["MAX bot", "Main"], sender="Main")) == [
        ("sender", "Sender: a cascade sends first through its first step's sender (“MAX bot”); leave the sender "
                   "out, or make it the first step.")]
    campaign = world.campaign(cascade=["MAX bot", "Main"], sender="MAX bot")
    with pytest.raises(CampaignError) as caught:
        campaign_specs.update_campaign(campaign, {"sender": "Main"})
    assert caught.value.field_errors[0][0] == "sender" and "sends through a cascade" in caught.value.errors[0]


def test_the_template_must_be_usable_for_every_whatsapp_step(world, bots):
    other = Sender(name="Second", phone="+74950000009", waba_id="another-account", messages_per_second=50)
    db.session.add(other)
    db.session.commit()
    found = errors_of(world.spec(cascade=["MAX bot", "Second"], sender=None))
    assert [field for field, _sentence in found][:1] == ["template"]
    assert "for the sender “Second”" in found[0][1]
    # SMS and bots send our own rendering: no approval at the provider is asked for.
    sms_sender()
    assert world.campaign(cascade=["MAX bot", "SMS"], sender=None).sender_id == bots[0].id


# --- the API and the CLI ---------------------------------------------------------------------------------------

def test_the_api_takes_a_cascade_and_returns_its_steps(client, world, bots):
    max_bot, _telegram_bot = bots
    sms = sms_sender()
    author = token(world.marketer)
    spec = world.spec(cascade=[{"sender": "Main", "wait_seconds": 120}, "MAX bot", "SMS"], sender=None)
    response = client.post("/api/v1/campaigns", json=spec, headers=author)
    assert response.status_code == 201, response.json
    assert response.json["sender_id"] == world.sender.id
    assert response.json["cascade"] == [
        {"step": 0, "sender_id": world.sender.id, "sender": "Main", "channel": "whatsapp", "wait_seconds": 120},
        {"step": 1, "sender_id": max_bot.id, "sender": "MAX bot", "channel": "max", "wait_seconds": None},
        {"step": 2, "sender_id": sms.id, "sender": "SMS", "channel": "sms", "wait_seconds": None}]
    campaign_id = response.json["id"]
    response = client.put(f"/api/v1/campaigns/{campaign_id}",
                            json={"cascade": [{"sender": "MAX bot", "wait_seconds": 60}, "Main"]}, headers=author)
    body = assert_problem(response, 400, "validation", field="cascade")
    assert "a bot reports no deliveries" in body["detail"]
    assert client.get(f"/api/v1/campaigns/{campaign_id}", headers=author).json["cascade"][0]["wait_seconds"] == 120
    plain = client.post("/api/v1/campaigns", json=world.spec(name="Plain"), headers=author).json
    assert plain["cascade"] is None


def test_the_cli_sets_a_cascade_with_one_wait_for_the_steps_that_report_deliveries(app, world, bots, tmp_path):
    max_bot, telegram_bot = bots
    sms = sms_sender()
    spec = world.spec()
    del spec["sender"]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    result = run(app, "create", "--file", str(path), "--cascade", "Main, MAX bot,SMS", "--wait", "900")
    assert result.exit_code == 0, result.output
    campaign = db.session.scalar(db.select(Campaign))
    assert campaign.cascade == [{"sender_id": world.sender.id, "wait_seconds": 900},
                                {"sender_id": max_bot.id, "wait_seconds": None},
                                {"sender_id": sms.id, "wait_seconds": None}]
    shown = run(app, "show", str(campaign.id)).output
    assert "step 1: Main (whatsapp), waits 900 s" in shown and "step 3: SMS (sms), no wait" in shown

    result = run(app, "update", str(campaign.id), "--cascade", "MAX bot,Telegram bot,Main")
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert [step["sender_id"] for step in db.session.get(Campaign, campaign.id).cascade] == [
        max_bot.id, telegram_bot.id, world.sender.id]
    result = run(app, "update", str(campaign.id), "--cascade", "MAX bot")
    assert result.exit_code == 1 and "A cascade has 2 to 4 channels" in result.output
    assert run(app, "update", str(campaign.id), "--wait", "60").exit_code == 2


# --- the content hash ------------------------------------------------------------------------------------------

def test_the_hash_covers_the_steps_their_order_their_waits_and_every_channels_rendering(world, bots):
    _max_bot, _telegram_bot = bots
    sms = sms_sender()
    plain = world.campaign()
    before_plain = plain.content_hash
    campaign = world.campaign(name="Cascade", cascade=[{"sender": "Main", "wait_seconds": 600}, "MAX bot", "SMS"],
                              sender=None)
    hashes = {campaign.content_hash, before_plain}
    for change in ([{"sender": "Main", "wait_seconds": 601}, "MAX bot", "SMS"],
                   ["Main", "Telegram bot", "SMS"],
                   ["Main", "SMS", "MAX bot"],
                   ["Main", "MAX bot"]):
        campaign_specs.update_campaign(campaign, {"cascade": change}, world.marketer)
        db.session.commit()
        assert campaign.content_hash not in hashes, change
        hashes.add(campaign.content_hash)
    # The SMS text is part of it: a footer the SMS step sends changes the hash though no field of the campaign did.
    campaign_specs.update_campaign(campaign, {"cascade": ["Main", "SMS"]}, world.marketer)
    db.session.commit()
    with_sms = campaign.content_hash
    world.template.footer = "Отписаться: СТОП"
    db.session.commit()
    assert content_hash(campaign) != with_sms
    assert campaign.sender_id == world.sender.id and sms.id == campaign.cascade[1]["sender_id"]
    # A campaign on one sender hashes what it always did.
    world.template.footer = ""
    db.session.commit()
    assert content_hash(plain) == before_plain
    assert cascade.is_cascade(campaign) and not cascade.is_cascade(plain)



# --- the preflight and the estimate per step ------------------------------------------------------------------

def cascade_world(world, bots):
    """Contacts for MAX → WhatsApp (Main) → SMS: two on MAX (one of them with a number too), two with a number only,
    one who stopped the MAX bot (a number: WhatsApp takes them), one on Telegram only (nobody takes them)."""
    max_bot, telegram_bot = bots
    sms = sms_sender()
    messenger_only(max_bot)
    on_max_with_phone = add_contact("+79030000011")
    _phone_a, _phone_b, stopped = add_contact("+79030000012"), add_contact("+79030000013"), add_contact("+79030000014")
    messenger_only(telegram_bot)
    start_bot(max_bot, on_max_with_phone)
    stopped_address = start_bot(max_bot, stopped)
    stopped_address.status = AddressStatus.STOPPED
    db.session.commit()
    campaign = world.campaign(cascade=["MAX bot", {"sender": "Main", "wait_seconds": 300}, "SMS"], sender=None)
    return campaign, sms


def rows_per_step(campaign_id: int) -> dict[int, int]:
    return dict(db.session.execute(select(Message.step, func.count()).where(Message.campaign_id == campaign_id)
                                   .group_by(Message.step)).all())


def test_the_preflight_tries_each_person_first_where_the_launch_does_and_prices_each_step(app, world, bots):
    max_bot, _telegram = bots
    campaign, sms = cascade_world(world, bots)
    report = review.submit(campaign, world.marketer)
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(Message)) == 0  # the savepoint left nothing behind
    price = pricing.current_rate_card().price("RU", "marketing")
    whatsapp_cost = int((price * 3).scaleb(2).quantize(Decimal(1)))
    assert report["steps"] == [
        {"step": 0, "sender_id": max_bot.id, "channel": "max", "first_tried": 2, "cost_minor": 0},
        {"step": 1, "sender_id": world.sender.id, "channel": "whatsapp", "first_tried": 3,
         "cost_minor": whatsapp_cost},
        {"step": 2, "sender_id": sms.id, "channel": "sms", "first_tried": 0, "cost_minor": 0}]
    assert report["audience"]["eligible"] == 5
    assert campaign.estimate["steps"] == report["steps"] and campaign.estimate["total_minor"] == whatsapp_cost
    assert [item["channel"] for item in report["renderings"]] == ["max", "whatsapp", "sms"]
    # The reviewer acknowledges WhatsApp to Russia (the channel rule judged on its step), and the launch agrees.
    with pytest.raises(review.ReviewError, match="acknowledge this in writing"):
        review.approve(campaign, world.reviewer)
    db.session.rollback()
    review.approve(campaign, world.reviewer, acknowledgement=ACKNOWLEDGEMENT)
    db.session.commit()
    assert launch.launch(campaign.id).launched
    db.session.commit()
    assert rows_per_step(campaign.id) == {step["step"]: step["first_tried"] for step in report["steps"]
                                          if step["first_tried"]}
    shown = run(app, "show", str(campaign.id)).output
    assert f"step 2 (whatsapp): 3 tried first, {whatsapp_cost} minor units" in shown


def test_an_sms_step_gets_who_the_earlier_steps_cannot_take_and_costs_its_parts(world, bots):
    campaign, _sms = cascade_world(world, bots)
    campaign_specs.update_campaign(campaign, {"cascade": ["MAX bot", "SMS"]}, world.marketer)
    db.session.commit()
    report = preflight.run(campaign)
    assert [(step["channel"], step["first_tried"]) for step in report["steps"]] == [("max", 2), ("sms", 3)]
    assert report["estimate"]["complete"] is True
    text = report["renderings"][1]["rendering"]
    assert text["encoding"] == "UCS-2" and text["parts"] >= 1
    db.session.rollback()


def test_a_whatsapp_step_whose_account_has_not_approved_the_template_blocks(world, bots):
    other = Sender(name="Second", phone="+74950000009", waba_id="another-account", messages_per_second=50)
    db.session.add(other)
    db.session.commit()
    campaign, _sms = cascade_world(world, bots)
    campaign.cascade = [*campaign.cascade[:1], {"sender_id": other.id, "wait_seconds": 600}]
    db.session.commit()
    report = preflight.readable(preflight.run(campaign))
    assert any("for the sender “Second”" in sentence for sentence in report["blocking"])
    # The launch refuses it too, whatever the approval said.
    campaign.status, campaign.approved_hash = CampaignStatus.APPROVED, content_hash(campaign)
    with pytest.raises(launch.LaunchError, match="not approved by WhatsApp"):
        launch.schedule_launch(campaign)
    db.session.rollback()


# --- the form and the pages ------------------------------------------------------------------------------------

def test_the_wizard_saves_a_cascade_with_its_waits_and_shows_its_mistakes_beside_it(app, world, bots):
    from tests.helpers import post_form, signed_in_client
    from tests.test_campaign_web import wizard_data

    max_bot, _telegram_bot = bots
    sms = sms_sender()
    browser = signed_in_client(app, world.marketer.email)
    page = browser.get("/campaigns/new").get_data(as_text=True)
    assert 'name="mode"' in page and 'name="cascade-3-sender"' in page and 'for="cascade-0-wait"' in page
    assert browser.get("/static/js/cascade_form.js").status_code == 200 and "cascade_form.js" in page
    cascade_rows = {"mode": "cascade", "cascade-0-sender": str(world.sender.id), "cascade-0-wait": "3",
                    "cascade-0-wait_unit": "minutes", "cascade-1-sender": str(max_bot.id), "cascade-1-wait": "10",
                    "cascade-1-wait_unit": "minutes", "cascade-2-sender": str(sms.id), "cascade-2-wait": "10",
                    "cascade-3-sender": "0"}
    response = post_form(browser, "/campaigns/new", wizard_data(world, **{**cascade_rows, "cascade-1-sender": "0",
                                                                          "cascade-2-sender": "0"}))
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'id="cascade-errors"><p class="error" role="alert">A cascade has 2 to 4 channels', page)
    response = post_form(browser, "/campaigns/new", wizard_data(world, **cascade_rows))
    assert response.status_code == 302, response.get_data(as_text=True)
    campaign = db.session.scalar(select(Campaign))
    # The bot and the last step never wait, whatever the rows said; WhatsApp waits three minutes.
    assert campaign.cascade == [{"sender_id": world.sender.id, "wait_seconds": 180},
                                {"sender_id": max_bot.id, "wait_seconds": None},
                                {"sender_id": sms.id, "wait_seconds": None}]
    page = browser.get(f"/campaigns/{campaign.id}/edit").get_data(as_text=True)
    assert re.search(r'<input[^>]*checked[^>]*value="cascade"|<input[^>]*value="cascade"[^>]*checked', page)
    assert re.search(r'id="cascade-0-wait"[^>]*value="3"|value="3"[^>]*id="cascade-0-wait"', page)
    # Back to one channel.
    response = post_form(browser, f"/campaigns/{campaign.id}/edit", wizard_data(world, mode="single"),
                         page=f"/campaigns/{campaign.id}/edit")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Campaign, campaign.id).cascade is None


def test_the_campaign_page_and_the_review_page_show_every_step(app, world, bots):
    from tests.helpers import signed_in_client

    campaign, _sms = cascade_world(world, bots)
    review.submit(campaign, world.marketer)
    db.session.commit()
    author = signed_in_client(app, world.marketer.email)
    page = author.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Per channel" in page and "Tried first" in page
    assert re.search(r'<tr data-step="1"><td>2</td><td>Main</td><td>WhatsApp</td><td class="number">3</td>', page)
    reviewer = signed_in_client(app, world.reviewer.email)
    page = reviewer.get(f"/reviews/{campaign.id}").get_data(as_text=True)
    assert "What each channel of the cascade sends" in page
    assert 'data-step="0" data-channel="max"' in page and 'data-step="2" data-channel="sms"' in page
    assert "UCS-2 · " in page and "characters left" in page and "waits 5 min for a delivery" in page


# --- the analytics per channel ---------------------------------------------------------------------------------

def test_the_analytics_count_each_steps_tries_reaches_failures_fallbacks_cost_and_who_was_reached_twice(
        app, client, world, bots):
    from campaigns import materialise
    from compliance.policy import current_policy
    from dbtypes import utcnow
    from tests.helpers import signed_in_client

    campaign, _sms = cascade_world(world, bots)
    campaign.status, campaign.approved_hash = CampaignStatus.SCHEDULED, content_hash(campaign)
    db.session.commit()
    assert launch.launch(campaign.id).launched
    db.session.commit()
    rows = {(row.step, row.phone or row.address): row for row in db.session.scalars(
        select(Message).where(Message.campaign_id == campaign.id))}
    on_max_with_phone = rows[0, "+79030000011"]
    messenger = next(row for (step, _key), row in rows.items() if step == 0 and row is not on_max_with_phone)
    messenger.status = MessageStatus.FAILED
    # Sent on MAX (reached: a bot reports no deliveries), then tried on WhatsApp too, where it was delivered.
    on_max_with_phone.status, on_max_with_phone.fallback_at = MessageStatus.SENT, utcnow()
    assert materialise.materialise_fallbacks(campaign, [on_max_with_phone.contact_id], 0, utcnow(),
                                             current_policy().sending) == {1: 1}
    db.session.flush()
    for row in db.session.scalars(select(Message).where(Message.campaign_id == campaign.id, Message.step == 1)):
        if row.phone in ("+79030000011", "+79030000012"):
            row.status, row.billable, row.cost_minor = MessageStatus.DELIVERED, True, 8
        elif row.phone == "+79030000013":
            row.status = MessageStatus.FAILED
    db.session.commit()

    figures = client.get(f"/api/v1/campaigns/{campaign.id}/analytics", headers=token(world.marketer)).json
    assert [(step["channel"], step["tried"], step["reached"], step["failed"], step["fallen_back"],
             step["cost_minor"]) for step in figures["steps"]] == [
        ("max", 2, 1, 1, 1, 0), ("whatsapp", 4, 2, 1, 0, 16), ("sms", 0, 0, 0, 0, 0)]
    assert figures["delivered_twice"] == 1
    assert isinstance(figures["sms_savings_minor"], int)

    page = signed_in_client(app, world.marketer.email).get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert 'data-cascade="delivered-twice">1<' in page and "the figure to tune each step’s wait by" in page
    assert re.search(r'<tr data-step="1"><td>2</td><td>Main</td><td>WhatsApp</td><td class="number">4</td>'
                     r'<td class="number">2</td><td class="number">1</td><td class="number">0</td>', page)
    from tests.test_analytics_web import browser_of
    from tests.test_pages_i18n import english_in_russian, english_labels, visible_text

    bots[0].name, bots[1].name = "Магазин в MAX", "Магазин в Telegram"
    db.session.commit()
    text = visible_text(browser_of(app, world.reviewer, "ru").get(f"/campaigns/{campaign.id}").get_data(as_text=True))
    assert "Доставлено дважды" in text and "Перешли дальше" in text and "нет цен на SMS" not in text
    assert english_in_russian(text, english_labels()) == []


def test_an_edit_of_the_cascade_voids_the_approval_and_the_next_review_names_it(world, bots):
    campaign, _sms = cascade_world(world, bots)
    review.submit(campaign, world.marketer)
    review.approve(campaign, world.reviewer, acknowledgement=ACKNOWLEDGEMENT, schedule=False)
    db.session.commit()
    assert campaign.status is CampaignStatus.APPROVED
    campaign_specs.update_campaign(campaign, {"cascade": ["MAX bot", {"sender": "Main", "wait_seconds": 900}, "SMS"]},
                                   world.marketer)
    db.session.commit()
    assert campaign.status is CampaignStatus.DRAFT and campaign.approved_hash is None
    assert [change["field"] for change in review.changes_since_last_review(campaign)] == ["cascade"]


def test_the_cascade_pages_read_in_russian(app, world, bots):
    from tests.test_analytics_web import assert_strict_page, browser_of
    from tests.test_pages_i18n import duplicate_ids, english_in_russian, english_labels, visible_text

    campaign, _sms = cascade_world(world, bots)
    review.submit(campaign, world.marketer)
    # Names of the business's own choosing ("MAX bot" is also the label of a kind of sender, in English).
    bots[0].name, bots[1].name = "Магазин в MAX", "Магазин в Telegram"
    db.session.commit()
    author, reviewer = browser_of(app, world.marketer, "ru"), browser_of(app, world.reviewer, "ru")
    for browser, url, words in ((author, "/campaigns/new", ("Каскад", "Ждать доставки", "Шаг 4")),
                                (author, f"/campaigns/{campaign.id}/edit", ("Один канал", "минут")),
                                (author, f"/campaigns/{campaign.id}", ("По каналам", "Первая попытка")),
                                (reviewer, f"/reviews/{campaign.id}", ("Что отправляет каждый канал каскада",
                                                                        "UCS-2 · ", "символ"))):
        response = browser.get(url)
        assert_strict_page(response)
        page = response.get_data(as_text=True)
        text = visible_text(page)
        assert all(word in text for word in words), url
        assert english_in_russian(text, english_labels()) == [], url
        assert duplicate_ids(page) == [], url


def test_the_channel_rule_is_judged_on_every_step_and_a_bot_step_on_its_rendering(world, bots):
    from tests.test_channel_reach import set_rule

    campaign, _sms = cascade_world(world, bots)
    # MAX first, WhatsApp second: the WhatsApp step's recipients in Russia are what the rule blocks.
    set_rule(marketing_mode="block")
    report = preflight.readable(preflight.run(campaign))
    assert any("cannot get this marketing message through WhatsApp" in text for text in report["blocking"])
    with pytest.raises(review.ReviewError, match="this workspace blocks it"):
        review.submit(campaign, world.marketer)
    db.session.rollback()
    # Without the WhatsApp step nothing is blocked.
    campaign_specs.update_campaign(campaign, {"cascade": ["MAX bot", "SMS"]}, world.marketer)
    db.session.commit()
    assert preflight.run(campaign)["channels"]["outcome"] == "pass"
    # A bot step's rendering over its channel's limit blocks, as it does a campaign on that bot alone.
    world.template.body = "Здравствуйте, {{1}}! " + "Скидка в {{2}}. " * 300
    db.session.commit()
    report = preflight.readable(preflight.run(campaign))
    assert any("MAX" in text and "characters" in text for text in report["blocking"]), report["blocking"]


def test_a_later_whatsapp_step_is_held_to_its_senders_tier(world, bots, monkeypatch):
    from compliance import sending

    campaign, _sms = cascade_world(world, bots)
    report = preflight.run(campaign)
    assert report["tier"] == {"tier": "TIER_250", "limit": 250, "contacted_last_24h": 0, "headroom": 250,
                              "new_recipients": 3, "fits": True}
    assert "tier_overflow" not in [warning["code"] for warning in report["warnings"]]
    monkeypatch.setitem(sending.TIER_LIMITS, "TIER_250", 2)
    report = preflight.run(campaign)
    assert report["tier"]["fits"] is False and report["tier"]["new_recipients"] == 3  # the WhatsApp step's, not all
    assert any("allows 2 more new recipients" in text for text in preflight.readable(report)["warnings"])
    db.session.rollback()


def test_an_sms_steps_text_over_the_gateways_limit_blocks(world, bots):
    campaign, _sms = cascade_world(world, bots)
    campaign_specs.update_campaign(campaign, {"cascade": ["MAX bot", "SMS"]}, world.marketer)
    db.session.commit()
    assert preflight.run(campaign)["blocking"] == []
    world.template.body = "Здравствуйте, {{1}}! Скидка в {{2}}. " + "Очень выгодно. " * 80  # over 1,000 characters
    db.session.commit()
    codes = [kept["code"] for kept in preflight.run(campaign)["blocking"] if isinstance(kept, dict)]
    assert "sms_text_too_long" in codes
    db.session.rollback()


def test_the_wizard_offers_the_templates_of_the_cascades_first_whatsapp_step(app, world, bots):
    from campaigns.models import ApprovalSource, Template, TemplateApproval, TemplateCategory, TemplateStatus
    from tests.helpers import post_form, signed_in_client
    from tests.test_campaign_web import wizard_data

    other = Sender(name="Second", phone="+74950000009", waba_id="another-account", messages_per_second=50)
    only_there = Template(name="second_only", language="ru", category=TemplateCategory.MARKETING,
                          body="Привет!", status=TemplateStatus.APPROVED)
    db.session.add_all([other, only_there])
    db.session.flush()
    db.session.add(TemplateApproval(template_id=only_there.id, account_id="another-account", base_url=other.base_url,
                                    status=TemplateStatus.APPROVED, source=ApprovalSource.ADMIN))
    db.session.commit()
    browser = signed_in_client(app, world.marketer.email)
    rows = {"mode": "cascade", "cascade-0-sender": str(bots[0].id), "cascade-1-sender": str(other.id),
            "action": "variables"}
    page = post_form(browser, "/campaigns/new", wizard_data(world, **rows)).get_data(as_text=True)
    options = re.findall(r'<option[^>]*value="(\d+)"', page.split('name="template"')[1].split("</select>")[0])
    assert options == [str(only_there.id)]
    page = post_form(browser, "/campaigns/new", wizard_data(world, action="variables")).get_data(as_text=True)
    options = re.findall(r'<option[^>]*value="(\d+)"', page.split('name="template"')[1].split("</select>")[0])
    assert options == [str(world.template.id)]
