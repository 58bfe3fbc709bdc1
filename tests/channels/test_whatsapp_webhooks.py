"""Inbound callbacks: the signature, the subscription handshake, and every event kind parsed from captured bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from channels.base import (
    BlockReport,
    DeliveryStatus,
    InboundMessage,
    NumberQualityChange,
    PreferenceChange,
    SenderSettings,
    StatusEvent,
    TemplateStatusChange,
    WebhookError,
)
from channels.signatures import sign
from channels.whatsapp_cloud import WhatsAppCloud
from tests.channels.meta_server import fixture, fixture_bytes

WAMID = "wamid.HBgMMjUwNzg4MTIzMTIzFQIAERgSQzA0RjM3NzcwQTg2RjE3QkQ0AA=="
AT = datetime(2016, 1, 30, 1, 57, 9, tzinfo=UTC)  # 1454119029


def channel(**settings) -> WhatsAppCloud:
    values = {
        "channel": "whatsapp_cloud",
        "base_url": "http://127.0.0.1:9",
        "app_secret": "app-secret",
        "verify_token": "verify-me",
    }
    # Parsing and verifying never touch the network: no session is needed.
    return WhatsAppCloud(SenderSettings(**{**values, **settings}), session=None)


def parse(name: str):
    return channel().parse_webhook(fixture_bytes(name))


# --- signature and handshake -------------------------------------------------------------------------

BODY = fixture_bytes("status_delivered.json")


@pytest.mark.parametrize("header", ["X-Hub-Signature-256", "x-hub-signature-256", "X-HUB-SIGNATURE-256"])
def test_a_body_signed_with_the_app_secret_is_accepted_whatever_the_header_case(header):
    assert channel().verify_webhook({"Content-Type": "application/json", header: sign("app-secret", BODY)}, BODY)


def test_a_wrong_secret_a_tampered_body_or_no_signature_is_refused():
    assert not channel().verify_webhook({"X-Hub-Signature-256": sign("other-secret", BODY)}, BODY)
    assert not channel().verify_webhook(
        {"X-Hub-Signature-256": sign("app-secret", BODY)}, BODY.replace(b"delivered", b"read")
    )
    assert not channel().verify_webhook({"Content-Type": "application/json"}, BODY)
    assert not channel().verify_webhook({"X-Hub-Signature-256": sign("app-secret", BODY)[len("sha256=") :]}, BODY)
    assert not channel().verify_webhook({"X-Hub-Signature": sign("app-secret", BODY)}, BODY)


def test_a_sender_without_an_app_secret_accepts_nothing():
    assert not channel(app_secret="").verify_webhook({"X-Hub-Signature-256": sign("", BODY)}, BODY)


def test_the_handshake_answers_the_challenge_only_to_our_verify_token():
    ours = channel()
    assert (
        ours.handshake({"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"})
        == "1158201444"
    )
    assert ours.handshake({"hub.mode": "subscribe", "hub.verify_token": "verify-you", "hub.challenge": "1"}) is None
    assert ours.handshake({"hub.mode": "unsubscribe", "hub.verify_token": "verify-me", "hub.challenge": "1"}) is None
    assert ours.handshake({"hub.verify_token": "verify-me", "hub.challenge": "1"}) is None
    assert ours.handshake({"hub.mode": "subscribe", "hub.challenge": "1"}) is None
    assert (
        channel(verify_token="").handshake({"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"})
        is None
    )


# --- statuses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "status"), [("status_sent.json", DeliveryStatus.SENT), ("status_delivered.json", DeliveryStatus.DELIVERED)]
)
def test_sent_and_delivered_carry_our_key_and_the_pricing(name, status):
    assert parse(name) == [
        StatusEvent(
            provider_id=WAMID,
            status=status,
            at=AT,
            recipient="250788123123",
            key="msg-7f3c2a",
            pricing_category="marketing",
            billable=True,
        )
    ]


def test_read_without_pricing():
    assert parse("status_read.json") == [StatusEvent(WAMID, DeliveryStatus.READ, AT, "250788123123", key="msg-7f3c2a")]


def test_failed_carries_the_error_code_and_title():
    [event] = parse("status_failed.json")
    assert (event.status, event.error_code, event.key) == (DeliveryStatus.FAILED, "131050", "msg-7f3c2a")
    assert event.error_title.startswith("Unable to deliver the message. This recipient has chosen to stop")
    [ecosystem] = parse("status_failed_ecosystem.json")
    assert (ecosystem.error_code, ecosystem.billable, ecosystem.pricing_category) == ("131049", False, "marketing")


def test_courier_captured_statuses():
    assert parse("courier_valid_status.json") == [
        StatusEvent(
            "external_id",
            DeliveryStatus.SENT,
            AT,
            "250788123123",
            pricing_category="referral_conversion",
            billable=False,
        )
    ]
    [failed] = parse("courier_error_status.json")
    assert (failed.status, failed.error_code, failed.error_title, failed.key) == (
        DeliveryStatus.FAILED,
        "131014",
        "Request for url https://URL.jpg failed with error: 404 (Not Found)",
        None,
    )


def test_a_status_we_do_not_track_is_skipped_and_the_others_kept():
    document = fixture("status_sent.json")
    statuses = document["entry"][0]["changes"][0]["value"]["statuses"]
    statuses.insert(0, {**statuses[0], "status": "deleted"})
    assert [event.status for event in channel().parse_webhook(json.dumps(document).encode())] == [DeliveryStatus.SENT]


# --- inbound messages --------------------------------------------------------------------------------


def test_a_text_message_with_the_profile_name():
    assert parse("text_message.json") == [
        InboundMessage(
            provider_id="wamid.HBgLNzkxNjEyMzQ1NjcVAgASGBQzQUI1RjE2QzQ4RTc5MjM0NjkxMgA=",
            sender="79161234567",
            at=datetime(2025, 12, 2, tzinfo=UTC),
            text="СТОП",
            profile_name="Анна Петрова",
            kind="text",
        )
    ]


def test_a_button_reply_with_the_id_of_our_message():
    assert parse("button_reply.json") == [
        InboundMessage(
            provider_id="wamid.HBgLNzkxNjEyMzQ1NjgVAgASGBQzQTdCNjE5MkY0QkQ4MjM1QkNGMQA=",
            sender="79161234568",
            at=datetime.fromtimestamp(1764633700, UTC),
            text="Отписаться",
            button_payload="unsubscribe",
            context_id="wamid.HBgLNzkxNjEyMzQ1NjgVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA",
            profile_name="Иван",
            kind="button",
        )
    ]


def test_courier_captured_button_and_user_id():
    [button] = parse("courier_button.json")
    assert (button.button_payload, button.text, button.context_id, button.profile_name) == (
        "No-Button-Payload",
        "No",
        "gBGGFmkiWVVPAgkgQkwi7IORac0",
        "Kerry Fisher",
    )
    [hello] = parse("courier_hello_user_id.json")
    assert (hello.sender, hello.user_id, hello.text, hello.profile_name) == (
        "5678",
        "US.1234",
        "Hello World",
        "Kerry Fisher",
    )


def test_a_message_from_a_user_id_alone_and_an_interactive_reply():
    document = fixture("courier_hello_user_id.json")
    value = document["entry"][0]["changes"][0]["value"]
    del value["messages"][0]["from"]
    value["messages"].append(
        {
            "from": "5678",
            "id": "w2",
            "timestamp": "1454119030",
            "type": "interactive",
            "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Да"}},
        }
    )
    first, second = channel().parse_webhook(json.dumps(document).encode())
    assert (first.sender, first.user_id, first.profile_name) == ("US.1234", "US.1234", "Kerry Fisher")
    assert (second.kind, second.text, second.button_payload) == ("interactive", "Да", "yes")


def test_an_error_without_a_message_yields_no_event():
    assert parse("courier_error_errors.json") == []


# --- preferences, templates, the number, other fields ------------------------------------------------


def test_user_preferences_stop_and_resume():
    at = datetime.fromtimestamp(1731705721, UTC)
    assert parse("user_preferences_stop.json") == [
        PreferenceChange("16505551234", at, "marketing_messages", stopped=True)
    ]
    assert parse("user_preferences_resume.json") == [
        PreferenceChange("16505551234", at, "marketing_messages", stopped=False)
    ]


def test_template_decisions():
    assert parse("template_approved.json") == [
        TemplateStatusChange(
            "806312974732579", "welcome_template", "ru", "approved", "", "marketing", account="102290129340398"
        )
    ]
    assert parse("template_rejected.json") == [
        TemplateStatusChange(
            "806312974732579", "welcome_template", "ru", "rejected", "INCORRECT_CATEGORY", account="102290129340398"
        )
    ]
    assert parse("template_paused.json") == [
        TemplateStatusChange("806312974732579", "welcome_template", "ru", "paused",
                             "Your WhatsApp message template has been paused for 3 hours until Nov 22 at 5:53 AM UTC "
                             "because it had issues.", account="102290129340398")
    ]


def test_a_template_category_change():
    assert parse("template_category_update.json") == [
        TemplateStatusChange(
            "806312974732579", "order_update", "ru", None, category="marketing", account="102290129340398"
        )
    ]


def test_a_quality_change():
    assert parse("quality_update.json") == [NumberQualityChange("15550783881", "DOWNGRADE", tier="TIER_1K")]


def test_block_and_spam_reports_of_the_sandbox_extension_field():
    assert parse("vestnik_block_reports.json") == [
        BlockReport("16505551283", "block", datetime.fromtimestamp(1731705800, UTC), "block.16505551283.1731705800"),
        BlockReport("16505551284", "spam_report", datetime.fromtimestamp(1731705810, UTC),
                    "spam_report.16505551284.1731705810"),
    ]


def test_a_block_report_of_another_kind_is_malformed():
    document = fixture("vestnik_block_reports.json")
    document["entry"][0]["changes"][0]["value"]["block_reports"][0]["kind"] = "mute"
    with pytest.raises(WebhookError, match="kind should be one of block, spam_report"):
        channel().parse_webhook(json.dumps(document).encode())


def test_fields_we_do_not_act_on_are_ignored():
    assert parse("account_update_ignored.json") == []


def test_one_body_with_several_entries_and_changes_keeps_their_order():
    entries = [
        fixture(name)["entry"][0] for name in ("status_sent.json", "user_preferences_stop.json", "quality_update.json")
    ]
    entries[0]["changes"].append(fixture("text_message.json")["entry"][0]["changes"][0])
    body = json.dumps({"object": "whatsapp_business_account", "entry": entries}).encode()
    kinds = [type(event).__name__ for event in channel().parse_webhook(body)]
    assert kinds == ["StatusEvent", "InboundMessage", "PreferenceChange", "NumberQualityChange"]


# --- malformed bodies ---------------------------------------------------------------------------------


def change(field: str, value) -> bytes:
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": field, "value": value}]}]}
    ).encode()


STATUS = {"id": "wamid.1", "status": "sent", "timestamp": "1454119029", "recipient_id": "1"}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "the body should be an object, not list"),
        (b'{"object": "page", "entry": []}', "object is 'page'"),
        (b'{"object": "whatsapp_business_account"}', "no entry"),
        (b'{"object": "whatsapp_business_account", "entry": {}}', "the body.entry should be a list"),
        (b'{"object": "whatsapp_business_account", "entry": ["x"]}', "entry[0] should be an object"),
        (
            b'{"object": "whatsapp_business_account", "entry": [{"changes": [1]}]}',
            "entry[0].changes[0] should be an object",
        ),
        (change("messages", []), "entry[0].changes[0].value should be an object"),
        (change("messages", {"statuses": {}}), "value.statuses should be a list"),
        (change("messages", {"statuses": [{**STATUS, "id": ""}]}), "statuses[0].id is missing"),
        (
            change("messages", {"statuses": [{**STATUS, "timestamp": "yesterday"}]}),
            "statuses[0].timestamp should be unix seconds",
        ),
        (change("messages", {"statuses": [{**STATUS, "errors": ["x"]}]}), "statuses[0].errors[0] should be an object"),
        (
            change("messages", {"messages": [{"id": "w", "timestamp": "1", "type": "text"}]}),
            "neither 'from' nor 'from_user_id'",
        ),
        (change("messages", {"messages": [{"from": "1", "id": "w", "timestamp": "1"}]}), "messages[0].type is missing"),
        (change("messages", {"contacts": "x"}), "value.contacts should be a list"),
        (
            change("user_preferences", {"user_preferences": [{"value": "stop", "timestamp": 1}]}),
            "user_preferences[0].wa_id",
        ),
        (
            change("message_template_status_update", {"event": "APPROVED", "message_template_name": "t"}),
            "message_template_id",
        ),
        (change("template_category_update", {"message_template_id": 1, "message_template_name": "t"}), "new_category"),
        (change("phone_number_quality_update", {"event": "FLAGGED"}), "display_phone_number"),
    ],
)
def test_a_malformed_body_says_what_is_wrong(body, says):
    with pytest.raises(WebhookError, match=None) as refused:
        channel().parse_webhook(body)
    assert says in str(refused.value)


def test_a_status_for_a_user_known_by_user_id_alone():
    document = fixture("status_delivered.json")
    status = document["entry"][0]["changes"][0]["value"]["statuses"][0]
    del status["recipient_id"]
    status["recipient_user_id"] = "US.1234"
    [event] = channel().parse_webhook(json.dumps(document).encode())
    assert (event.recipient, event.status) == ("US.1234", DeliveryStatus.DELIVERED)
