"""MAX's error table: each code's decision, its sentence when worded again later (in Russian too), the docs' table,
and what the adapter puts on the wire (pure)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from channels.base import FailureMeaning, InlineButton, Outbound, ResultKind, RetryScope
from channels.errors import call_sentence_for, decision_for, sentence_for
from channels.max import errors, payloads

DOCS = Path(__file__).resolve().parents[2] / "docs/channels-max.md"
TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"


@pytest.fixture
def babel_app():
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(TRANSLATIONS)
    Babel(app)
    with app.app_context():
        yield app


@pytest.mark.parametrize(("code", "status", "kind", "meaning", "scope"), [
    ("verify.token", 401, ResultKind.FAILED, FailureMeaning.SENDER, RetryScope.MESSAGE),
    ("chat.denied", 403, ResultKind.FAILED, FailureMeaning.STOPPED, RetryScope.MESSAGE),
    ("chat.not.found", 404, ResultKind.FAILED, FailureMeaning.INVALID_RECIPIENT, RetryScope.MESSAGE),
    ("too.many.requests", 429, ResultKind.RETRY, None, RetryScope.SENDER),
    ("proto.payload", 400, ResultKind.FAILED, FailureMeaning.MESSAGE, RetryScope.MESSAGE),
    ("internal.error", 500, ResultKind.RETRY, None, RetryScope.MESSAGE),
])
def test_each_code_decides(code, status, kind, meaning, scope):
    decision = errors.decide(code, status)
    assert (decision.kind, decision.code, decision.meaning, decision.scope) == (kind, code, meaning, scope)
    assert decision.sentence is errors.BY_CODE[code].sentence
    assert decision_for("max", code).kind is kind  # a stored code decides the same way again


def test_retry_after_wins_over_the_backoff():
    assert errors.decide("too.many.requests", 429).retry_after == 1.0
    assert errors.decide("too.many.requests", 429, retry_after=12).retry_after == 12


@pytest.mark.parametrize(("code", "status", "stored", "kind", "meaning", "scope"), [
    (None, 401, "http_401", ResultKind.FAILED, FailureMeaning.SENDER, RetryScope.MESSAGE),
    ("access.token.expired", 401, "access.token.expired", ResultKind.FAILED, FailureMeaning.SENDER,
     RetryScope.MESSAGE),
    (None, 429, "http_429", ResultKind.RETRY, None, RetryScope.SENDER),
    (None, 502, "http_502", ResultKind.RETRY, None, RetryScope.MESSAGE),
    ("something.new", 403, "something.new", ResultKind.FAILED, FailureMeaning.MESSAGE, RetryScope.MESSAGE),
])
def test_a_code_the_table_lacks_falls_back_on_the_status(code, status, stored, kind, meaning, scope):
    decision = errors.decide(code, status)
    assert (decision.code, decision.kind, decision.meaning, decision.scope) == (stored, kind, meaning, scope)


def test_every_code_is_worded_for_a_marketer_and_in_russian(babel_app):
    codes = [rule.code for rule in errors.RULES] + list(errors.TRANSPORT) + ["http_503"]
    for code in codes:
        english = str(sentence_for("max", code))
        assert "code" not in english, f"{code} has no sentence of its own: {english}"
        with force_locale("ru"):
            russian = str(sentence_for("max", code))
        assert russian != english and re.search("[а-я]", russian), f"{code} has no Russian sentence"
    assert "something.new" in str(sentence_for("max", "something.new"))  # the generic one names the code
    assert str(call_sentence_for("max", "timeout")) == "MAX did not answer in time."


def test_the_docs_list_every_code():
    text = DOCS.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z.]+)` \| (\d{3}) \|", text, re.MULTILINE))
    assert rows == {rule.code: str(rule.status) for rule in errors.RULES}


def test_the_body_and_the_recipient_on_the_wire():
    message = Outbound("k", "chat:-7055", text="**Скидка**", text_format="markdown",
                       buttons=(InlineButton("Отписаться", payload="opt_out"),))
    assert payloads.recipient(message.to) == {"chat_id": "-7055"}
    assert payloads.recipient("48211093") == {"user_id": "48211093"}
    assert payloads.message(message) == {
        "text": "**Скидка**", "notify": True, "format": "markdown",
        "attachments": [{"type": "inline_keyboard", "payload": {"buttons": [
            [{"type": "callback", "text": "Отписаться", "payload": "opt_out"}]]}}]}


@pytest.mark.parametrize("message", [
    Outbound("k", "1", text=" "),
    Outbound("k", "1", text="x", text_format="bbcode"),
    Outbound("k", "1", text="x", buttons=(InlineButton("", payload="p"),)),
    Outbound("k", "1", text="x", buttons=(InlineButton("t"),)),
    Outbound("k", "1", text="x", buttons=(InlineButton("t", url="ftp://x"),)),
    Outbound("k", "1", text="x", buttons=(InlineButton("t", payload="p" * 1025),)),
])
def test_what_max_would_refuse_is_refused_before_sending(message):
    with pytest.raises(payloads.PayloadError):
        payloads.message(message)


@pytest.mark.parametrize("address", ["", "+79161234567", "chat:", "chat:abc", "user:5"])
def test_an_address_must_be_an_id(address):
    with pytest.raises(payloads.AddressError):
        payloads.recipient(address)
