"""SMSC's error table: each code's decision, its sentence worded again later (in Russian too), the docs' table, and
what the adapter puts on the wire (pure)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from channels.base import FailureMeaning, Outbound, ResultKind, RetryScope
from channels.errors import call_sentence_for, decision_for, sentence_for
from channels.sms.smsc import errors, payloads

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs/channels-sms.md"


@pytest.fixture
def babel_app():
    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(ROOT / "translations")
    Babel(app)
    with app.app_context():
        yield app


@pytest.mark.parametrize(("code", "kind", "meaning", "scope"), [
    ("1", ResultKind.FAILED, FailureMeaning.MESSAGE, RetryScope.MESSAGE),
    ("2", ResultKind.FAILED, FailureMeaning.SENDER, RetryScope.MESSAGE),
    ("3", ResultKind.FAILED, FailureMeaning.SENDER, RetryScope.MESSAGE),
    ("4", ResultKind.RETRY, None, RetryScope.SENDER),
    ("5", ResultKind.FAILED, FailureMeaning.MESSAGE, RetryScope.MESSAGE),
    ("6", ResultKind.FAILED, FailureMeaning.TEMPLATE, RetryScope.MESSAGE),
    ("7", ResultKind.FAILED, FailureMeaning.INVALID_RECIPIENT, RetryScope.MESSAGE),
    ("8", ResultKind.FAILED, FailureMeaning.UNREACHABLE, RetryScope.MESSAGE),
    ("9", ResultKind.RETRY, None, RetryScope.SENDER),
    ("status_3", ResultKind.FAILED, FailureMeaning.UNREACHABLE, RetryScope.MESSAGE),
    ("status_20", ResultKind.FAILED, FailureMeaning.UNREACHABLE, RetryScope.MESSAGE),
    ("status_22", ResultKind.FAILED, FailureMeaning.INVALID_RECIPIENT, RetryScope.MESSAGE),
    ("status_23", ResultKind.FAILED, FailureMeaning.MESSAGE, RetryScope.MESSAGE),
    ("status_24", ResultKind.FAILED, FailureMeaning.SENDER, RetryScope.MESSAGE),
    ("status_25", ResultKind.FAILED, FailureMeaning.UNREACHABLE, RetryScope.MESSAGE),
])
def test_each_code_decides_and_a_stored_code_decides_the_same_again(code, kind, meaning, scope):
    decision = errors.decide(code)
    assert (decision.kind, decision.code, decision.meaning, decision.scope) == (kind, code, meaning, scope)
    again = decision_for("smsc", code)
    assert (again.kind, again.meaning, again.scope) == (kind, meaning, scope)


def test_the_waits():
    assert errors.decide("4").retry_after == 60 and errors.decide("9").retry_after == 10
    assert errors.decide("9", retry_after=3).retry_after == 3


@pytest.mark.parametrize(("code", "status", "stored", "kind"), [
    (None, 502, "http_502", ResultKind.RETRY),
    (None, 429, "http_429", ResultKind.RETRY),
    (None, 404, "http_404", ResultKind.FAILED),
    ("77", 200, "77", ResultKind.FAILED),
])
def test_an_answer_the_table_lacks(code, status, stored, kind):
    decision = errors.decide(code, status)
    assert (decision.code, decision.kind) == (stored, kind)


def test_sentences_are_worded_again_in_russian(babel_app):
    with force_locale("ru"):
        assert "SMSC" in str(sentence_for("smsc", "2")) and "пароль" in str(sentence_for("smsc", "2"))
        assert str(sentence_for("smsc", "status_20")).startswith("Телефон недоступен для SMS")
        assert str(call_sentence_for("smsc", "timeout")) != str(sentence_for("smsc", "timeout"))
    assert "77" in str(sentence_for("smsc", "77"))


def test_every_row_is_in_the_docs():
    documented = set(re.findall(r"^\| `([^`]+)` \|", DOCS.read_text(encoding="utf-8"), re.M))
    assert documented == {rule.code for rule in errors.RULES}


def test_the_form_on_the_wire():
    form = payloads.form(Outbound("41-7", "+79161234501", text="Привет"), "shop", "pw", "Shop")
    assert form == {"login": "shop", "psw": "pw", "phones": "+79161234501", "mes": "Привет", "id": "41-7",
                    "fmt": "3", "charset": "utf-8", "cost": "3", "sender": "Shop"}
    assert "sender" not in payloads.form(Outbound("41-7", "+79161234501", text="Hi"), "shop", "pw", "")


def test_the_testdata_answers_read_as_the_adapter_reads_them():
    accepted = json.loads((ROOT / "channels/sms/smsc/testdata/send_accepted.json").read_text())
    refused = json.loads((ROOT / "channels/sms/smsc/testdata/error_unreachable.json").read_text())
    assert accepted["id"] == "41-7" and "error_code" not in accepted
    assert errors.decide(str(refused["error_code"])).meaning is FailureMeaning.UNREACHABLE
