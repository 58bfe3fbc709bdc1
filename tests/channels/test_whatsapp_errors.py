"""Meta's error codes → what the adapter decides: retry (who waits, how long) or failed (what it means).

The expectations are written out here by hand, from Meta's error-code reference, so that a wrong row in
the adapter's table fails a test instead of agreeing with itself.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from channels.base import FailureMeaning as F
from channels.base import MessageKind, ResultKind
from channels.base import RetryScope as S
from channels.decisions import http_sentence
from channels.errors import call_sentence_for, decision_for, sentence_for
from channels.whatsapp_cloud import errors

DOCS = Path(__file__).resolve().parents[2] / "docs/channels.md"
DAY = 24 * 3600

RETRIES = [  # code, HTTP status it usually comes with, scope, wait without Retry-After
    (130429, 400, S.SENDER, 2),
    (130429, 429, S.SENDER, 2),
    (80007, 400, S.SENDER, 60),
    (4, 400, S.SENDER, 60),
    (131056, 400, S.MESSAGE, 6),
    (131048, 400, S.SENDER, 3600),
    (131049, 400, S.RECIPIENT, DAY),
    (131057, 400, S.SENDER, 600),
    (131000, 500, S.MESSAGE, 5),
    (1, 400, S.MESSAGE, 5),
    (2, 503, S.MESSAGE, 30),
    (131016, 503, S.MESSAGE, 30),
    (133004, 503, S.MESSAGE, 30),
]
FAILURES = [  # code, HTTP status, meaning
    (131050, 400, F.OPTED_OUT),
    (131026, 400, F.NOT_ON_CHANNEL),
    (131021, 400, F.INVALID_RECIPIENT),
    (131030, 400, F.MESSAGE),
    (130472, 400, F.MESSAGE),
    (130497, 403, F.MESSAGE),
    (131047, 400, F.OUTSIDE_WINDOW),
    (131051, 400, F.MESSAGE),
    (132005, 400, F.MESSAGE),
    (135000, 400, F.MESSAGE),
    (132000, 400, F.TEMPLATE),
    (132001, 404, F.TEMPLATE),
    (132007, 400, F.TEMPLATE),
    (132012, 400, F.TEMPLATE),
    (132015, 400, F.TEMPLATE),
    (132016, 400, F.TEMPLATE),
    (190, 401, F.SENDER),
    (0, 401, F.SENDER),
    (3, 403, F.SENDER),
    (10, 403, F.SENDER),
    (200, 403, F.SENDER),
    (250, 403, F.SENDER),
    (299, 403, F.SENDER),
    (131005, 403, F.SENDER),
    (131031, 403, F.SENDER),
    (368, 403, F.SENDER),
    (131042, 400, F.SENDER),
    (131037, 400, F.SENDER),
    (131045, 400, F.SENDER),
    (133010, 400, F.SENDER),
    (133006, 400, F.SENDER),
]


@pytest.mark.parametrize(("code", "status", "scope", "wait"), RETRIES)
def test_transient_codes_retry(code, status, scope, wait):
    decision = errors.decide(code, status)
    assert (decision.kind, decision.scope, decision.retry_after, decision.code) == (
        ResultKind.RETRY,
        scope,
        wait,
        str(code),
    )
    assert decision.meaning is None and str(decision.sentence)


@pytest.mark.parametrize(("code", "status", "meaning"), FAILURES)
def test_permanent_codes_fail_with_their_meaning(code, status, meaning):
    decision = errors.decide(code, status)
    assert (decision.kind, decision.meaning, decision.code) == (ResultKind.FAILED, meaning, str(code))
    assert decision.retry_after is None and str(decision.sentence)


@pytest.mark.parametrize("code", [100, 131008, 131009])
def test_a_bad_parameter_is_the_templates_for_a_template_and_the_messages_for_text(code):
    assert errors.decide(code, 400, kind=MessageKind.TEMPLATE).meaning is F.TEMPLATE
    assert errors.decide(code, 400, kind=MessageKind.TEXT).meaning is F.MESSAGE


def test_the_code_decides_not_the_http_status():
    # Meta answers throttling with 400 as well as 429; and a 500 carrying an opt-out is still an opt-out.
    assert errors.decide(130429, 400).kind is ResultKind.RETRY
    assert errors.decide(131050, 500).kind is ResultKind.FAILED
    assert errors.decide(131000, 400).kind is ResultKind.RETRY


def test_retry_after_wins_over_the_backoff_but_not_over_a_minimum():
    assert errors.decide(130429, 429, retry_after=7).retry_after == 7
    assert errors.decide(131000, 500, retry_after=0).retry_after == 0
    assert errors.decide(131049, 400, retry_after=60).retry_after == DAY
    assert errors.decide(131049, 400, retry_after=2 * DAY).retry_after == 2 * DAY


def test_an_unknown_code_fails_on_4xx_and_retries_on_5xx_and_429():
    refused = errors.decide(987654, 400)
    assert (refused.kind, refused.meaning, refused.code) == (ResultKind.FAILED, F.MESSAGE, "987654")
    assert str(refused.sentence) == "The provider refused the message (code 987654)."
    server = errors.decide(987654, 502, retry_after=3)
    assert (server.kind, server.scope, server.retry_after) == (ResultKind.RETRY, S.MESSAGE, 3)
    assert errors.decide(987654, 503).retry_after == errors.DEFAULT_BACKOFF
    throttled = errors.decide(987654, 429)
    assert (throttled.kind, throttled.scope) == (ResultKind.RETRY, S.SENDER)


def test_an_answer_without_metas_json_is_decided_by_status():
    server = errors.decide(None, 502)
    assert (server.kind, server.code) == (ResultKind.RETRY, "http_502")
    assert str(server.sentence) == "The provider answered with a server error (HTTP 502)."
    refused = errors.decide(None, 404)
    assert (refused.kind, refused.code, refused.meaning) == (ResultKind.FAILED, "http_404", F.MESSAGE)
    assert (errors.decide(None, 429, retry_after=9).scope, errors.decide(None, 429, retry_after=9).retry_after) == (
        S.SENDER,
        9,
    )


def test_every_code_has_exactly_one_row():
    codes = [code for rule in errors.RULES for code in rule.codes]
    assert len(codes) == len(set(codes))
    expected = {code for code, *_ in RETRIES + FAILURES} | {100, 131008, 131009}
    assert expected <= set(codes)


# --- sentences, stored codes and the docs -------------------------------------------------------------


def test_a_stored_code_is_worded_again_from_the_table():
    assert str(sentence_for("whatsapp_cloud", "131050")) == str(errors.BY_CODE[131050].sentence)
    assert str(sentence_for("sandbox", "190")).startswith("The provider refused the sender's access token")
    assert str(sentence_for("whatsapp_cloud", "timeout")) == (
        "The provider did not answer in time; the message may or may not have been accepted.")
    assert str(sentence_for("whatsapp_cloud", "http_503")) == "The provider answered with a server error (HTTP 503)."
    assert str(sentence_for("whatsapp_cloud", "http_429")) == "The provider asks to slow down (HTTP 429)."
    assert str(sentence_for("sandbox", "132015")) == "The provider paused the template because people rated it poorly."


def test_a_code_stored_from_a_call_other_than_a_send_says_nothing_of_a_message():
    assert str(call_sentence_for("sandbox", "timeout")) == "The provider did not answer in time."
    assert str(call_sentence_for("whatsapp_cloud", "connection")) == "The provider could not be reached."
    assert str(call_sentence_for("whatsapp_cloud", "190")) == str(sentence_for("whatsapp_cloud", "190"))
    assert str(call_sentence_for("telegram", "190")) == "The provider refused the message (code 190)."


# What Vestnik does about a code depends on where it arrived (a campaign, a test send, a connection check):
# the sentence says what happened, and campaigns says what follows. These are the old promises.
PROMISES = re.compile(r"is paused|tried again|sent again|is stopped|slows down|goes on|resumes|"
                      r"treated as|shortly|will be|Vestnik", re.IGNORECASE)


def test_no_sentence_says_what_vestnik_does_next():
    sentences = ([rule.sentence for rule in errors.RULES] + list(errors.TRANSPORT.values())
                 + list(errors.CALLS.values()) + [http_sentence(status) for status in (400, 429, 503)])
    promising = [str(sentence) for sentence in sentences if PROMISES.search(str(sentence))]
    assert promising == []


@pytest.mark.parametrize(
    ("channel", "code"),
    [("whatsapp_cloud", "424242"), ("sandbox", "abc"), ("telegram", "131050"), ("whatsapp_cloud", None)],
)
def test_a_code_no_table_knows_gets_the_generic_sentence(channel, code):
    assert str(sentence_for(channel, code)) == f"The provider refused the message (code {code or '?'})."


def action(rule: errors.Rule) -> str:
    """What docs/channels.md says Vestnik does, by the rule's decision."""
    if rule.kind is ResultKind.RETRY:
        return {S.MESSAGE: "retry", S.SENDER: "slow the sender", S.RECIPIENT: "defer the recipient"}[rule.scope]
    return {
        F.OPTED_OUT: "opt-out",
        F.NOT_ON_CHANNEL: "not on WhatsApp",
        F.INVALID_RECIPIENT: "invalid recipient",
        F.TEMPLATE: "pause the campaign",
        F.OUTSIDE_WINDOW: "outside the window",
        F.SENDER: "stop the sender",
        F.MESSAGE: "fail the message",
        errors.BY_KIND: "pause the campaign (template) / fail the message (text)",
    }[rule.meaning]


def docs_rows() -> dict[str, list[str]]:
    rows = {}
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"[\d–, ]+", cells[0]):
            rows[cells[0]] = cells
    return rows


def test_every_row_of_the_table_is_in_the_docs_with_its_action_and_sentence():
    rows = docs_rows()
    for rule in errors.RULES:
        assert rule.label in rows, f"docs/channels.md has no row for {rule.label}"
        _label, _title, done, sentence = rows[rule.label]
        assert done == action(rule), rule.label
        assert sentence == str(rule.sentence), rule.label
    assert set(rows) == {rule.label for rule in errors.RULES}, "docs/channels.md lists a code the table does not"


def test_every_sentence_is_written_and_russian_is_served(tmp_path):
    from flask import Flask
    from flask_babel import Babel

    app = Flask(__name__)
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(DOCS.parents[1] / "translations")
    Babel(app, locale_selector=lambda: "ru")
    sentences = [rule.sentence for rule in errors.RULES] + list(errors.TRANSPORT.values()) + list(errors.CALLS.values())
    english = [str(sentence) for sentence in sentences]
    with app.test_request_context():
        russian = [str(sentence) for sentence in sentences]
        generic = str(sentence_for("whatsapp_cloud", "424242"))
        server = str(sentence_for("whatsapp_cloud", "http_502"))
    assert all(english) and all(russian)
    assert all(re.search("[а-яА-Я]", text) for text in russian), [
        e for e, r in zip(english, russian, strict=True) if e == r
    ]
    assert "424242" in generic and re.search("[а-я]", generic)
    assert "502" in server and re.search("[а-я]", server)


@pytest.mark.parametrize(
    ("code", "kind", "scope", "meaning"),
    [
        ("131049", ResultKind.RETRY, S.RECIPIENT, None),
        ("131050", ResultKind.FAILED, S.MESSAGE, F.OPTED_OUT),
        ("131026", ResultKind.FAILED, S.MESSAGE, F.NOT_ON_CHANNEL),
        ("132015", ResultKind.FAILED, S.MESSAGE, F.TEMPLATE),
        ("131014", ResultKind.FAILED, S.MESSAGE, F.MESSAGE),  # not in the table: a status reports final failures
        ("timeout", ResultKind.RETRY, S.MESSAGE, None),
        ("http_503", ResultKind.RETRY, S.MESSAGE, None),
        ("weird", ResultKind.FAILED, S.MESSAGE, F.MESSAGE),
    ],
)
def test_a_code_from_a_failed_status_is_decided_like_a_send(code, kind, scope, meaning):
    decision = decision_for("sandbox", code)
    assert (decision.kind, decision.scope, decision.meaning, decision.code) == (kind, scope, meaning, code)
    assert str(decision.sentence) == str(sentence_for("sandbox", code))


def test_a_stored_bad_parameter_follows_the_kind_and_an_unknown_channel_has_no_decision():
    assert decision_for("whatsapp_cloud", "131009", MessageKind.TEXT).meaning is F.MESSAGE
    assert decision_for("whatsapp_cloud", "131009").meaning is F.TEMPLATE
    assert decision_for("sms", "131050") is None
