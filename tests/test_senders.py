"""Senders: secrets encrypted at rest (and rotated), created and changed in the pages, the API and the
CLI (secrets from the environment or standard input, never an argument), the connection checked
against the real sandbox, and the embedded default's sandbox sender."""

from __future__ import annotations

import html
import json
import re
import socket

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, select

from campaigns import sender_secrets, senders
from campaigns.models import Sender
from channels import http
from channels.base import Outbound, Parameter, TemplateContent
from channels.registry import channel_for
from channels.sandbox import defaults as sandbox_defaults
from compliance.audit import AuditEvent
from extensions import db
from tests.channels.sandbox_calls import approved
from tests.helpers import assert_problem, post_form, signed_in_client
from tests.records import audit_events
from tests.sandbox_provider import SandboxProcess

TOKEN = "EAAGm0PX4ZCpsBAKZCtokenForTests9876"


def cloud(**fields) -> Sender:
    values = {"channel": "whatsapp_cloud", "phone_number_id": "106540352242922", "waba_id": "102290129340398",
              "access_token": TOKEN, "app_secret": "0123456789abcdef-secret", **fields}
    sender = senders.create_sender("Cloud", "+74951112233", **values)
    db.session.commit()
    return sender


def stored_row(sender_id: int) -> dict:
    return dict(db.session.execute(select(Sender.__table__).where(Sender.id == sender_id)).mappings().one())


# --- secrets at rest -------------------------------------------------------------------------------------

def test_a_stored_secret_is_not_the_secret_and_only_its_last_four_are_kept_in_clear(app):
    sender = cloud()
    row = stored_row(sender.id)
    assert TOKEN not in str(row) and "0123456789abcdef-secret" not in str(row)
    assert row["access_token_last4"] == "9876" and row["app_secret_last4"] == "cret"
    assert sender_secrets.decrypt(row["access_token_encrypted"], "Cloud") == TOKEN
    assert senders.settings_for(sender).access_token == TOKEN
    # Never in the audit log either: only which secrets changed.
    [created] = audit_events("sender.created")
    assert TOKEN not in str(created.details) and "9876" not in str(created.details)
    assert created.details["secrets_changed"] == ["access_token", "app_secret"]


def test_rotation_decrypts_with_every_key_encrypts_with_the_first_and_rotate_moves_to_it(app):
    old_key, new_key = app.config["SECRETS_KEYS"][0], Fernet.generate_key().decode()
    sender = cloud()
    app.config["SECRETS_KEYS"] = (new_key, old_key)
    assert senders.settings_for(sender).access_token == TOKEN  # the old key still opens it
    assert senders.rotate_secrets() == (2, [])
    db.session.commit()
    app.config["SECRETS_KEYS"] = (new_key,)
    assert senders.settings_for(db.session.get(Sender, sender.id)).access_token == TOKEN
    app.config["SECRETS_KEYS"] = (old_key,)
    with pytest.raises(sender_secrets.SecretError,
                       match="secret of the sender “Cloud” cannot be decrypted with the keys in VESTNIK_SECRETS_KEY"):
        senders.settings_for(sender)


def test_rotation_goes_on_past_a_sender_it_cannot_decrypt_names_it_and_exits_1(app):
    old_key, new_key = app.config["SECRETS_KEYS"][0], Fernet.generate_key().decode()
    lost = senders.create_sender("Lost key", "+74957654321", channel="sandbox")
    cloud()
    lost.app_secret_encrypted = "gAAAAABnot-a-token-of-ours"  # saved with a key that is gone
    db.session.commit()
    kept = stored_row(lost.id)
    app.config["SECRETS_KEYS"] = (new_key, old_key)
    result = cli(app, "rotate-secrets")
    assert result.exit_code == 1
    assert "A stored secret of the sender “Lost key” cannot be decrypted" in result.output
    assert "Re-encrypted 2 secrets with the first key; 1 sender(s) could not be" in result.output
    app.config["SECRETS_KEYS"] = (new_key,)
    db.session.expire_all()
    assert senders.settings_for(senders.find_sender("Cloud")).access_token == TOKEN  # the other one was rotated
    # The skipped sender is left as it was, its readable token too (never half on the new key).
    assert stored_row(lost.id)["access_token_encrypted"] == kept["access_token_encrypted"]


def test_last_four_never_shows_a_short_secret_whole():
    assert sender_secrets.last_four("abcdefgh") == "efgh"
    assert sender_secrets.last_four("abcd") == "" and sender_secrets.last_four("") == ""


# --- the service -----------------------------------------------------------------------------------------

def test_a_sandbox_sender_needs_only_a_name_and_a_phone(app):
    sender = senders.create_sender("Try", "+7 495 000-00-09")
    assert (sender.channel, sender.phone_number_id, sender.waba_id, sender.base_url, sender.api_version) == (
        "sandbox", "100000000000001", "200000000000001", app.config["SANDBOX_URL"], "v23.0")
    settings = senders.settings_for(sender)
    assert (settings.access_token, settings.app_secret, settings.account_id) == (
        "sandbox-token", "sandbox-secret", "200000000000001")


def test_a_cloud_sender_is_refused_without_its_ids_and_token_naming_each_field(app):
    with pytest.raises(senders.SenderError) as refused:
        senders.create_sender("Cloud", "+74951112233", channel="whatsapp_cloud", base_url="ftp://x",
                              api_version="23", access_token="has space")
    fields = [field for field, _sentence in refused.value.field_errors]
    assert fields == ["phone_number_id", "waba_id", "base_url", "api_version", "access_token", "access_token"]
    assert "Phone number ID: the digits of the number's id at the provider" in refused.value.errors[0]
    with pytest.raises(senders.SenderError, match=re.escape(
            "Channel: choose the sandbox, the WhatsApp Cloud API, a MAX bot or a Telegram bot.")):
        senders.create_sender("X", "+74951112234", channel="sms")
    assert db.session.scalar(select(func.count()).select_from(Sender)) == 0


def test_an_edit_keeps_a_secret_given_blank_and_changes_one_given(app):
    sender = cloud()
    senders.update_sender(sender, {"access_token": "", "api_version": "v24.0"})
    db.session.commit()
    assert senders.settings_for(sender).access_token == TOKEN and sender.api_version == "v24.0"
    senders.update_sender(sender, {"access_token": "EAAG-new-token-5555"})
    db.session.commit()
    assert senders.settings_for(sender).access_token == "EAAG-new-token-5555" and sender.access_token_last4 == "5555"
    [event] = [e for e in audit_events("sender.updated") if "secrets_changed" in e.details]
    assert event.details == {"secrets_changed": ["access_token"]}


# --- the pages -------------------------------------------------------------------------------------------

def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_an_admin_adds_a_cloud_sender_on_the_page_and_never_sees_its_secret_again(app, admin_browser, make_user):
    form = {"name": "Shop", "phone": "+7 495 765-43-21", "channel": "whatsapp_cloud",
            "phone_number_id": "106540352242922", "waba_id": "102290129340398", "base_url": "", "api_version": "",
            "access_token": TOKEN, "app_secret": "", "verify_token": "verify-me-1234", "tier": "TIER_250",
            "messages_per_second": "80"}
    response = post_form(admin_browser, "/senders/new", form)
    assert response.status_code == 302
    sender = db.session.scalar(select(Sender).where(Sender.name == "Shop"))
    shown = page(admin_browser.get(response.headers["Location"]))
    assert TOKEN not in shown and "verify-me-1234" not in shown
    assert "Stored: …9876. Leave the field blank to keep it." in shown and "Stored: …1234." in shown
    assert sender.base_url == "https://graph.facebook.com" and sender.api_version == "v23.0"
    # Saving the form again with the secrets blank keeps them.
    post_form(admin_browser, f"/senders/{sender.id}", {**form, "access_token": "", "verify_token": "",
                                                         "messages_per_second": "40"})
    db.session.expire_all()
    assert senders.settings_for(sender).access_token == TOKEN and sender.messages_per_second == 40
    listed = page(admin_browser.get("/senders"))
    assert "Shop" in listed and "WhatsApp Cloud API" in listed and TOKEN not in listed
    marketer = signed_in_client(app, make_user("marketer").email)
    assert marketer.get("/senders").status_code == 403 and marketer.get("/senders/new").status_code == 403


def test_the_page_refuses_with_sentences_beside_the_form(admin_browser):
    response = post_form(admin_browser, "/senders/new", {"name": "", "phone": "12", "channel": "whatsapp_cloud",
                                                         "tier": "TIER_250", "messages_per_second": "80"})
    assert response.status_code == 400
    text = page(response)
    assert "Give the sender a name of at most 120 characters." in text
    assert "Access token: the WhatsApp Cloud API needs the system user's access token." in text
    assert db.session.scalar(select(func.count()).select_from(Sender)) == 0


# --- the API ---------------------------------------------------------------------------------------------

def test_the_api_creates_reads_and_changes_senders_returning_only_last_fours(call_as):
    body = {"name": "Api", "phone": "+74952223344", "channel": "whatsapp_cloud", "phone_number_id": "1065",
            "waba_id": "1022", "access_token": TOKEN}
    created = call_as("POST", "/senders", "admin", json=body)
    assert created.status_code == 201, created.json
    data = created.json
    assert TOKEN not in str(data) and data["access_token_last4"] == "9876" and data["app_secret_last4"] is None
    assert (data["channel"], data["base_url"], data["check_error"]) == ("whatsapp_cloud",
                                                                        "https://graph.facebook.com", None)
    read = call_as("GET", f"/senders/{data['id']}", "reviewer")
    assert read.status_code == 200 and read.json == data
    changed = call_as("PATCH", f"/senders/{data['id']}", "admin", json={"app_secret": "hmac-secret-4321"})
    assert changed.json["app_secret_last4"] == "4321" and changed.json["access_token_last4"] == "9876"
    assert_problem(call_as("POST", "/senders", "marketer", json=body), 403)
    assert_problem(call_as("PATCH", f"/senders/{data['id']}", "marketer", json={}), 403)
    assert_problem(call_as("GET", "/senders/999", "admin"), 404, detail="There is no sender with this id.")
    refused = call_as("POST", "/senders", "admin", json={**body, "name": "Other", "phone": "+74952223345",
                                                         "waba_id": "12ab", "colour": "red"})
    problem = assert_problem(refused, 400, field="waba_id")
    assert problem["errors"][0] == {"field": None, "message": "Unknown sender field: colour."}
    duplicate = call_as("POST", "/senders", "admin", json=body)
    assert_problem(duplicate, 400, detail="A sender with this name or phone already exists.")


def test_the_api_refuses_odd_bodies_with_sentences_not_a_500(call_as):
    """A key named like a parameter of the service, or a tier that is not text, is the caller's mistake."""
    body = {"name": "Api", "phone": "+74952223344"}
    refused = call_as("POST", "/senders", "admin", json={**body, "actor": 1})
    assert_problem(refused, 400, detail="Unknown sender field: actor.")
    for tier in (["TIER_1K"], {"a": 1}):
        refused = call_as("POST", "/senders", "admin", json={**body, "tier": tier})
        assert_problem(refused, 400, field="tier")
    # A setting given as something other than text is refused by name, never replaced with the default.
    for key, value in (("base_url", 8025), ("base_url", ["http://127.0.0.1:8025"]), ("api_version", 23),
                       ("phone_number_id", 100000000000001), ("channel", ["whatsapp_cloud"])):
        refused = call_as("POST", "/senders", "admin", json={**body, key: value})
        assert_problem(refused, 400, field=key)
    created = call_as("POST", "/senders", "admin", json=body)
    assert created.status_code == 201
    refused = call_as("PATCH", f"/senders/{created.json['id']}", "admin", json={"tier": ["TIER_1K"]})
    assert_problem(refused, 400, field="tier")
    refused = call_as("PATCH", f"/senders/{created.json['id']}", "admin", json={"base_url": {"host": "x"}})
    assert_problem(refused, 400, detail="Base URL: an address starting with http:// or https://", field="base_url")
    assert db.session.scalar(select(func.count()).select_from(Sender)) == 1


# --- the CLI ---------------------------------------------------------------------------------------------

def cli(app, *args, **kwargs):
    return app.test_cli_runner().invoke(args=["campaigns", "sender", *args], **kwargs)


def test_the_cli_reads_secrets_from_the_environment_or_standard_input_never_an_argument(app):
    made = cli(app, "create", "Env", "+74953334455", "--channel", "whatsapp_cloud", "--phone-number-id", "11",
               "--waba-id", "22", "--token-env", "WA_TOKEN", "--app-secret-env", "-", "--verify-token-env", "-",
               "--tier", "TIER_1K", "--mps", "60", env={"WA_TOKEN": TOKEN}, input="secret-from-stdin-7777\nvt-0000\n")
    assert made.exit_code == 0, made.output
    sender = senders.find_sender("Env")
    settings = senders.settings_for(sender)
    assert (settings.access_token, settings.app_secret, settings.verify_token) == (
        TOKEN, "secret-from-stdin-7777", "vt-0000")
    assert (sender.tier, sender.messages_per_second) == ("TIER_1K", 60)
    listed = cli(app, "list").output
    assert "access_token=…9876" in listed and TOKEN not in listed and "secret-from-stdin" not in listed
    # There is no option that takes a secret's value.
    assert cli(app, "create", "X", "+74953334456", "--channel", "whatsapp_cloud", "--token", TOKEN).exit_code == 2
    unset = cli(app, "create", "Y", "+74953334457", "--channel", "whatsapp_cloud", "--phone-number-id", "1",
                "--waba-id", "2", "--token-env", "NOT_SET_ANYWHERE")
    assert unset.exit_code == 1 and "the environment variable NOT_SET_ANYWHERE is not set" in unset.output
    refused = cli(app, "create", "Z", "+74953334458", "--channel", "whatsapp_cloud")
    assert refused.exit_code == 1
    assert "Access token: the WhatsApp Cloud API needs the system user's access token." in refused.output
    assert senders.find_sender("Z") is None


def test_ensure_sandbox_makes_one_sandbox_sender_however_often_it_runs(app):
    first = cli(app, "ensure-sandbox")
    assert first.exit_code == 0 and first.output.startswith("Created the sandbox sender “Sandbox” (+74950000001")
    assert cli(app, "ensure-sandbox").output.startswith("There is the sandbox sender “Sandbox”")
    # Beside it, the two sandbox bots and the sandbox SMS sender.
    [sender] = [s for s in senders.list_senders() if not senders.is_bot(s) and not senders.is_sms(s)]
    assert (sender.phone_number_id, sender.waba_id, sender.base_url) == (
        "100000000000001", "200000000000001", app.config["SANDBOX_URL"])
    senders.update_sender(sender, {"name": "Renamed sandbox"})
    db.session.commit()
    app.config["VESTNIK_ENV"] = "production"
    skipped = cli(app, "ensure-sandbox")
    assert skipped.exit_code == 0 and skipped.output.startswith("Production mode: no sandbox sender is created")
    numbers = [s.name for s in senders.list_senders() if not senders.is_bot(s) and not senders.is_sms(s)]
    assert numbers == ["Renamed sandbox"]


def test_ensure_sandbox_points_a_sandbox_not_yet_running_at_the_receiver_through_its_state_file(app, tmp_path):
    app.config.update(SANDBOX_URL="http://127.0.0.1:9", SANDBOX_STATE_FILE=str(tmp_path / "sandbox.json"),
                      WEBHOOK_RECEIVER_URL="http://127.0.0.1:8026")  # port 9: nothing listens, as before make run
    result = cli(app, "ensure-sandbox")
    sender = senders.find_sender(senders.SANDBOX_NAME)
    url = f"http://127.0.0.1:8026/webhooks/whatsapp/{sender.id}"
    assert result.exit_code == 0 and f"The sandbox posts its callbacks to {url}." in result.output
    assert cli(app, "ensure-sandbox").exit_code == 0  # every run again, changing nothing
    [kept] = json.loads((tmp_path / "sandbox.json").read_text())["numbers"]
    assert (kept["phone_number_id"], kept["callback_url"]) == (sender.phone_number_id, url)
    assert kept["app_secret"] == senders.settings_for(sender).app_secret  # it signs, we check, with this one
    with SandboxProcess("--state-file", str(tmp_path / "sandbox.json")) as sandbox:  # as the Procfile starts it
        numbers = sandbox.control("GET", "/_sandbox/numbers")
    [number] = [n for n in numbers if n["phone_number_id"] == sender.phone_number_id]
    assert (number["callback_url"], number["app_secret"]) == (url, True)  # the control API hides the secret


# --- checking the connection against the real sandbox -----------------------------------------------------

def test_check_connection_stores_quality_tier_and_throughput_from_the_sandbox(app, sandbox, sandbox_sender):
    sandbox.add_number("100000000000001", tier="TIER_10K", quality="YELLOW", throughput="HIGH")
    senders.check_connection(sandbox_sender)
    db.session.commit()
    assert (sandbox_sender.quality_rating, sandbox_sender.provider_tier, sandbox_sender.tier) == (
        "YELLOW", "TIER_10K", "TIER_10K")
    assert sandbox_sender.messages_per_second == 1000 and sandbox_sender.check_error_code is None
    assert sandbox_sender.checked_at is not None
    [event] = audit_events("sender.checked")
    assert event.details["ok"] is True and event.details["quality"] == "YELLOW"


def test_a_cloud_sender_pointed_at_the_sandbox_without_idempotency_gets_two_messages_for_one_repeated_key(
        app, sandbox):
    # How tests of a channel that is not idempotent run: a whatsapp_cloud sender (which plans for a repeat to be
    # a second message) on the sandbox with idempotency off (which makes it one, as the real Cloud API does).
    approved(sandbox)
    sandbox.configure(idempotency=False)
    sender = senders.create_sender(
        "Cloud on the sandbox", "+74950000001", channel="whatsapp_cloud", base_url=sandbox.url,
        phone_number_id=sandbox_defaults.PHONE_NUMBER_ID, waba_id=sandbox_defaults.WABA_ID,
        access_token=sandbox_defaults.TOKEN, app_secret=sandbox_defaults.APP_SECRET)
    db.session.commit()
    settings = senders.settings_for(sender)
    message = Outbound("repeated-key", "+79001234501", template=TemplateContent(
        "order_ready", "ru", body=(Parameter("Анна"), Parameter("42"))))

    def send_twice(session):
        channel = channel_for(settings, session)
        assert channel.capabilities.idempotent_sends is False

        async def twice():
            return await channel.send([message]) + await channel.send([message])

        return twice()

    first, again = http.run(send_twice)
    assert first.accepted and again.accepted and first.provider_id != again.provider_id
    ledger = sandbox.ledger()
    assert ledger["counts"]["accepted"] == 2 and ledger["counts"]["duplicates"] == 0
    assert [m["key"] for m in ledger["messages"]] == ["repeated-key", "repeated-key"]


def test_a_bad_token_is_stored_as_a_sentence_not_a_500(app, sandbox, sandbox_sender, admin_browser, call_as):
    senders.update_sender(sandbox_sender, {"access_token": "wrong-token"})
    db.session.commit()
    response = post_form(admin_browser, f"/senders/{sandbox_sender.id}/check", {}, page=f"/senders/{sandbox_sender.id}")
    assert response.status_code == 302
    shown = page(admin_browser.get(response.headers["Location"]))
    db.session.expire_all()
    stored = db.session.get(Sender, sandbox_sender.id)
    assert stored.check_error_code == "190" and stored.check_error_params == {}
    sentence = senders.check_error_sentence(stored)
    assert sentence == ("The provider refused the sender's access token: it is invalid, expired or revoked. Save a "
                        "new token on the sender's page.")
    assert f"The connection check failed: {sentence}" in shown
    assert re.search(r'id="sender-check-error">[^<]+<', shown)
    checked = call_as("POST", f"/senders/{sandbox_sender.id}/check", "admin")
    assert checked.status_code == 200 and checked.json["check_error"] == {"code": "190", "sentence": sentence}
    result = cli(app, "check", "Sandbox")
    assert result.exit_code == 1 and f"failed (190): {sentence}" in result.output
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "sender.checked")) == 3


def test_a_check_with_the_provider_down_says_why_and_promises_nothing(app, sandbox, sandbox_sender):
    sandbox.configure(faults={"http_500": 1.0})
    senders.check_connection(sandbox_sender)
    assert (sandbox_sender.check_error_code, senders.check_error_sentence(sandbox_sender)) == (
        "131000", "The provider had an internal error.")
    with socket.socket() as probe:  # a loopback port that nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    senders.update_sender(sandbox_sender, {"base_url": f"http://127.0.0.1:{port}"})
    senders.check_connection(sandbox_sender)
    # No message is involved in a check: the sentence says nothing of one.
    assert (sandbox_sender.check_error_code, senders.check_error_sentence(sandbox_sender)) == (
        "connection", "The provider could not be reached.")


def test_the_page_checks_the_connection_and_says_what_it_read(app, sandbox, sandbox_sender, admin_browser):
    path = f"/senders/{sandbox_sender.id}"
    response = post_form(admin_browser, f"{path}/check", {}, page=path)
    shown = page(admin_browser.get(response.headers["Location"]))
    assert ("Connected: quality High (green), tier 1,000 new recipients per 24 hours, 80 messages per second."
            in shown)
    assert re.search(r'id="sender-quality">High \(green\)<', shown) and 'id="sender-check-error"' not in shown
    assert re.search(r'id="sender-tier">1,000 new recipients per 24 hours<', shown)


def test_no_secret_reaches_the_log(app, sandbox, sandbox_sender, caplog, call_as):
    caplog.set_level("DEBUG")
    senders.update_sender(sandbox_sender, {"access_token": "wrong-token-abcdef", "app_secret": "hmac-zyxwvu"})
    db.session.commit()
    senders.check_connection(sandbox_sender)
    call_as("GET", f"/senders/{sandbox_sender.id}", "admin")
    assert caplog.records and "wrong-token-abcdef" not in caplog.text and "hmac-zyxwvu" not in caplog.text
    assert "wrong-token-abcdef" not in repr(senders.settings_for(sandbox_sender))
