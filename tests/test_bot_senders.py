"""Bots as senders: MAX and Telegram bots added and changed in the service, the pages, the API and the CLI
(every refusal a sentence naming its field), their token and webhook secret never shown, the connection checked
and the webhook connected against the real sandbox, and the embedded default's two sandbox bots."""

from __future__ import annotations

import html
import json

import pytest
from sqlalchemy import func, select

from campaigns import senders
from campaigns.models import Sender
from channels.sandbox import defaults as sandbox_defaults
from extensions import db
from tests.channels import max_calls, telegram_calls
from tests.helpers import assert_problem, post_form
from tests.records import audit_events

TG_TOKEN = "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
MAX_TOKEN = "f9LHodD0cOKmax-token-for-tests-4321"


def count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Sender))


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def refusal(values: dict, sender: Sender | None = None) -> list[tuple[str | None, str]]:
    with pytest.raises(senders.SenderError) as refused:
        if sender is None:
            senders.add_sender(values)
        else:
            senders.update_sender(sender, values)
    db.session.rollback()
    return [(field, str(sentence)) for field, sentence in refused.value.field_errors]


# --- the service -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("channel", "base_url"), [("max", "https://platform-api2.max.ru"),
                                                   ("telegram", "https://api.telegram.org")])
def test_a_bot_needs_a_name_and_its_token_and_gets_the_platforms_defaults_and_a_secret_of_its_own(
        app, channel, base_url):
    bot = senders.add_sender({"name": "Shop bot", "channel": channel, "access_token": TG_TOKEN})
    db.session.commit()
    assert (bot.phone, bot.phone_number_id, bot.waba_id, bot.api_version) == (None, "", "", "")
    assert (bot.base_url, bot.messages_per_second, bot.bot_username) == (base_url, 30, "")
    settings = senders.settings_for(bot)
    assert settings.access_token == TG_TOKEN and settings.channel == channel
    # The webhook secret is ours: made at random, as both platforms accept it, and different for every bot.
    other = senders.add_sender({"name": "Other bot", "channel": channel, "access_token": TG_TOKEN + "x"})
    secret = settings.app_secret
    assert len(secret) >= 40 and secret.replace("-", "").replace("_", "").isalnum()
    assert senders.settings_for(other).app_secret != secret
    assert bot.app_secret_last4 == secret[-4:] and secret not in json.dumps(
        dict(db.session.execute(select(Sender.__table__).where(Sender.id == bot.id)).mappings().one()), default=str)
    [created, _other] = audit_events("sender.created")
    assert created.details["secrets_changed"] == ["access_token", "app_secret"]
    assert TG_TOKEN not in str(created.details) and secret not in str(created.details)


def test_two_bots_without_a_username_are_two_senders_and_a_bot_clashes_only_by_name_or_username(app):
    senders.add_sender({"name": "A", "channel": "max", "access_token": MAX_TOKEN})
    senders.add_sender({"name": "B", "channel": "telegram", "access_token": TG_TOKEN})  # no phone: no clash
    senders.add_sender({"name": "C", "channel": "telegram", "access_token": TG_TOKEN, "bot_username": "shop_bot"})
    senders.add_sender({"name": "D", "channel": "max", "access_token": MAX_TOKEN, "bot_username": "shop_bot"})
    db.session.commit()
    assert refusal({"name": "A", "channel": "telegram", "access_token": TG_TOKEN}) == [
        (None, "A sender with this name or phone already exists.")]
    assert refusal({"name": "E", "channel": "telegram", "access_token": TG_TOKEN, "bot_username": "@shop_bot"}) == [
        ("bot_username", "Bot username: another sender is already this bot; one bot is one sender.")]
    assert count() == 4


def test_every_field_of_a_bot_is_refused_with_a_sentence_naming_it(app):
    errors = refusal({"name": "", "channel": "telegram", "phone": "+74951234567", "phone_number_id": "1065",
                      "waba_id": "1022", "api_version": "v23.0", "tier": "TIER_1K", "verify_token": "vt-1234",
                      "bot_username": "no", "base_url": "ftp://api.telegram.org", "messages_per_second": 31,
                      "app_secret": "has/slash"})
    fields = dict(errors)
    assert [field for field, _ in errors] == [
        "name", "phone", "phone_number_id", "waba_id", "api_version", "tier", "verify_token", "bot_username",
        "base_url", "messages_per_second", "app_secret", "access_token"]
    assert fields["phone"] == ("Display number: a bot has no WhatsApp number, business account, messaging tier or "
                               "template approvals; leave it empty.")
    assert fields["bot_username"].startswith("Bot username: 5 to 32 Latin letters, digits and underscores ending in")
    assert fields["base_url"] == "Base URL: an address starting with http:// or https://, such as https://api.telegram.org."
    assert fields["messages_per_second"] == ("A Telegram bot sends at most 30 messages per second: give a whole "
                                             "number from 1 to 30.")
    assert fields["app_secret"].startswith("Webhook secret: 5 to 256 Latin letters, digits, dashes and underscores")
    assert fields["access_token"] == "Bot token: a Telegram bot needs the token @BotFather gave for it."
    max_errors = dict(refusal({"name": "M", "channel": "max", "bot_username": "a b", "messages_per_second": 0}))
    assert max_errors["bot_username"].startswith("Bot username: 3 to 64 Latin letters, digits and underscores")
    assert max_errors["messages_per_second"].startswith("A MAX bot sends at most 30 messages per second")
    assert max_errors["access_token"] == ("Bot token: a MAX bot needs the token from business.max.ru (Chat bots → "
                                          "Integration).")
    # A number has no bot username; a rate given as text is not a number.
    assert ("bot_username", "Bot username: only a MAX or Telegram bot has one; leave it empty for a WhatsApp "
                            "number.") in refusal({"name": "N", "phone": "+74951234567", "bot_username": "shop_bot"})
    assert [f for f, _ in refusal({"name": "T", "channel": "telegram", "access_token": TG_TOKEN,
                                   "messages_per_second": "30"})] == ["messages_per_second"]
    assert count() == 0


def test_in_russian_the_refusals_are_russian(app):
    with app.test_request_context(headers={"Accept-Language": "ru"}):
        fields = dict(refusal({"name": "Бот", "channel": "max", "messages_per_second": 50}))
    assert fields["messages_per_second"].startswith("Бот MAX отправляет не больше 30 сообщений в секунду")
    assert fields["access_token"].startswith("Токен бота:")


def test_a_bot_keeps_its_channel_and_a_blank_token_keeps_the_stored_one(app):
    bot = senders.add_sender({"name": "Bot", "channel": "telegram", "access_token": TG_TOKEN})
    number = senders.add_sender({"name": "Number", "phone": "+74951234567"})
    db.session.commit()
    secret = senders.settings_for(bot).app_secret
    assert [f for f, _ in refusal({"channel": "max"}, bot)] == ["channel"]
    assert [f for f, _ in refusal({"channel": "telegram"}, number)] == ["channel"]
    senders.update_sender(bot, {"access_token": "", "bot_username": "shop_bot", "messages_per_second": 10})
    db.session.commit()
    settings = senders.settings_for(bot)
    assert (settings.access_token, settings.app_secret, bot.bot_username, bot.messages_per_second) == (
        TG_TOKEN, secret, "shop_bot", 10)


# --- the pages ---------------------------------------------------------------------------------------------

def test_an_admin_adds_a_telegram_bot_on_its_page_and_never_sees_its_token_or_secret(app, admin_browser):
    shown = page(admin_browser.get("/senders/new?channel=telegram"))
    assert "Add a bot" in shown and "Bot token" in shown and 'value="30"' in shown
    assert "Messaging tier" not in shown and "WhatsApp Business Account ID" not in shown
    form = {"name": "Shop bot", "channel": "telegram", "bot_username": "@shop_bot", "base_url": "",
            "bot_token": TG_TOKEN, "messages_per_second": ""}
    response = post_form(admin_browser, "/senders/new", form, page="/senders/new?channel=telegram")
    assert response.status_code == 302, page(response)
    bot = db.session.scalar(select(Sender).where(Sender.name == "Shop bot"))
    assert (bot.channel, bot.bot_username, bot.base_url, bot.messages_per_second, bot.phone) == (
        "telegram", "shop_bot", "https://api.telegram.org", 30, None)
    shown = page(admin_browser.get(response.headers["Location"]))
    secret = senders.settings_for(bot).app_secret
    assert TG_TOKEN not in shown and secret not in shown
    assert f"Stored: …{TG_TOKEN[-4:]}. Leave the field blank to keep it." in shown
    assert f"Stored: …{secret[-4:]}. Vestnik made it" in shown
    assert f"/webhooks/telegram/{bot.id}" in shown and "Connect webhook" in shown
    assert "Messaging tier" not in shown and "Quality" not in shown
    # Saved again with the token blank: kept.
    edited = post_form(admin_browser, f"/senders/{bot.id}", {**form, "bot_token": "", "messages_per_second": "5"})
    assert edited.status_code == 302
    db.session.expire_all()
    assert senders.settings_for(bot).access_token == TG_TOKEN and bot.messages_per_second == 5
    listed = page(admin_browser.get("/senders"))
    assert "Telegram bot" in listed and "@shop_bot" in listed and TG_TOKEN not in listed


def test_the_bot_page_refuses_with_sentences_and_stores_nothing(app, admin_browser):
    response = post_form(admin_browser, "/senders/new", {"name": "", "channel": "max", "bot_username": "a b",
                                                         "base_url": "nope", "bot_token": "",
                                                         "messages_per_second": "30"},
                         page="/senders/new?channel=max")
    assert response.status_code == 400
    text = page(response)
    for sentence in ("Give the sender a name of at most 120 characters.", "Bot username: 3 to 64 Latin letters",
                     "Base URL: an address starting with http:// or https://, such as https://platform-api2.max.ru.",
                     "Bot token: a MAX bot needs the token from business.max.ru"):
        assert sentence in text
    assert "Bot token" in text and "Messaging tier" not in text  # the bot's form again, not a number's
    assert count() == 0


# --- the API -----------------------------------------------------------------------------------------------

def test_the_api_creates_and_changes_a_bot_returning_only_last_fours(app, call_as):
    created = call_as("POST", "/senders", "admin", json={"name": "Api bot", "channel": "max",
                                                           "access_token": MAX_TOKEN, "bot_username": "api_bot"})
    assert created.status_code == 201, created.json
    data = created.json
    bot = db.session.get(Sender, data["id"])
    secret = senders.settings_for(bot).app_secret
    assert MAX_TOKEN not in str(data) and secret not in str(data)
    assert (data["access_token_last4"], data["app_secret_last4"], data["verify_token_last4"]) == (
        "4321", secret[-4:], None)
    assert (data["phone"], data["bot_username"], data["messages_per_second"], data["base_url"]) == (
        None, "api_bot", 30, "https://platform-api2.max.ru")
    assert data["webhook_url"] == f"{app.config['WEBHOOK_RECEIVER_URL']}/webhooks/max/{bot.id}"
    changed = call_as("PATCH", f"/senders/{bot.id}", "admin", json={"app_secret": "my-own_secret-5678"})
    assert changed.json["app_secret_last4"] == "5678" and changed.json["access_token_last4"] == "4321"
    for body, field in (({"name": "X", "channel": "max", "access_token": MAX_TOKEN, "tier": "TIER_1K"}, "tier"),
                        ({"name": "X", "channel": "max", "access_token": MAX_TOKEN, "bot_username": 7}, "bot_username"),
                        ({"name": "X", "channel": "max", "access_token": MAX_TOKEN, "messages_per_second": 100},
                         "messages_per_second"),
                        ({"name": "X", "channel": "telegram"}, "access_token")):
        assert_problem(call_as("POST", "/senders", "admin", json=body), 400, field=field)
    assert_problem(call_as("PATCH", f"/senders/{bot.id}", "admin", json={"channel": "telegram"}), 400,
                   field="channel")
    assert_problem(call_as("POST", "/senders", "marketer", json={"name": "Y", "channel": "max",
                                                                 "access_token": MAX_TOKEN}), 403)
    assert count() == 1


# --- the CLI -----------------------------------------------------------------------------------------------

def cli(app, *args, **kwargs):
    return app.test_cli_runner().invoke(args=["campaigns", "sender", *args], **kwargs)


def test_the_cli_creates_a_bot_without_a_phone_its_token_from_the_environment(app):
    made = cli(app, "create", "Cli bot", "--channel", "telegram", "--bot-username", "cli_bot", "--token-env",
               "TG_TOKEN", "--mps", "20", env={"TG_TOKEN": TG_TOKEN})
    assert made.exit_code == 0, made.output
    assert made.output.startswith("Created the bot “Cli bot”")
    bot = senders.find_sender("Cli bot")
    assert (bot.channel, bot.bot_username, bot.messages_per_second, bot.phone) == ("telegram", "cli_bot", 20, None)
    assert senders.settings_for(bot).access_token == TG_TOKEN
    listed = cli(app, "list").output
    assert "@cli_bot" in listed and TG_TOKEN not in listed and senders.settings_for(bot).app_secret not in listed
    refused = cli(app, "create", "Bad bot", "--channel", "max", "--tier", "TIER_1K", "--mps", "60")
    assert refused.exit_code == 1
    for sentence in ("Messaging tier: a bot has no WhatsApp number", "A MAX bot sends at most 30 messages per second",
                     "Bot token: a MAX bot needs the token from business.max.ru"):
        assert sentence in refused.output
    no_phone = cli(app, "create", "Number", "--channel", "whatsapp_cloud")
    assert no_phone.exit_code == 1 and "The sender's phone is not a valid number" in no_phone.output
    assert count() == 1


# --- against the sandbox -------------------------------------------------------------------------------------

def sandbox_bot(sandbox, channel: str) -> Sender:
    values = ({"access_token": sandbox_defaults.MAX_TOKEN} if channel == "max"
              else {"access_token": sandbox_defaults.TELEGRAM_TOKEN})
    bot = senders.add_sender({"name": f"Sandbox {channel}", "channel": channel, "base_url": sandbox.url, **values})
    db.session.commit()
    return bot


@pytest.mark.parametrize("channel", ["max", "telegram"])
def test_check_connection_reads_the_bots_username_and_name_from_the_sandbox(app, sandbox, channel):
    bot = sandbox_bot(sandbox, channel)
    senders.check_connection(bot)
    db.session.commit()
    username = sandbox_defaults.MAX_BOT_USERNAME if channel == "max" else sandbox_defaults.TELEGRAM_USERNAME
    assert (bot.bot_username, bot.verified_name, bot.check_error_code) == (username, "Vestnik Sandbox", None)
    assert (bot.quality_rating, bot.provider_tier, bot.messages_per_second) == (None, None, 30)
    [event] = audit_events("sender.checked")
    assert event.details == {"ok": True, "bot_username": username, "name": "Vestnik Sandbox",
                             "messages_per_second": 30}


@pytest.mark.parametrize("channel", ["max", "telegram"])
def test_a_wrong_bot_token_is_a_worded_check_failure(app, sandbox, channel, call_as):
    bot = sandbox_bot(sandbox, channel)
    senders.update_sender(bot, {"access_token": "7000000001:not-the-token" if channel == "telegram" else "wrong"})
    db.session.commit()
    answer = call_as("POST", f"/senders/{bot.id}/check", "admin")
    assert answer.status_code == 200
    assert answer.json["check_error"]["code"] and answer.json["check_error"]["sentence"]
    assert "not-the-token" not in str(answer.json)


@pytest.mark.parametrize("channel", ["max", "telegram"])
def test_connect_webhook_subscribes_the_bot_at_the_sandbox_with_its_own_secret(app, sandbox, channel,
                                                                               admin_browser, call_as):
    app.config["WEBHOOK_RECEIVER_URL"] = "http://127.0.0.1:8026"
    bot = sandbox_bot(sandbox, channel)
    url = f"http://127.0.0.1:8026/webhooks/{channel}/{bot.id}"
    response = post_form(admin_browser, f"/senders/{bot.id}/webhook", {}, page=f"/senders/{bot.id}")
    assert response.status_code == 302
    shown = page(admin_browser.get(response.headers["Location"]))
    assert f"Webhook connected: the platform posts the bot's updates to {url}." in shown
    if channel == "max":
        [subscribed] = [b for b in max_calls.ok(sandbox, "GET", "/bots") if b["token"]]
        assert (subscribed["subscription_url"], subscribed["subscription_secret"]) == (url, True)
    else:
        [subscribed] = telegram_calls.control(sandbox, "bots", method="GET")
        assert (subscribed["webhook_url"], subscribed["secret_token"]) == (url, True)
    [event] = audit_events("sender.webhook_connected")
    assert event.details == {"ok": True, "url": url}
    assert call_as("POST", f"/senders/{bot.id}/webhook", "admin").json == {"connected": True, "url": url}
    connected = cli(app, "connect-webhook", bot.name).output.strip()
    assert connected == f"“{bot.name}”: the platform posts its updates to {url}."


def test_a_refused_or_unreachable_subscription_is_worded_and_audited(app, sandbox, call_as):
    bot = sandbox_bot(sandbox, "telegram")
    senders.update_sender(bot, {"base_url": "http://127.0.0.1:9"})  # nothing listens there
    db.session.commit()
    refused = call_as("POST", f"/senders/{bot.id}/webhook", "admin")
    assert refused.status_code == 502 and refused.json["detail"].startswith("The webhook could not be connected: ")
    [event] = audit_events("sender.webhook_connected")
    assert event.details["ok"] is False and event.details["code"]
    failed = cli(app, "connect-webhook", bot.name)
    assert failed.exit_code == 1 and "could not be connected" in failed.output
    # A real platform never gets a plain-http address of ours: said before anything is sent.
    senders.update_sender(bot, {"base_url": ""})
    db.session.commit()
    refused = call_as("POST", f"/senders/{bot.id}/webhook", "admin")
    assert_problem(refused, 409, detail="Telegram bot posts updates only to an https:// address it can reach")
    number = senders.add_sender({"name": "Number", "phone": "+74951234567"})
    db.session.commit()
    assert_problem(call_as("POST", f"/senders/{number.id}/webhook", "admin"), 409,
                   detail="Only a MAX or Telegram bot's webhook is connected from Vestnik")


# --- the embedded default ------------------------------------------------------------------------------------

def test_ensure_sandbox_seeds_the_two_sandbox_bots_exactly_once(app, tmp_path):
    app.config.update(SANDBOX_URL="http://127.0.0.1:9", SANDBOX_STATE_FILE=str(tmp_path / "sandbox.json"))
    first = cli(app, "ensure-sandbox")
    assert first.exit_code == 0, first.output
    assert "Created the sandbox bot “Sandbox MAX bot” (max, @vestnik_sandbox_bot, http://127.0.0.1:9)." in first.output
    assert "Created the sandbox bot “Sandbox Telegram bot” (telegram, @vestnik_sandbox_bot" in first.output
    again = cli(app, "ensure-sandbox")
    assert "There is the sandbox bot “Sandbox MAX bot”" in again.output and "Created" not in again.output
    bots = {bot.channel: bot for bot in senders.sandbox_bots()}
    assert count() == 4 and sorted(bots) == ["max", "telegram"]  # and the sandbox SMS sender
    assert senders.settings_for(bots["max"]).app_secret == sandbox_defaults.MAX_WEBHOOK_SECRET
    assert senders.settings_for(bots["telegram"]).access_token == sandbox_defaults.TELEGRAM_TOKEN
    # Renamed, a sandbox bot is still the sandbox's bot: not made a second time.
    senders.update_sender(bots["max"], {"name": "Our MAX bot"})
    db.session.commit()
    assert "Created the sandbox bot" not in cli(app, "ensure-sandbox").output
    assert count() == 4


def test_connect_sandbox_bots_subscribes_both_at_the_running_sandbox(app, sandbox):
    app.config.update(SANDBOX_URL=sandbox.url, WEBHOOK_RECEIVER_URL="http://127.0.0.1:8026")
    senders.ensure_sandbox_bots()
    db.session.commit()
    result = cli(app, "connect-sandbox-bots", "--wait", "5")
    assert result.exit_code == 0, result.output
    bots = {bot.channel: bot for bot in senders.sandbox_bots()}
    [max_bot] = [b for b in max_calls.ok(sandbox, "GET", "/bots") if b["token"]]
    assert max_bot["subscription_url"] == f"http://127.0.0.1:8026/webhooks/max/{bots['max'].id}"
    [telegram_bot] = telegram_calls.control(sandbox, "bots", method="GET")
    assert telegram_bot["webhook_url"] == f"http://127.0.0.1:8026/webhooks/telegram/{bots['telegram'].id}"


def test_connect_sandbox_bots_says_which_it_could_not_connect_when_the_sandbox_never_answers(app):
    app.config.update(SANDBOX_URL="http://127.0.0.1:9")
    senders.ensure_sandbox_bots()
    db.session.commit()
    result = cli(app, "connect-sandbox-bots")
    assert result.exit_code == 1
    assert "Not connected: “Sandbox MAX bot”" in result.output
    assert "Not connected: “Sandbox Telegram bot”" in result.output
