"""Telegram updates from channels/telegram/testdata → neutral events, the secret-token check, and the wire format
of a send (MarkdownV2 escaping, HTML, inline keyboards), purely."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from channels.base import BotStarted, BotStopped, InboundMessage, InlineButton, Outbound, SenderSettings, WebhookError
from channels.telegram import TelegramBot
from channels.telegram.markup import to_markdown_v2
from channels.telegram.payloads import PayloadError, message
from channels.telegram.webhooks import parse

TESTDATA = Path(__file__).resolve().parents[2] / "channels/telegram/testdata"


def fixture_bytes(name: str) -> bytes:
    return (TESTDATA / f"{name}.json").read_bytes()


def bot(secret: str = "s3cret-token") -> TelegramBot:
    return TelegramBot(SenderSettings("telegram", "https://api.telegram.org", access_token="1:x", app_secret=secret),
                       session=None)


def test_start_with_a_payload_is_a_bot_started_with_the_entry_token():
    [event] = parse(fixture_bytes("start_payload"))
    assert event == BotStarted(address="512345678", at=datetime(2026, 12, 4, 13, 20, tzinfo=UTC), event_id="803315640",
                               payload="qr_spring26", profile_name="Анна Смирнова", user_id="512345678",
                               language="ru")


def test_a_bare_start_from_courier_has_no_payload():
    [event] = parse(fixture_bytes("courier_start"))
    assert isinstance(event, BotStarted)
    assert (event.address, event.payload, event.event_id, event.profile_name, event.language) == (
        "3527065", None, "174114370", "Nic Pottier", None)


@pytest.mark.parametrize("text, payload", [("/start@kolos_bakery_bot abc-1", "abc-1"), ("/start  tok ", "tok"),
                                           ("/start", None)])
def test_start_command_forms(text, payload):
    body = json.loads(fixture_bytes("start_payload"))
    body["message"]["text"] = text
    [event] = parse(json.dumps(body).encode())
    assert isinstance(event, BotStarted) and event.payload == payload


def test_a_text_that_only_begins_like_start_is_a_message():
    body = json.loads(fixture_bytes("text"))
    body["message"]["text"] = "/started yesterday"
    [event] = parse(json.dumps(body).encode())
    assert isinstance(event, InboundMessage) and event.text == "/started yesterday"


def test_a_text_is_an_inbound_message_with_a_per_chat_id():
    [event] = parse(fixture_bytes("courier_text"))
    assert event == InboundMessage(provider_id="3527065:41", sender="3527065",
                                   at=datetime.fromtimestamp(1454119029, UTC), text="Hello World",
                                   profile_name="Nic Pottier", user_id="3527065", kind="text")


def test_a_reply_names_the_bots_message_it_answers():
    [event] = parse(fixture_bytes("reply"))
    assert isinstance(event, InboundMessage)
    assert (event.provider_id, event.text, event.context_id) == ("512345678:4", "СТОП", "512345678:2")


def test_a_photo_is_its_caption():
    [event] = parse(fixture_bytes("courier_photo"))
    assert isinstance(event, InboundMessage) and (event.kind, event.text) == ("photo", "Photo Caption")


def test_a_pressed_button_is_a_button_message_with_its_data():
    received = datetime(2026, 12, 3, 16, 5, tzinfo=UTC)
    [event] = parse(fixture_bytes("callback_query"), received)
    assert event == InboundMessage(provider_id="cb:2200339148205732115", sender="512345678", at=received, text="",
                                   button_payload="optout", context_id="512345678:2", profile_name="Анна Смирнова",
                                   user_id="512345678", kind="button")


def test_a_block_stops_the_bot_and_a_restart_starts_it_without_payload():
    [stopped] = parse(fixture_bytes("blocked"))
    assert stopped == BotStopped(address="512345678", at=datetime.fromtimestamp(1796390700, UTC),
                                 event_id="803315644")
    [restarted] = parse(fixture_bytes("unblocked"))
    assert isinstance(restarted, BotStarted)
    assert (restarted.address, restarted.payload, restarted.event_id) == ("512345678", None, "803315645")


def test_a_membership_change_that_is_neither_a_stop_nor_a_restart_gives_nothing():
    body = json.loads(fixture_bytes("unblocked"))
    body["my_chat_member"]["old_chat_member"]["status"] = "member"
    body["my_chat_member"]["new_chat_member"]["status"] = "administrator"
    assert parse(json.dumps(body).encode()) == []


def test_a_repeated_update_gives_the_same_event():
    for name in ("start_payload", "text", "blocked", "callback_query"):
        at = datetime(2026, 12, 3, tzinfo=UTC)
        assert parse(fixture_bytes(name), at) == parse(fixture_bytes(name), at)


@pytest.mark.parametrize("name", ["edited_message", "courier_no_kind"])
def test_kinds_we_do_not_act_on_give_no_events(name):
    assert parse(fixture_bytes(name)) == []


@pytest.mark.parametrize("body, says", [
    (b"foo", "not JSON"),
    (b"[1]", "should be an object"),
    (b'{"message": {}}', "update_id"),
    (b'{"update_id": "7", "message": {}}', "update_id"),
    (b'{"update_id": 7, "message": {"message_id": 1, "date": 1}}', "message.chat"),
    (b'{"update_id": 7, "message": {"chat": {"id": 5}, "date": 1}}', "message_id"),
    (b'{"update_id": 7, "message": {"message_id": 1, "chat": {"id": 5}, "date": "soon"}}', "date"),
    (b'{"update_id": 7, "my_chat_member": {"chat": {"id": 5}, "date": 1}}', "old_chat_member"),
])
def test_malformed_updates_are_refused_saying_what(body, says):
    with pytest.raises(WebhookError, match=says):
        parse(body)


def test_the_channel_parses_through_the_same_function():
    assert bot().parse_webhook(fixture_bytes("blocked")) == parse(fixture_bytes("blocked"))


# --- the secret token -------------------------------------------------------------------------------

def test_the_secret_token_header_is_checked_in_any_case():
    channel = bot()
    assert channel.verify_webhook({"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}, b"{}")
    assert channel.verify_webhook({"x-telegram-bot-api-secret-token": "s3cret-token"}, b"{}")


@pytest.mark.parametrize("headers", [{}, {"X-Telegram-Bot-Api-Secret-Token": ""},
                                     {"X-Telegram-Bot-Api-Secret-Token": "s3cret-tokeN"},
                                     {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token-and-more"},
                                     {"X-Hub-Signature-256": "s3cret-token"}])
def test_a_missing_or_wrong_secret_is_refused(headers):
    assert not bot().verify_webhook(headers, b"{}")


def test_a_bot_without_a_secret_accepts_nothing():
    assert not bot(secret="").verify_webhook({"X-Telegram-Bot-Api-Secret-Token": ""}, b"{}")


def test_telegram_makes_no_subscription_check():
    assert bot().handshake({"hub.mode": "subscribe", "hub.challenge": "1"}) is None


# --- the send's wire format -------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("Скидка 20%! До 1.05.", "Скидка 20%\\! До 1\\.05\\."),
    ("**Торты** и *пироги* и _хлеб_", "*Торты* и _пироги_ и _хлеб_"),
    ("snake_case, 2*3*4, a-b (c) {d} #e +f =g |h >i", "snake\\_case, 2\\*3\\*4, a\\-b \\(c\\) \\{d\\} \\#e \\+f "
                                                     "\\=g \\|h \\>i"),
    ("[Сайт](https://kolos.example/a?b=1)", "[Сайт](https://kolos.example/a?b=1)"),
    ("`PROMO-1.5`", "`PROMO-1.5`"),
    ("~~500~~ 400 ₽", "~500~ 400 ₽"),
    ("**жирный _и курсив_!**", "*жирный _и курсив_\\!*"),
    ("\\*не курсив\\*", "\\*не курсив\\*"),
    ("path\\to", "path\\\\to"),
    ("**не закрыт", "\\*\\*не закрыт"),
])
def test_markdown_becomes_markdown_v2_with_everything_else_escaped(text, expected):
    assert to_markdown_v2(text) == expected


def test_a_markdown_message_has_parse_mode_markdown_v2_and_one_button_per_row():
    body = message(Outbound("k", "512345678", text="Скидка 20%!", text_format="markdown",
                            buttons=(InlineButton("Подробнее", url="https://kolos.example/sale"),
                                     InlineButton("Отписаться", payload="optout"))))
    assert body == {"chat_id": 512345678, "text": "Скидка 20%\\!", "parse_mode": "MarkdownV2",
                    "reply_markup": {"inline_keyboard": [[{"text": "Подробнее", "url": "https://kolos.example/sale"}],
                                                         [{"text": "Отписаться", "callback_data": "optout"}]]}}


def test_html_goes_as_it_is_and_plain_text_without_parse_mode():
    html = message(Outbound("k", "-1001234567890", text="<b>Скидка</b> 20%!", text_format="html"))
    assert html == {"chat_id": -1001234567890, "text": "<b>Скидка</b> 20%!", "parse_mode": "HTML"}
    assert message(Outbound("k", "@kolos_news", text="1.05!")) == {"chat_id": "@kolos_news", "text": "1.05!"}


@pytest.mark.parametrize("outbound, code", [
    (Outbound("k", "1", text="x", buttons=(InlineButton("b", payload="é" * 33),)), "button_data_too_long"),
    (Outbound("k", "1", text="x", buttons=(InlineButton("b"),)), "button_invalid"),
    (Outbound("k", "1", text="😀" * 2049), "message_too_long"),
    (Outbound("k", "1", text="  "), "text_empty"),
    (Outbound("k", "1", text="x", text_format="bbcode"), "cant_parse_entities"),
])
def test_what_telegram_would_refuse_is_refused_before_sending(outbound, code):
    with pytest.raises(PayloadError) as refused:
        message(outbound)
    assert refused.value.code == code


def test_callback_data_of_exactly_64_bytes_and_4096_characters_pass():
    body = message(Outbound("k", "1", text="я" * 4096, buttons=(InlineButton("b", payload="ж" * 32),)))
    assert body["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "ж" * 32


def test_the_limit_counts_what_the_person_sees_not_the_markup():
    html = message(Outbound("k", "1", text="<b>" + "я" * 4090 + "</b> &amp;", text_format="html"))
    assert html["parse_mode"] == "HTML"  # 4,092 characters seen, 4,104 sent
    markdown = message(Outbound("k", "1", text="**" + "." * 4090 + "**", text_format="markdown"))
    assert len(markdown["text"]) == 2 + 2 * 4090  # every dot escaped, still 4,090 seen
    with pytest.raises(PayloadError):
        message(Outbound("k", "1", text="<b>" + "я" * 4097 + "</b>", text_format="html"))
