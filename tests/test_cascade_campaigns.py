"""Cascade campaigns from the marketer's side: the spec, the API, the CLI and the form; the content hash over every
step's rendering; the launch's and the approval's checks per step; the preflight and the estimate per step (equal
to what the launch does); the analytics per channel. SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from campaigns import campaign_specs, cascade
from campaigns.campaign_specs import CampaignError
from campaigns.content import content_hash
from campaigns.models import Campaign, Sender
from extensions import db
from tests.bot_world import a_bot
from tests.campaign_world import make_world
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
    # The rate is bounded by the slowest step (the bots allow 20 by default; Main 50).
    assert campaign.messages_per_second == 20

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

