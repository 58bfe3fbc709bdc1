"""The MAX adapter against the real sandbox process over HTTP: sends and every error class, the bot's record,
the webhook subscription, and simulated people's updates arriving signed and parsed back into events."""

from __future__ import annotations

import socket

import pytest

from channels.base import (
    BotStarted,
    BotStopped,
    ChannelError,
    FailureMeaning,
    InboundMessage,
    InlineButton,
    Outbound,
    ResultKind,
    RetryScope,
    TemplateContent,
)
from channels.max import MaxBot
from channels.max.client import SECRET_HEADER
from channels.registry import CHANNELS, channel_for
from tests.channels.max_calls import (
    SECRET,
    TOKEN,
    people,
    press,
    send,
    sent,
    settings,
    start,
    stop,
    with_bot,
    write,
)

ANNA = 48211093


def text(key: str, to: str | int = ANNA, body: str = "Анна, весной скидка 20%!", **fields) -> Outbound:
    return Outbound(key, str(to), text=body, **fields)


def test_the_registry_knows_the_max_channel(sandbox):
    bot = channel_for(settings(sandbox), session=None)
    assert type(bot) is MaxBot and CHANNELS["max"] is MaxBot
    capabilities = bot.capabilities
    assert not capabilities.idempotent_sends and not capabilities.provider_templates
    assert not capabilities.delivery_receipts
    assert (capabilities.messages_per_second, capabilities.dialog_messages_per_second,
            capabilities.max_text_length) == (30, 2, 4000)


def test_a_send_is_accepted_with_the_mid_and_the_sandbox_got_text_format_buttons_and_notify(sandbox):
    start(sandbox, ANNA, "q7Kx2mPa")
    buttons = (InlineButton("Подробнее", url="https://shop.example/spring"),
               InlineButton("Отписаться", payload="opt_out"))
    [result] = send(sandbox, [text("m1", buttons=buttons, text_format="markdown")])
    assert result.kind is ResultKind.ACCEPTED and result.key == "m1"
    assert result.provider_id.startswith("mid.") and result.address == str(ANNA)
    [message] = sent(sandbox, ANNA)
    assert message["mid"] == result.provider_id
    assert message["text"] == "Анна, весной скидка 20%!"
    assert message["format"] == "markdown" and message["notify"] is True
    assert message["attachments"] == [{"type": "inline_keyboard", "payload": {"buttons": [
        [{"type": "link", "text": "Подробнее", "url": "https://shop.example/spring"}],
        [{"type": "callback", "text": "Отписаться", "payload": "opt_out"}],
    ]}}]
    [request] = [r for r in sandbox.ledger()["requests"] if r["path"].startswith("/messages")]
    assert (request["method"], request["path"], request["status"]) == ("POST", f"/messages?user_id={ANNA}", 200)


def test_plain_text_has_no_format_and_no_attachments(sandbox):
    start(sandbox, ANNA)
    assert send(sandbox, [text("m1")])[0].accepted
    [message] = sent(sandbox)
    assert "format" not in message and "attachments" not in message


def test_a_chat_address_is_sent_by_chat_id(sandbox):
    chat_id = start(sandbox, ANNA)["chat_id"]
    [result] = send(sandbox, [text("m1", to=f"chat:{chat_id}")])
    assert result.accepted
    assert sent(sandbox)[0]["chat_id"] == chat_id
    assert any(r["path"] == f"/messages?chat_id={chat_id}" for r in sandbox.ledger()["requests"])


def test_a_wrong_token_fails_the_sender(sandbox):
    start(sandbox, ANNA)
    [result] = send(sandbox, [text("m1")], access_token="Bearer " + TOKEN)  # MAX takes the raw token only
    assert (result.kind, result.code, result.meaning) == (ResultKind.FAILED, "verify.token", FailureMeaning.SENDER)
    assert not result.uncertain and "token" in str(result.sentence)
    assert sent(sandbox) == []


def test_a_person_who_stopped_the_bot_is_stopped_for_good(sandbox):
    start(sandbox, ANNA)
    stop(sandbox, ANNA)
    [result] = send(sandbox, [text("m1")])
    assert (result.kind, result.code, result.meaning) == (ResultKind.FAILED, "chat.denied", FailureMeaning.STOPPED)
    assert result.retry_after is None and not result.uncertain
    assert "error.dialog.suspended" in result.detail and "stopped" in str(result.sentence)


def test_a_person_who_never_started_the_bot_is_denied_and_an_unknown_one_not_found(sandbox):
    people(sandbox, 5001, started=False)
    never, unknown = send(sandbox, [text("a", to=5001), text("b", to=5002)])
    assert (never.code, never.meaning) == ("chat.denied", FailureMeaning.STOPPED)
    assert (unknown.kind, unknown.code, unknown.meaning) == (ResultKind.FAILED, "chat.not.found",
                                                             FailureMeaning.INVALID_RECIPIENT)
    [result] = send(sandbox, [text("c", to="chat:777")])
    assert result.code == "chat.not.found"


def test_a_third_message_to_one_dialog_within_a_second_is_throttled(sandbox):
    start(sandbox, ANNA)
    results = send(sandbox, [text(f"m{n}") for n in range(3)])
    assert [r.kind for r in results].count(ResultKind.ACCEPTED) == 2
    [throttled] = [r for r in results if not r.accepted]
    assert (throttled.kind, throttled.code, throttled.scope) == (ResultKind.RETRY, "too.many.requests",
                                                                 RetryScope.SENDER)
    assert throttled.retry_after == 1.0 and not throttled.uncertain  # MAX sends no Retry-After
    counts = sandbox.ledger(summary=True)["counts"]
    assert (counts["max_dialog_throttled"], counts["max_accepted"]) == (1, 2)
    assert len(sent(sandbox, ANNA)) == 2


def test_the_thirty_first_request_of_a_bot_within_a_second_is_throttled(sandbox):
    users = range(7001, 7032)
    people(sandbox, *users)
    results = send(sandbox, [text(f"m{u}", to=u) for u in users])
    assert [r.kind for r in results].count(ResultKind.ACCEPTED) == 30
    [throttled] = [r for r in results if not r.accepted]
    assert (throttled.code, throttled.scope) == ("too.many.requests", RetryScope.SENDER)
    counts = sandbox.ledger(summary=True)["counts"]
    assert counts["max_requests_throttled"] == 1 and "max_dialog_throttled" not in counts


def test_limits_can_be_switched_off(sandbox):
    start(sandbox, ANNA)
    sandbox.configure(max_enforce_limits=False)
    assert all(r.accepted for r in send(sandbox, [text(f"m{n}") for n in range(5)]))


def test_an_injected_429_carries_retry_after(sandbox):
    start(sandbox, ANNA)
    sandbox.configure(faults={"http_429": 1}, retry_after=7)
    [result] = send(sandbox, [text("m1")])
    assert (result.kind, result.code, result.scope, result.retry_after) == (ResultKind.RETRY, "too.many.requests",
                                                                            RetryScope.SENDER, 7.0)


def test_a_server_error_is_retried_and_certain(sandbox):
    start(sandbox, ANNA)
    sandbox.configure(faults={"http_500": 1})
    [result] = send(sandbox, [text("m1")])
    assert (result.kind, result.code, result.scope) == (ResultKind.RETRY, "internal.error", RetryScope.MESSAGE)
    assert not result.uncertain and result.retry_after == 5.0
    assert sent(sandbox) == []


def test_a_timeout_is_an_uncertain_retry_and_the_message_may_have_gone(sandbox):
    start(sandbox, ANNA)
    sandbox.configure(faults={"timeout": 1}, timeout_hold_s=3)
    [result] = send(sandbox, [text("m1")], timeout_seconds=0.5)
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "timeout", True)
    assert len(sent(sandbox)) == 1  # the sandbox accepted it: a blind resend would be a second message


def test_an_unreachable_provider_is_a_certain_retry():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once the probe is closed

    class Closed:
        url = f"http://127.0.0.1:{port}"

    [result] = send(Closed, [text("m1")])
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "connection", False)


def test_messages_the_adapter_cannot_express_are_failed_before_any_request(sandbox):
    start(sandbox, ANNA)
    too_long = text("long", body="я" * 4001)
    template = Outbound("tpl", str(ANNA), template=TemplateContent("order_ready", "ru"))
    bad_address = text("addr", to="+79161234567")
    bad_button = text("button", buttons=(InlineButton("Both", payload="x", url="https://x.example"),))
    results = send(sandbox, [too_long, template, bad_address, bad_button])
    assert [(r.code, r.meaning) for r in results] == [
        ("payload", FailureMeaning.MESSAGE), ("payload", FailureMeaning.MESSAGE),
        ("address", FailureMeaning.INVALID_RECIPIENT), ("payload", FailureMeaning.MESSAGE)]
    assert sandbox.ledger(summary=True)["counts"]["requests"] == 0
    assert send(sandbox, [text("exact", body="я" * 4000)])[0].accepted


def test_number_info_reads_the_bot(sandbox):
    info = with_bot(sandbox, lambda bot: bot.number_info())
    assert (info.display_phone_number, info.verified_name, info.quality, info.tier, info.messages_per_second) == (
        "vestnik_sandbox_bot", "Vestnik Sandbox", "UNKNOWN", None, 30)
    with pytest.raises(ChannelError) as refused:
        with_bot(sandbox, lambda bot: bot.number_info(), access_token="wrong")
    assert refused.value.code == "verify.token" and not refused.value.retryable


def subscribed(sandbox, receiver) -> None:
    with_bot(sandbox, lambda bot: bot.subscribe_webhook(receiver.url, SECRET))


def test_subscribing_stores_the_url_secret_and_update_types(sandbox, callback_receiver):
    subscribed(sandbox, callback_receiver)
    [bot] = sandbox.control("GET", "/_sandbox/max/bots")
    assert bot["subscription_url"] == callback_receiver.url and bot["subscription_secret"] is True
    assert bot["update_types"] == ["bot_started", "bot_stopped", "message_created", "message_callback"]
    with pytest.raises(ChannelError) as refused:
        with_bot(sandbox, lambda b: b.subscribe_webhook(callback_receiver.url, "no spaces allowed"))
    assert refused.value.code == "proto.payload"


def events_of(sandbox, callback) -> list:
    bot = channel_for(settings(sandbox), session=None)
    assert bot.verify_webhook(callback.headers, callback.body)
    return bot.parse_webhook(callback.body)


def test_simulated_people_post_signed_updates_that_parse_into_events(sandbox, callback_receiver):
    subscribed(sandbox, callback_receiver)
    started = start(sandbox, ANNA, "q7Kx2mPa", first_name="Анна", last_name="Смирнова")
    assert started["posted"] is True
    [callback] = callback_receiver.wait_for(1)
    assert callback.headers[SECRET_HEADER] == SECRET and callback.path == "/webhooks"
    [event] = events_of(sandbox, callback)
    assert isinstance(event, BotStarted)
    assert (event.address, event.payload, event.profile_name, event.language) == (
        str(ANNA), "q7Kx2mPa", "Анна Смирнова", "ru")
    assert event.event_id == f"bot_started:{ANNA}:{started['update']['timestamp']}"

    buttons = (InlineButton("Отписаться", payload="opt_out"),)
    [ours] = send(sandbox, [text("m1", buttons=buttons)])
    reply = write(sandbox, ANNA, "А подробнее?", reply_to=ours.provider_id)
    [event] = events_of(sandbox, callback_receiver.wait_for(2)[1])
    assert isinstance(event, InboundMessage)
    assert (event.provider_id, event.sender, event.text, event.context_id, event.kind) == (
        reply["mid"], str(ANNA), "А подробнее?", ours.provider_id, "text")

    pressed = press(sandbox, ANNA, "opt_out")
    [event] = events_of(sandbox, callback_receiver.wait_for(3)[2])
    assert (event.kind, event.button_payload, event.text, event.provider_id, event.context_id, event.sender) == (
        "button", "opt_out", "Отписаться", pressed["callback_id"], ours.provider_id, str(ANNA))

    stop(sandbox, ANNA)
    [event] = events_of(sandbox, callback_receiver.wait_for(4)[3])
    assert isinstance(event, BotStopped) and event.address == str(ANNA)
    assert send(sandbox, [text("m2")])[0].meaning is FailureMeaning.STOPPED


def test_a_wrong_or_missing_secret_is_refused(sandbox, callback_receiver):
    subscribed(sandbox, callback_receiver)
    start(sandbox, ANNA)
    [callback] = callback_receiver.wait_for(1)
    right = channel_for(settings(sandbox), session=None)
    assert right.verify_webhook({SECRET_HEADER.lower(): SECRET}, callback.body)  # header names in any case
    assert not channel_for(settings(sandbox, app_secret="another-secret"), session=None).verify_webhook(
        callback.headers, callback.body)
    assert not right.verify_webhook({}, callback.body)
    assert not right.verify_webhook({SECRET_HEADER: ""}, callback.body)
    assert not channel_for(settings(sandbox, app_secret=""), session=None).verify_webhook({SECRET_HEADER: ""},
                                                                                         callback.body)
