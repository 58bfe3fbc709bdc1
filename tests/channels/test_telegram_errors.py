"""Telegram's answers from testdata, and transport failures, through the channel over real HTTP (a local recording
server stands in for api.telegram.org); every stored code worded again, in English and Russian."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel

from channels.base import FailureMeaning, Outbound, ResultKind, RetryScope, SenderSettings
from channels.errors import call_sentence_for, decision_for, sentence_for
from channels.telegram import BASE_URL, TelegramBot
from channels.telegram import errors as telegram_errors
from tests.channels.meta_server import Reply, against_server

TESTDATA = Path(__file__).resolve().parents[2] / "channels/telegram/testdata"
TOKEN = "123456:ABC-test"


def fixture(name: str):
    return json.loads((TESTDATA / f"{name}.json").read_text(encoding="utf-8"))


def send(messages, respond=None, **overrides):
    async def scenario(server, session):
        settings = server.settings(channel="telegram", access_token=TOKEN, **overrides)
        return await TelegramBot(settings, session).send(messages), server

    return against_server(scenario, respond or (lambda _r: Reply(body=fixture("send_accepted"))))


def outbound(key: str = "k1") -> Outbound:
    return Outbound(key, "512345678", text="Весной скидка 20%!")


def test_the_default_base_url_is_telegrams():
    assert BASE_URL == "https://api.telegram.org"
    bot = TelegramBot(SenderSettings("telegram", "", access_token=TOKEN), session=None)
    assert bot._url("sendMessage") == f"https://api.telegram.org/bot{TOKEN}/sendMessage"


def test_a_send_posts_json_to_the_bots_send_message():
    [result], server = send([outbound()])
    [request] = server.received
    assert (request.method, request.path) == ("POST", f"/bot{TOKEN}/sendMessage")
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.body == {"chat_id": 512345678, "text": "Весной скидка 20%!"}
    assert (result.kind, result.provider_id, result.address) == (ResultKind.ACCEPTED, "512345678:2", "512345678")


@pytest.mark.parametrize("name, code, meaning", [
    ("error_blocked", "bot_blocked", FailureMeaning.STOPPED),
    ("error_deactivated", "user_deactivated", FailureMeaning.STOPPED),
    ("error_cant_initiate", "cant_initiate", FailureMeaning.STOPPED),
    ("error_chat_not_found", "chat_not_found", FailureMeaning.INVALID_RECIPIENT),
    ("error_cant_parse_entities", "cant_parse_entities", FailureMeaning.MESSAGE),
    ("error_unauthorized", "unauthorized", FailureMeaning.SENDER),
])
def test_each_error_answer_fails_with_its_meaning(name, code, meaning):
    answer = fixture(name)
    [result], _ = send([outbound()], lambda _r: Reply(answer["error_code"], answer))
    assert (result.kind, result.code, result.meaning, result.uncertain) == (ResultKind.FAILED, code, meaning, False)
    assert result.detail == answer["description"]


def test_429_waits_for_retry_after_and_slows_the_bot():
    answer = fixture("error_too_many_requests")
    [result], _ = send([outbound()], lambda _r: Reply(429, answer))
    assert (result.kind, result.code, result.scope, result.retry_after, result.uncertain) == (
        ResultKind.RETRY, "too_many_requests", RetryScope.SENDER, 35.0, False)


@pytest.mark.parametrize("answer, code, meaning", [
    ({"ok": False, "error_code": 403, "description": "Forbidden: bot was kicked from the group chat"}, "bot_kicked",
     FailureMeaning.STOPPED),
    ({"ok": False, "error_code": 403, "description": "Forbidden: something new"}, "forbidden", FailureMeaning.STOPPED),
    ({"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}, "message_too_long",
     FailureMeaning.MESSAGE),
    ({"ok": False, "error_code": 400, "description": "Bad Request: something new"}, "bad_request",
     FailureMeaning.MESSAGE),
    ({"ok": False, "error_code": 400, "description": "Bad Request: group chat was upgraded to a supergroup chat",
      "parameters": {"migrate_to_chat_id": -1001234567890}}, "chat_migrated", FailureMeaning.INVALID_RECIPIENT),
])
def test_descriptions_decide_and_unknown_ones_fall_back_on_the_status(answer, code, meaning):
    [result], _ = send([outbound()], lambda _r: Reply(answer["error_code"], answer))
    assert (result.kind, result.code, result.meaning) == (ResultKind.FAILED, code, meaning)


def test_a_telegram_server_error_retries_and_is_certain():
    answer = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
    [result], _ = send([outbound()], lambda _r: Reply(500, answer))
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "http_500", False)


def test_a_gateways_error_page_retries_and_may_have_gone_through():
    # nginx in front of the Bot API answered: whether the API behind it handled the send is unknown.
    [result], _ = send([outbound()], lambda _r: Reply(502, "<html>502 Bad Gateway</html>"))
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "http_502", True)


@pytest.mark.parametrize("body", [{"ok": True, "result": {"message_id": 5}}, "<html>ok</html>", {"ok": True}])
def test_a_success_without_the_message_is_a_retry_that_may_have_gone(body):
    [result], _ = send([outbound()], lambda _r: Reply(200, body))
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "malformed_response", True)


def test_a_timeout_and_a_dropped_connection_may_have_gone_through():
    [timeout], _ = send([outbound()], lambda _r: Reply(hang=True), timeout_seconds=0.3)
    [dropped], _ = send([outbound()], lambda _r: Reply(drop=True))
    assert (timeout.kind, timeout.code, timeout.uncertain) == (ResultKind.RETRY, "timeout", True)
    assert (dropped.kind, dropped.code, dropped.uncertain) == (ResultKind.RETRY, "disconnected", True)


def test_a_refused_connection_surely_did_not():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    [result], _ = send([outbound()], base_url=f"http://127.0.0.1:{port}")
    assert (result.kind, result.code, result.uncertain) == (ResultKind.RETRY, "connection", False)


def test_a_batch_runs_concurrently_and_keeps_its_order():
    async def respond(received):
        await asyncio.sleep(0.05 if received.body["text"] == "first" else 0)
        return Reply(body={"ok": True, "result": {"message_id": len(received.body["text"]),
                                                  "chat": {"id": received.body["chat_id"]}}})

    messages = [Outbound("a", "1", text="first"), Outbound("b", "2", text="second!")]
    results, server = send(messages, respond)
    assert [r.provider_id for r in results] == ["1:5", "2:7"]
    assert server.most_in_flight == 2


def test_set_webhook_sends_the_url_the_secret_and_the_update_kinds():
    async def scenario(server, session):
        bot = TelegramBot(server.settings(channel="telegram", access_token=TOKEN), session)
        await bot.subscribe_webhook("https://vestnik.example/webhooks/telegram/7", "s3cret")
        return server

    server = against_server(scenario, lambda _r: Reply(body=fixture("set_webhook")))
    [request] = server.received
    assert request.path == f"/bot{TOKEN}/setWebhook"
    assert request.body == {"url": "https://vestnik.example/webhooks/telegram/7", "secret_token": "s3cret",
                            "allowed_updates": ["message", "callback_query", "my_chat_member"]}


# --- stored codes worded again ----------------------------------------------------------------------

EVERY_CODE = ([rule.code for rule in telegram_errors.RULES] + list(telegram_errors.REFUSALS)
              + ["timeout", "disconnected", "connection", "malformed_response", "http_502", "http_429"])


def test_every_code_has_its_own_sentence_in_english_and_russian():
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(Path(__file__).resolve().parents[2] / "translations")
    Babel(app, locale_selector=lambda: "ru")
    unknown = str(sentence_for("telegram", "no-such-code"))
    english = {code: str(sentence_for("telegram", code)) for code in EVERY_CODE}
    with app.test_request_context():
        russian = {code: str(sentence_for("telegram", code)) for code in EVERY_CODE}
    assert all(english.values()) and unknown not in english.values()
    assert "(code no-such-code)" in unknown
    untranslated = [english[code] for code in EVERY_CODE if not re.search("[а-яА-Я]", russian[code])]
    assert untranslated == []


# As for WhatsApp (test_whatsapp_errors): a sentence says what happened, never what Vestnik does next.
PROMISES = re.compile(r"is paused|tried again|sent again|is stopped|slows down|goes on|resumes|"
                      r"treated as|shortly|will be|Vestnik", re.IGNORECASE)


def test_no_sentence_says_what_vestnik_does_next():
    assert [english for code in EVERY_CODE if PROMISES.search(english := str(sentence_for("telegram", code)))] == []


def test_stored_codes_decide_as_the_send_did():
    assert decision_for("telegram", "bot_blocked").meaning is FailureMeaning.STOPPED
    assert decision_for("telegram", "chat_not_found").meaning is FailureMeaning.INVALID_RECIPIENT
    throttled = decision_for("telegram", "too_many_requests")
    assert (throttled.kind, throttled.scope) == (ResultKind.RETRY, RetryScope.SENDER)
    assert decision_for("telegram", "timeout").kind is ResultKind.RETRY
    assert decision_for("telegram", "http_503").kind is ResultKind.RETRY
    assert decision_for("telegram", "button_data_too_long").meaning is FailureMeaning.MESSAGE


def test_a_call_sentence_of_a_timeout_concerns_no_message():
    assert str(call_sentence_for("telegram", "timeout")) == "The provider did not answer in time."


def test_every_row_of_the_table_is_in_the_docs():
    docs = (Path(__file__).resolve().parents[2] / "docs/channels.md").read_text(encoding="utf-8")
    section = docs[docs.index("## Telegram Bot API"):docs.index("## Why aiohttp")]
    listed = set(re.findall(r"`([a-z_]+)`", "\n".join(line.split("|")[1] for line in section.splitlines()
                                                          if line.startswith("| `"))))
    assert listed >= {rule.code for rule in telegram_errors.RULES}
