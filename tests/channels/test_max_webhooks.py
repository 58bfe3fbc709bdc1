"""MAX updates → events, from the payloads in channels/max/testdata (pure: no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from channels.base import BotStarted, BotStopped, InboundMessage, WebhookError
from channels.max import webhooks
from tests.channels.max_calls import fixture


def parse(name: str) -> list:
    return webhooks.parse(fixture(name))


def test_bot_started_with_a_deep_link_payload():
    [event] = parse("bot_started.json")
    assert event == BotStarted(address="48211093", at=datetime.fromtimestamp(1770679612, UTC),
                               event_id="bot_started:48211093:1770679612000", payload="q7Kx2mPa",
                               profile_name="Анна Смирнова", user_id="48211093", language="ru")


def test_bot_started_without_payload_uses_the_deprecated_name():
    [event] = parse("bot_started_without_payload.json")
    assert (event.address, event.payload, event.profile_name, event.language) == ("1234567890", None, "Boris", None)
    assert event.at == datetime.fromtimestamp(1573226679.188, UTC)


def test_bot_stopped():
    [event] = parse("bot_stopped.json")
    assert event == BotStopped(address="48211093", at=datetime.fromtimestamp(1770683215.442, UTC),
                               event_id="bot_stopped:48211093:1770683215442")


def test_a_captured_text_message():
    [event] = parse("message_created.json")
    assert isinstance(event, InboundMessage)
    assert (event.provider_id, event.sender, event.text, event.kind, event.context_id, event.profile_name) == (
        "mid.0000000008a53b9b019c44bd612d33e0", "10001", "вапва", "text", None, "User_Name")
    assert event.user_id == "10001"


def test_a_reply_links_the_message_it_answers():
    [event] = parse("message_created_reply.json")
    assert (event.text, event.context_id, event.sender) == ("СТОП", "mid.00000000b2a61f0a019c4600a1f2c7d1",
                                                            "48211093")


def test_an_image_has_its_kind_and_caption():
    [event] = parse("message_created_image.json")
    assert (event.kind, event.text) == ("image", "Вот чек")


def test_a_bots_own_post_is_no_inbound_message():
    assert parse("message_created_by_bot_ignored.json") == []


def test_a_captured_button_press():
    [event] = parse("message_callback.json")
    assert (event.kind, event.button_payload, event.text, event.sender) == ("button", "utm_view_6", "🔗 test2",
                                                                            "10001")
    assert event.provider_id.startswith("f9LHodD0cOJZOniE")
    assert event.context_id == "mid.0000000008a53b9b019c44432d4a3a70"
    assert event.at == datetime.fromtimestamp(1770679803.383, UTC)


def test_a_press_on_a_deleted_message_still_counts():
    [event] = parse("message_callback_message_deleted.json")
    assert (event.button_payload, event.context_id, event.sender, event.text) == ("opt_out", None, "48211093", "")


def test_unknown_update_types_give_no_events():
    assert parse("dialog_muted_ignored.json") == []


def test_a_list_of_updates_keeps_their_order_and_skips_unknown_types():
    events = parse("updates_list.json")
    assert [type(event) for event in events] == [BotStarted, BotStopped]
    assert webhooks.parse(json.dumps(json.loads(fixture("updates_list.json"))["updates"]).encode()) == events


def test_a_group_chat_message_is_answered_in_the_chat():
    update = json.loads(fixture("message_created.json"))
    update["message"]["recipient"] = {"chat_id": -70551230019, "chat_type": "chat", "user_id": None}
    [event] = webhooks.parse(json.dumps(update).encode())
    assert (event.sender, event.user_id) == ("chat:-70551230019", "10001")


def broken(name: str, change) -> bytes:
    update = json.loads(fixture(name))
    change(update)
    return json.dumps(update).encode()


@pytest.mark.parametrize(("body", "words"), [
    (b"not json", "not JSON"),
    (b"[1]", "should be an object"),
    (b'{"timestamp": 1}', "update_type is missing"),
    (broken("bot_started.json", lambda u: u.pop("user")), "user should be an object"),
    (broken("bot_started.json", lambda u: u["user"].pop("user_id")), "user_id is missing"),
    (broken("bot_stopped.json", lambda u: u.update(timestamp="yesterday")), "timestamp"),
    (broken("message_created.json", lambda u: u["message"]["body"].pop("mid")), "mid is missing"),
    (broken("message_created.json", lambda u: u.pop("message")), "message should be an object"),
    (broken("message_callback.json", lambda u: u["callback"].pop("callback_id")), "callback_id is missing"),
    (b'{"updates": {}}', "should be a list"),
])
def test_malformed_updates_say_what_is_wrong(body, words):
    with pytest.raises(WebhookError, match=words):
        webhooks.parse(body)
