"""SMS senders: an SMSC account added with its login, password and alpha name (every refusal naming its field),
its password kept encrypted, the balance check against the real sandbox, its status URL carrying the secret, the
webhook endpoint taking the sandbox's real reports through the durable intake and refusing a wrong secret, and
the embedded default's sandbox SMS sender."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from campaigns import sandbox_callbacks, senders
from campaigns.feedback.models import WebhookEvent
from campaigns.models import Sender
from channels.base import DeliveryStatus, Outbound
from channels.registry import channel_for
from channels.sandbox import defaults as sandbox_defaults
from extensions import db
from tests.channels import sms_calls


def sms_values(sandbox=None, **overrides):
    values = {"name": "Shop SMS", "channel": "smsc", "login": "shop-login", "access_token": "pw-123",
              "alpha_name": "Shop24"}
    if sandbox is not None:
        values["base_url"] = sandbox.url
    return {**values, **overrides}


def refused_fields(values: dict) -> set[str | None]:
    with pytest.raises(senders.SenderError) as refused:
        senders.add_sender(values)
    db.session.rollback()
    return {field for field, _sentence in refused.value.field_errors}


def test_an_sms_sender_is_saved_with_its_login_alpha_name_and_secrets_encrypted(app):
    sender = senders.add_sender(sms_values())
    db.session.commit()
    assert (sender.channel, sender.login, sender.alpha_name, sender.phone, sender.base_url,
            sender.messages_per_second) == ("smsc", "shop-login", "Shop24", None, "https://smsc.ru", 30)
    assert "pw-123" not in (sender.access_token_encrypted or "") and sender.app_secret_encrypted
    settings = senders.settings_for(sender)
    assert (settings.login, settings.alpha_name, settings.access_token) == ("shop-login", "Shop24", "pw-123")
    assert senders.is_sms(sender) and not senders.is_bot(sender)
    assert senders.display_name(sender) == "Shop SMS (SMS: Shop24)"
    url = senders.webhook_url(sender)
    assert url.startswith(f"{app.config['WEBHOOK_RECEIVER_URL'].rstrip('/')}/webhooks/sms/{sender.id}?secret=")
    assert parse_qs(urlsplit(url).query)["secret"] == [settings.app_secret]


@pytest.mark.parametrize(("changes", "field"), [
    ({"alpha_name": "ShopTwentyFour"}, "alpha_name"),  # 14 characters
    ({"alpha_name": "Магазин"}, "alpha_name"),
    ({"alpha_name": "12345"}, "alpha_name"),  # no letter
    ({"alpha_name": ""}, "alpha_name"),
    ({"login": ""}, "login"),
    ({"login": "two words"}, "login"),
    ({"access_token": ""}, "access_token"),
    ({"phone": "+74951234567"}, "phone"),
    ({"bot_username": "shop_bot"}, "bot_username"),
    ({"messages_per_second": 500}, "messages_per_second"),
])
def test_a_wrong_setting_is_refused_naming_its_field(app, changes, field):
    assert refused_fields(sms_values(**changes)) == {field}


def test_a_whatsapp_number_refuses_a_login_and_a_sender_cannot_become_an_sms_sender(app):
    with pytest.raises(senders.SenderError):
        senders.create_sender("Number", "+74951234567", channel="sandbox", login="x")
    db.session.rollback()
    sender = senders.add_sender(sms_values())
    with pytest.raises(senders.SenderError):
        senders.update_sender(sender, {"channel": "sandbox"})


def test_the_connection_check_reads_the_balance_from_the_sandbox(app, sandbox):
    sender = senders.add_sender(sms_values(sandbox, login=sandbox_defaults.SMS_LOGIN,
                                           access_token=sandbox_defaults.SMS_PASSWORD))
    senders.check_connection(sender)
    assert sender.check_error_code is None and "10000.00" in sender.verified_name
    wrong = senders.add_sender(sms_values(sandbox, name="Wrong", access_token="nope"))
    senders.check_connection(wrong)
    assert wrong.check_error_code == "2" and "SMSC" in senders.check_error_sentence(wrong)


def test_the_embedded_defaults_sandbox_sms_sender_is_made_once(app):
    first, created = senders.ensure_sandbox_sms()
    again, created_again = senders.ensure_sandbox_sms()
    assert created and not created_again and first.id == again.id
    assert (first.login, first.alpha_name, first.base_url) == (
        sandbox_defaults.SMS_LOGIN, sandbox_defaults.SMS_ALPHA_NAME, app.config["SANDBOX_URL"].rstrip("/"))


def _stored() -> list[WebhookEvent]:
    db.session.rollback()
    return list(db.session.scalars(select(WebhookEvent).order_by(WebhookEvent.id)))


def test_the_sandboxs_real_reports_are_taken_through_the_intake_and_a_wrong_secret_is_refused(
        app, client, sandbox, callback_receiver):
    sender = senders.add_sender(sms_values(sandbox, login=sandbox_defaults.SMS_LOGIN,
                                           access_token=sandbox_defaults.SMS_PASSWORD))
    db.session.commit()
    sandbox.configure(callback_delays_ms=[0, 10])
    # The sandbox posts to a recording receiver first (our app has no port here); each post is replayed to the
    # endpoint as it arrived, path and query included.
    app.config["WEBHOOK_RECEIVER_URL"] = callback_receiver.url.removesuffix("/webhooks")
    sandbox_callbacks.point_sms(sender)
    sms_calls.send(sandbox, [Outbound(f"9-{sender.id}", "+79161234501", text="Привет")])
    callbacks = callback_receiver.wait_for(2)
    for callback in callbacks:
        assert callback.path.startswith(f"/webhooks/sms/{sender.id}?secret=")
        response = client.post(callback.path, data=callback.body,
                               headers={"Content-Type": callback.headers["Content-Type"]})
        assert response.status_code == 200, response.get_data(as_text=True)
    stored = _stored()
    assert [(event.sender_id, event.channel) for event in stored] == [(sender.id, "sms")] * 2
    parsed = channel_for(senders.settings_for(sender), None).parse_webhook(stored[-1].body)
    assert {event.status for body in stored
            for event in channel_for(senders.settings_for(sender), None).parse_webhook(body.body)} == {
        DeliveryStatus.SENT, DeliveryStatus.DELIVERED}
    assert parsed[0].key == f"9-{sender.id}"

    path = callbacks[0].path.split("?")[0]
    for query in ("?secret=wrong", ""):
        assert client.post(path + query, data=callbacks[0].body,
                           headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 403
    other = db.session.scalar(select(Sender).where(Sender.channel == "smsc"))
    assert client.post(f"/webhooks/max/{other.id}{callbacks[0].path[len(path):]}", data=callbacks[0].body
                       ).status_code == 404  # another channel's address
    assert len(_stored()) == 2


def test_connect_webhook_points_the_sandboxs_account_and_says_where_smscs_is_set(app, sandbox):
    app.config["SANDBOX_URL"] = sandbox.url
    sender = senders.add_sender(sms_values(sandbox, login=sandbox_defaults.SMS_LOGIN,
                                           access_token=sandbox_defaults.SMS_PASSWORD))
    result = senders.connect_webhook(sender)
    assert result.connected and result.url == senders.webhook_url(sender)
    [account] = [item for item in sms_calls.accounts(sandbox) if item["login"] == sandbox_defaults.SMS_LOGIN]
    assert account["callback_url"] == senders.webhook_url(sender)

    # SMSC.ru itself has no call for it: the admin sets the URL in the account, and the sentence gives it.
    real = senders.add_sender(sms_values(name="Real SMSC"))
    manual = senders.connect_webhook(real)
    assert (manual.connected, manual.code) == (False, "webhook_not_by_api")
    assert senders.webhook_url(real) in str(manual.sentence) and "SMSC.ru" in str(manual.sentence)
    db.session.commit()
    from tests.records import audit_events
    urls = [event.details["url"] for event in audit_events("sender.webhook_connected")]
    assert urls == [senders.webhook_url(sender).split("?")[0], senders.webhook_url(real).split("?")[0]]  # no secret


def test_a_test_send_from_an_sms_sender_is_the_templates_sms_text_to_the_number(app, sandbox):
    from campaigns import template_approvals, test_sends
    from campaigns.models import TemplateStatus
    from channels.base import ResultKind
    from tests.campaign_world import add_template

    sender = senders.add_sender(sms_values(sandbox, login=sandbox_defaults.SMS_LOGIN,
                                           access_token=sandbox_defaults.SMS_PASSWORD))
    template = add_template("sms_test_send", status=TemplateStatus.DRAFT,
                            buttons=[{"type": "url", "text": "Каталог", "url": "https://shop.example/autumn"}])
    db.session.commit()
    # No provider approves an SMS: any template may go.
    assert template_approvals.status_for(template, sender) is TemplateStatus.APPROVED
    assert template_approvals.accounts(sender) == []
    result = test_sends.send_test(sender, template, "8 903 123-45-01", {"1": "Ира"})
    assert result.kind is ResultKind.ACCEPTED, result.sentence
    [message] = sms_calls.messages(sandbox)
    assert (message["phone"], message["sender"]) == ("+79031234501", "Shop24")
    assert message["text"] == "Здравствуйте, Ира! Скидка 20% в Москве.\nКаталог: https://shop.example/autumn"


def test_the_sender_page_shows_the_status_url_and_sets_it_at_the_sandbox(app, sandbox, admin_browser):
    from tests.helpers import post_form

    app.config["SANDBOX_URL"] = sandbox.url
    sender = senders.add_sender(sms_values(sandbox, login=sandbox_defaults.SMS_LOGIN,
                                           access_token=sandbox_defaults.SMS_PASSWORD))
    db.session.commit()
    shown = admin_browser.get(f"/senders/{sender.id}").get_data(as_text=True)
    assert f"/webhooks/sms/{sender.id}?secret=" in shown and "Set the status URL" in shown
    response = post_form(admin_browser, f"/senders/{sender.id}/webhook", {}, page=f"/senders/{sender.id}")
    assert response.status_code == 302
    flashed = admin_browser.get(response.headers["Location"]).get_data(as_text=True)
    receiver = app.config["WEBHOOK_RECEIVER_URL"].rstrip("/")
    assert f"Status URL set: the gateway posts its delivery reports to {receiver}/webhooks/sms/{sender.id}." in flashed
    [account] = [item for item in sms_calls.accounts(sandbox) if item["login"] == sandbox_defaults.SMS_LOGIN]
    assert account["callback_url"] == senders.webhook_url(sender)


def test_the_cli_creates_an_sms_sender_with_its_login_alpha_name_and_password_from_the_environment(app):
    made = app.test_cli_runner().invoke(args=[
        "campaigns", "sender", "create", "Cli SMS", "--channel", "smsc", "--login", "shop-login", "--alpha-name",
        "Shop24", "--token-env", "SMS_PASSWORD", "--mps", "20"], env={"SMS_PASSWORD": "secret-password"})
    assert made.exit_code == 0, made.output
    assert made.output.startswith("Created the SMS sender “Cli SMS”") and "secret-password" not in made.output
    sender = senders.find_sender("Cli SMS")
    assert (sender.channel, sender.login, sender.alpha_name, sender.messages_per_second, sender.phone) == (
        "smsc", "shop-login", "Shop24", 20, None)
    assert senders.settings_for(sender).access_token == "secret-password"
    refused = app.test_cli_runner().invoke(args=[
        "campaigns", "sender", "create", "Bad SMS", "--channel", "smsc", "--login", "x", "--alpha-name",
        "Магазин", "--token-env", "SMS_PASSWORD"], env={"SMS_PASSWORD": "p"})
    assert refused.exit_code == 1 and senders.find_sender("Bad SMS") is None


def test_connect_sandbox_bots_points_the_sandbox_sms_account_as_make_run_does(app, sandbox):
    app.config.update(SANDBOX_URL=sandbox.url, WEBHOOK_RECEIVER_URL="http://127.0.0.1:8026")
    senders.ensure_sandbox_bots()
    sms, _created = senders.ensure_sandbox_sms()
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["campaigns", "sender", "connect-sandbox-bots", "--wait", "5"])
    assert result.exit_code == 0, result.output
    [account] = [item for item in sandbox.control("GET", "/_sandbox/sms/accounts")
                 if item["login"] == sandbox_defaults.SMS_LOGIN]
    assert account["callback_url"] == senders.webhook_url(sms)
    assert senders.settings_for(sms).app_secret not in result.output
