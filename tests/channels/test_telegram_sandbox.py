"""The Telegram channel against the real sandbox process over HTTP: sends and what the sandbox received, every
error class, Telegram's per-bot and per-chat limits, getMe, setWebhook, and simulated users whose updates reach a
receiver with the secret token and parse back into events."""

from __future__ import annotations

import time
import urllib.error

import pytest

from channels.base import (
    BotStarted,
    BotStopped,
    ChannelError,
    FailureMeaning,
    InboundMessage,
    InlineButton,
    NumberInfo,
    Outbound,
    ResultKind,
    RetryScope,
    TemplateContent,
)
from channels.telegram import TelegramBot
from tests.channels.telegram_calls import TELEGRAM_SECRET, bot_call, control, settings, with_bot
from tests.sandbox_provider import SandboxProcess

ANNA = 512345678
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def started(sandbox, *chat_ids: int) -> None:
    control(sandbox, "users", chat_ids=list(chat_ids), started=True)


def send(sandbox, *messages: Outbound, **overrides):
    return with_bot(sandbox, lambda channel: channel.send(list(messages)), **overrides)


def text(key: str = "k1", to: int = ANNA, body: str = "Здравствуйте!", **fields) -> Outbound:
    return Outbound(key, str(to), text=body, **fields)


def sandbox_messages(sandbox, chat_id: int | None = None) -> list[dict]:
    query = f"?chat_id={chat_id}" if chat_id is not None else ""
    return sandbox.control("GET", f"/_sandbox/telegram/messages{query}")


def counts(sandbox) -> dict:
    return sandbox.ledger(summary=True)["counts"]


# --- sends --------------------------------------------------------------------------------------------

def test_the_registry_builds_a_telegram_bot(sandbox):
    assert type(with_bot(sandbox, lambda channel: _return(channel))) is TelegramBot


async def _return(value):
    return value


def test_a_send_is_accepted_with_the_chat_and_message_id(sandbox):
    started(sandbox, ANNA)
    [result] = send(sandbox, text())
    [message] = sandbox_messages(sandbox)
    assert (result.kind, result.address) == (ResultKind.ACCEPTED, str(ANNA))
    assert result.provider_id == f"{ANNA}:{message['message_id']}"
    assert message["body"] == {"chat_id": ANNA, "text": "Здравствуйте!"}  # plain text: no parse_mode


def test_markdown_and_buttons_arrive_as_markdown_v2_and_an_inline_keyboard(sandbox):
    started(sandbox, ANNA)
    buttons = (InlineButton("Подробнее", url="https://kolos.example/sale"), InlineButton("Отписаться", payload="stop"))
    [result] = send(sandbox, text(body="**Скидка 20%!** До 1.05 — _только_ у нас.", text_format="markdown",
                                  buttons=buttons))
    assert result.accepted
    [message] = sandbox_messages(sandbox)
    assert message["body"] == {
        "chat_id": ANNA, "text": "*Скидка 20%\\!* До 1\\.05 — _только_ у нас\\.", "parse_mode": "MarkdownV2",
        "reply_markup": {"inline_keyboard": [[{"text": "Подробнее", "url": "https://kolos.example/sale"}],
                                             [{"text": "Отписаться", "callback_data": "stop"}]]}}
    assert message["text"] == "Скидка 20%! До 1.05 — только у нас."  # what the person sees: the sandbox parsed it


def test_html_arrives_with_parse_mode_html_and_a_tag_telegram_lacks_fails_the_message(sandbox):
    started(sandbox, ANNA, ANNA + 1)
    good, bad = send(sandbox, text("k1", body="<b>Скидка</b> &amp; подарок", text_format="html"),
                     text("k2", to=ANNA + 1, body="<div>Скидка</div>", text_format="html"))
    assert good.accepted
    [message] = sandbox_messages(sandbox)
    assert (message["body"]["parse_mode"], message["text"]) == ("HTML", "Скидка & подарок")
    assert (bad.kind, bad.code, bad.meaning) == (ResultKind.FAILED, "cant_parse_entities", FailureMeaning.MESSAGE)
    assert 'Unsupported start tag "div"' in bad.detail


def test_the_sandbox_refuses_markdown_v2_that_is_not_escaped(sandbox):
    started(sandbox, ANNA)
    status, answer = bot_call(sandbox, "sendMessage", {"chat_id": ANNA, "text": "До 1.05", "parse_mode": "MarkdownV2"})
    assert (status, answer) == (400, {"ok": False, "error_code": 400, "description":
                                      "Bad Request: can't parse entities: Character '.' is reserved and must be "
                                      "escaped with the preceding '\\'"})
    status, answer = bot_call(sandbox, "sendMessage", {"chat_id": ANNA, "text": "*жирный", "parse_mode": "MarkdownV2"})
    assert status == 400 and "Can't find end of the entity starting at byte offset 0" in answer["description"]


@pytest.mark.parametrize("markup, description", [
    ({"inline_keyboard": [[{"text": "b", "callback_data": "x" * 65}]]}, "Bad Request: BUTTON_DATA_INVALID"),
    ({"inline_keyboard": [[{"text": "b", "url": "kolos.example"}]]}, "Bad Request: BUTTON_URL_INVALID"),
    ({"inline_keyboard": [[{"text": "b"}]]}, "Bad Request: can't parse inline keyboard button: Text buttons are "
                                             "unallowed in the inline keyboard"),
])
def test_the_sandbox_checks_inline_keyboards(sandbox, markup, description):
    started(sandbox, ANNA)
    status, answer = bot_call(sandbox, "sendMessage", {"chat_id": ANNA, "text": "x", "reply_markup": markup})
    assert (status, answer["description"]) == (400, description)


def test_a_long_callback_payload_and_a_template_fail_before_any_request(sandbox):
    started(sandbox, ANNA)
    long_payload = text("k1", buttons=(InlineButton("Отписаться", payload="optout-" + "x" * 60),))
    template = Outbound("k2", str(ANNA), template=TemplateContent("order_ready", "ru"))
    results = send(sandbox, long_payload, template)
    assert [(r.kind, r.code, r.meaning, r.uncertain) for r in results] == [
        (ResultKind.FAILED, "button_data_too_long", FailureMeaning.MESSAGE, False),
        (ResultKind.FAILED, "no_templates", FailureMeaning.MESSAGE, False)]
    assert counts(sandbox)["requests"] == 0


# --- every error class --------------------------------------------------------------------------------

def test_people_who_blocked_deleted_or_never_started_the_bot_are_stopped_addresses(sandbox):
    started(sandbox, 101, 102)
    control(sandbox, "users", chat_id=103)  # on Telegram, never started the bot
    control(sandbox, "block", chat_id=101)
    control(sandbox, "deactivate", chat_id=102)
    results = send(sandbox, text("a", to=101), text("b", to=102), text("c", to=103))
    assert [(r.kind, r.code, r.meaning) for r in results] == [
        (ResultKind.FAILED, "bot_blocked", FailureMeaning.STOPPED),
        (ResultKind.FAILED, "user_deactivated", FailureMeaning.STOPPED),
        (ResultKind.FAILED, "cant_initiate", FailureMeaning.STOPPED)]
    assert [r.detail for r in results] == ["Forbidden: bot was blocked by the user", "Forbidden: user is deactivated",
                                           "Forbidden: bot can't initiate conversation with a user"]
    assert str(results[0].sentence) == ("The person blocked the bot in Telegram: it cannot write to them until they "
                                        "start it again.")
    assert not any(r.uncertain for r in results)


def test_an_unknown_chat_is_an_invalid_recipient(sandbox):
    [result] = send(sandbox, text(to=999000111))
    assert (result.kind, result.code, result.meaning, result.detail) == (
        ResultKind.FAILED, "chat_not_found", FailureMeaning.INVALID_RECIPIENT, "Bad Request: chat not found")


@pytest.mark.parametrize("token, code", [("7000000001:wrong-secret-part", "unauthorized"),
                                         ("not-a-token", "not_found")])
def test_a_bad_token_fails_for_the_sender(sandbox, token, code):
    started(sandbox, ANNA)
    [result] = send(sandbox, text(), access_token=token)
    assert (result.kind, result.code, result.meaning) == (ResultKind.FAILED, code, FailureMeaning.SENDER)


def test_a_server_error_retries_and_says_it_did_not_go_through(sandbox):
    started(sandbox, ANNA)
    sandbox.configure(faults={"http_500": 1.0})
    [result] = send(sandbox, text())
    assert (result.kind, result.code, result.scope, result.uncertain) == (
        ResultKind.RETRY, "http_500", RetryScope.MESSAGE, False)


def test_a_timeout_retries_and_says_it_may_have_gone_through(sandbox):
    started(sandbox, ANNA)
    sandbox.configure(faults={"timeout": 1.0}, timeout_hold_s=3)
    [result] = send(sandbox, text(), timeout_seconds=0.5)
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "timeout", True)
    assert len(sandbox_messages(sandbox)) == 1  # it did: the sandbox accepted it and held the answer back


# --- the limits ---------------------------------------------------------------------------------------

def test_more_than_one_message_a_second_to_a_chat_is_throttled_with_retry_after(sandbox):
    started(sandbox, ANNA, ANNA + 1)
    results = send(sandbox, text("a"), text("b"), text("c", to=ANNA + 1))
    kinds = sorted((r.kind.value, r.code) for r in results[:2])
    assert kinds == [("accepted", None), ("retry", "too_many_requests")]
    throttled = next(r for r in results if r.kind is ResultKind.RETRY)
    assert (throttled.scope, throttled.retry_after, throttled.uncertain) == (RetryScope.SENDER, 1.0, False)
    assert throttled.detail == "Too Many Requests: retry after 1"
    assert results[2].accepted  # another chat is not held up
    assert counts(sandbox)["telegram_chat_limit_violations"] == 1
    assert len(sandbox_messages(sandbox, ANNA)) == 1


def test_more_than_30_messages_a_second_from_the_bot_are_throttled(sandbox):
    chats = list(range(200_001, 200_032))  # 31 chats: the per-chat limit is not what refuses
    started(sandbox, *chats)
    results = send(sandbox, *(text(f"k{chat}", to=chat) for chat in chats))
    assert sum(r.accepted for r in results) == 30
    [throttled] = [r for r in results if not r.accepted]
    assert (throttled.code, throttled.scope) == ("too_many_requests", RetryScope.SENDER)
    assert throttled.retry_after >= 1
    summary = counts(sandbox)
    assert (summary["telegram_bot_limit_violations"], summary["telegram_accepted"]) == (1, 30)
    assert summary.get("telegram_chat_limit_violations", 0) == 0


# --- the bot and its webhook --------------------------------------------------------------------------

def test_number_info_is_the_bots_record(sandbox):
    info = with_bot(sandbox, lambda channel: channel.number_info())
    assert info == NumberInfo(display_phone_number="vestnik_sandbox_bot", quality="UNKNOWN", tier=None,
                              messages_per_second=30, verified_name="Vestnik Sandbox")


def test_a_bad_token_fails_number_info_with_the_tables_sentence(sandbox):
    with pytest.raises(ChannelError) as refused:
        with_bot(sandbox, lambda channel: channel.number_info(), access_token="7000000001:nope")
    assert (refused.value.code, refused.value.retryable) == ("unauthorized", False)
    assert "@BotFather" in str(refused.value.sentence)


def subscribed(sandbox, receiver) -> None:
    with_bot(sandbox, lambda channel: channel.subscribe_webhook(receiver.url, TELEGRAM_SECRET))


def test_set_webhook_stores_the_url_the_secret_and_the_update_kinds(sandbox, callback_receiver):
    subscribed(sandbox, callback_receiver)
    [bot] = control(sandbox, "bots", method="GET")
    assert (bot["webhook_url"], bot["secret_token"], bot["token"]) == (callback_receiver.url, True, "7000000001:***")
    status, info = bot_call(sandbox, "getWebhookInfo")
    assert status == 200
    assert info["result"]["url"] == callback_receiver.url
    assert info["result"]["allowed_updates"] == ["message", "callback_query", "my_chat_member"]


def test_simulated_users_post_every_update_with_the_secret_and_the_channel_reads_them(sandbox, callback_receiver):
    subscribed(sandbox, callback_receiver)
    control(sandbox, "start", chat_id=ANNA, payload="qr_spring26", first_name="Анна", language_code="ru")
    [sent] = send(sandbox, text(buttons=(InlineButton("Отписаться", payload="optout"),)))
    control(sandbox, "message", chat_id=ANNA, text="А до скольки вы работаете?",
            reply_to_message_id=int(sent.provider_id.split(":")[1]))
    control(sandbox, "press", chat_id=ANNA, data="optout")
    control(sandbox, "block", chat_id=ANNA)
    control(sandbox, "start", chat_id=ANNA)  # restarted after the block: membership back, then /start
    received = callback_receiver.wait_for(6)
    channel = TelegramBot(settings(sandbox), session=None)
    for callback in received:
        assert callback.headers[SECRET_HEADER] == TELEGRAM_SECRET
        assert channel.verify_webhook(callback.headers, callback.body)
        assert not TelegramBot(settings(sandbox, app_secret="another"), None).verify_webhook(
            callback.headers, callback.body)
    updates = sorted(received, key=lambda c: c.json()["update_id"])
    ids = [c.json()["update_id"] for c in updates]
    assert ids == list(range(ids[0], ids[0] + 6))
    events = [event for callback in updates for event in channel.parse_webhook(callback.body)]
    start, reply, press, stop, restart, again = events
    assert isinstance(start, BotStarted)
    assert (start.address, start.payload, start.profile_name, start.language, start.event_id) == (
        str(ANNA), "qr_spring26", "Анна", "ru", str(ids[0]))
    assert isinstance(reply, InboundMessage) and reply.context_id == sent.provider_id
    assert reply.text == "А до скольки вы работаете?"
    assert isinstance(press, InboundMessage)
    assert (press.kind, press.button_payload, press.context_id) == ("button", "optout", sent.provider_id)
    assert press.provider_id.startswith("cb:")
    assert stop == BotStopped(address=str(ANNA), at=stop.at, event_id=str(ids[3]))
    assert isinstance(restart, BotStarted) and restart.payload is None
    assert isinstance(again, BotStarted) and again.payload is None and again.event_id == str(ids[5])
    [after] = send(sandbox, text("after"))
    # Restarted: the bot may write again (only the chat's one-a-second limit may still hold it back).
    assert after.accepted or after.code == "too_many_requests"


def test_a_blocked_user_cannot_write_and_a_press_needs_a_button_of_the_message(sandbox, callback_receiver):
    started(sandbox, ANNA)
    send(sandbox, text(buttons=(InlineButton("Да", payload="yes"),)))
    with pytest.raises(urllib.error.HTTPError) as refused:
        control(sandbox, "press", chat_id=ANNA, data="no")
    assert refused.value.code == 400 and "no button" in refused.value.read().decode()
    control(sandbox, "block", chat_id=ANNA)
    with pytest.raises(urllib.error.HTTPError):
        control(sandbox, "message", chat_id=ANNA, text="привет")


def test_a_refusing_receiver_gets_the_same_update_again(sandbox, callback_receiver):
    sandbox.configure(callback_backoff_ms=20)
    subscribed(sandbox, callback_receiver)
    callback_receiver.fail_next(2, status=500)
    control(sandbox, "start", chat_id=ANNA, payload="t1")
    received = callback_receiver.wait_for(3)
    assert len({c.body for c in received}) == 1


def test_without_a_webhook_nothing_is_posted_but_updates_are_counted(sandbox, callback_receiver):
    control(sandbox, "start", chat_id=ANNA)
    subscribed(sandbox, callback_receiver)
    control(sandbox, "start", chat_id=ANNA + 1)
    [callback] = callback_receiver.wait_for(1)
    assert callback.json()["message"]["chat"]["id"] == ANNA + 1
    assert counts(sandbox)["telegram_updates"] == 2


def test_the_state_file_keeps_the_webhook_the_dialogs_and_the_update_counter(tmp_path, callback_receiver):
    state = tmp_path / "sandbox.json"
    with SandboxProcess("--state-file", str(state)) as first:
        subscribed(first, callback_receiver)
        control(first, "start", chat_id=ANNA)
        control(first, "users", chat_id=ANNA + 1)
    with SandboxProcess("--state-file", str(state)) as second:
        control(second, "block", chat_id=ANNA)
        [before, after] = sorted(c.json()["update_id"] for c in callback_receiver.wait_for(2))
        assert after == before + 1
        results = send(second, text("a", to=ANNA), text("b", to=ANNA + 1))
        assert [r.code for r in results] == ["bot_blocked", "cant_initiate"]


def test_each_bot_has_its_own_limit_and_token(sandbox):
    other = "7000000002:AAsecond-bot-token"
    assert control(sandbox, "bots", token=other, username="kolos_bakery_bot")["id"] == 7000000002
    chats = list(range(300_001, 300_032))
    started(sandbox, *chats)
    control(sandbox, "users", chat_ids=chats, started=True, bot="kolos_bakery_bot")
    first = send(sandbox, *(text(f"a{chat}", to=chat) for chat in chats[:30]))
    second = send(sandbox, *(text(f"b{chat}", to=chat) for chat in chats[30:]), access_token=other)
    assert all(r.accepted for r in first + second)  # the first bot's full second does not hold the other up
    assert with_bot(sandbox, lambda channel: channel.number_info(), access_token=other).display_phone_number == (
        "kolos_bakery_bot")


def test_the_latency_setting_applies_to_the_bot_api(sandbox):
    sandbox.configure(latency_ms=300)
    began = time.monotonic()
    status, _answer = bot_call(sandbox, "getMe")
    assert status == 200 and time.monotonic() - began >= 0.3
