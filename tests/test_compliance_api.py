"""The compliance JSON API under /api/v1: the suppression list and the content check, by Bearer token."""

from __future__ import annotations

import csv
import io

import pytest

from compliance import suppression
from compliance.models import SuppressionReason
from extensions import db
from tests.helpers import assert_problem
from tests.records import audit_events as events
from tests.records import suppress
from tests.records import suppression_rows as rows

FORBIDDEN = "Your role does not allow this. Ask an administrator if you need access."
LINT_KEYS = {"text", "language", "tagged", "mentions", "links", "spam", "verdicts", "outcome"}
DISCLAIMER_EN = ("*Meta Platforms Inc. is recognised as an extremist organisation; "
                 "its activities are banned in the Russian Federation.")


@pytest.fixture
def call(client):
    """``call(method, path, token, json=…)``: one API request."""

    def request(method: str, path: str, token: str | None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return request








def problem(response, status: int, message: str, field: str | None = None) -> None:
    assert assert_problem(response, status, field=field)["detail"] == message


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/suppressions"),
    ("POST", "/suppressions"),
    ("GET", "/suppressions/+79031112233"),
    ("POST", "/suppressions/+79031112233/lift"),
    ("POST", "/lint"),
])
@pytest.mark.parametrize("token", [None, "vst_made-up"])
def test_requests_without_a_valid_token_are_401(call, method, path, token):
    suppress("+79031112233")
    response = call(method, path, token, json={"phone": "+79031112244", "reason": "block", "text": "x"})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="vestnik"'
    assert [row.phone for row in rows()] == ["+79031112233"] and rows()[0].is_open


# --- adding ---------------------------------------------------------------------------------------

def test_adding_a_number_is_201_then_200_for_the_same_number_and_reason(call, token_of):
    token = token_of("marketer")
    first = call("POST", "/suppressions", token, json={"phone": "8 (903) 123-45-67", "reason": "opt_out",
                                                       "evidence": "wamid.HBgL"})
    assert first.status_code == 201
    body = first.json
    assert {key: body[key] for key in ("phone", "reason", "source", "note", "evidence", "lifted_at", "lifted_by")} == {
        "phone": "+79031234567", "reason": "opt_out", "source": "api", "note": "", "evidence": "wamid.HBgL",
        "lifted_at": None, "lifted_by": None}
    assert body["created_by"].endswith("@example.com") and body["created_at"]

    again = call("POST", "/suppressions", token, json={"phone": "+7 903 123 45 67", "reason": "opt_out"})
    assert again.status_code == 200 and again.json == body

    other_reason = call("POST", "/suppressions", token, json={"phone": "+79031234567", "reason": "block"})
    assert other_reason.status_code == 201 and other_reason.json["id"] != body["id"]
    assert [(row.phone, row.reason) for row in rows()] == [
        ("+79031234567", SuppressionReason.OPT_OUT), ("+79031234567", SuppressionReason.BLOCK)]
    added = events("suppression.added")
    assert [(event.actor_label, event.object_id) for event in added] == [
        (body["created_by"], str(body["id"])), (body["created_by"], str(other_reason.json["id"]))]


def test_a_manual_suppression_needs_a_note(call, token_of):
    token = token_of()
    problem(call("POST", "/suppressions", token, json={"phone": "+79031234567"}), 400,
            "Write a note saying why this number is suppressed.")
    response = call("POST", "/suppressions", token, json={"phone": "+79031234567", "note": "Asked in the shop"})
    assert response.status_code == 201 and (response.json["reason"], response.json["note"]) == (
        "manual",
        "Asked in the shop",
    )


BAD_REASON = "“reason” must be one of opt_out, block, spam_report or manual."


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"phone": "hello", "reason": "opt_out"}, "phone", "“hello” is not a phone number."),
        (
            {"phone": "8 903 12", "reason": "opt_out"},
            "phone",
            "“8 903 12” has the wrong number of digits for a phone number.",
        ),
        ({"reason": "opt_out"}, "phone", "Enter a phone number."),
        ({"phone": "+79031234567", "reason": "unsubscribed"}, "reason", BAD_REASON),
        ({"phone": "+79031234567", "reason": ["opt_out"]}, "reason", BAD_REASON),
    ],
)
def test_a_bad_request_to_add_is_400_naming_the_field(call, token_of, body, field, message):
    problem(call("POST", "/suppressions", token_of(), json=body), 400, message, field)
    assert rows() == [] and events("suppression.added") == []


@pytest.mark.parametrize(("data", "message"), [
    ("phone=+79031234567", "The body is not valid JSON."),
    ('{"phone": "+79031234567",', "The body is not valid JSON."),
    ('["+79031234567"]', "The body must be a JSON object."),
    ("null", "The body must be a JSON object."),
])
def test_a_body_that_is_not_a_json_object_is_400_without_field_errors(call, token_of, data, message):
    response = call("POST", "/suppressions", token_of(), data=data, content_type="text/plain")
    assert assert_problem(response, 400, "invalid-json", detail=message)["title"] == "The body is not valid JSON"
    assert "errors" not in response.json and rows() == []


# --- listing and one number -----------------------------------------------------------------------

def test_the_list_pages_newest_first(call, token_of):
    phones = [f"+7903000{number:04d}" for number in range(55)]
    for phone in phones:
        suppression.suppress(phone, SuppressionReason.OPT_OUT, source="test")
    db.session.commit()
    token = token_of("reviewer")

    first = call("GET", "/suppressions", token)
    assert first.status_code == 200
    assert [entry["phone"] for entry in first.json["suppressions"]] == phones[::-1][:50]
    assert first.json["next_before"] == first.json["suppressions"][-1]["id"]
    second = call("GET", f"/suppressions?before={first.json['next_before']}", token)
    assert [entry["phone"] for entry in second.json["suppressions"]] == phones[::-1][50:]
    assert second.json["next_before"] is None


def test_the_list_searches_by_digits_and_includes_lifted_entries_on_request(call, token_of):
    suppress("+79031112233")
    suppress("+79035556677", SuppressionReason.MANUAL, note="asked by e-mail")
    suppress("+79031119999", SuppressionReason.BLOCK)
    suppression.lift("+79031119999", reason_text="consent", actor=None)
    db.session.commit()
    token = token_of()

    def phones(query: str) -> list[str]:
        return [entry["phone"] for entry in call("GET", f"/suppressions{query}", token).json["suppressions"]]

    assert phones("") == ["+79035556677", "+79031112233"]
    assert phones("?q=903 111") == ["+79031112233"]
    assert phones("?q=903111&lifted=true") == ["+79031119999", "+79031112233"]
    assert phones("?q=e-mail") == ["+79035556677"]


def test_the_status_of_one_number_has_its_history(call, token_of):
    suppress("+79031112233", SuppressionReason.BLOCK)
    suppression.lift("+79031112233", reason_text="Replied START", actor=None)
    suppress("+79031112233", SuppressionReason.SPAM_REPORT)
    suppress("+79031112233", SuppressionReason.OPT_OUT)
    token = token_of()

    response = call("GET", "/suppressions/8 (903) 111-22-33", token)
    assert response.status_code == 200
    body = response.json
    assert (body["phone"], body["suppressed"], body["reasons"]) == ("+79031112233", True, ["opt_out", "spam_report"])
    assert [(entry["reason"], entry["lift_reason"]) for entry in body["history"]] == [
        ("opt_out", None), ("spam_report", None), ("block", "Replied START")]
    assert body["history"][2]["lifted_at"] and body["history"][2]["lifted_by"] == "system"

    never = call("GET", "/suppressions/+79035556677", token).json
    assert never == {"phone": "+79035556677", "suppressed": False, "reasons": [], "history": []}
    problem(call("GET", "/suppressions/hello", token), 404, "“hello” is not a phone number.")


# --- lifting --------------------------------------------------------------------------------------

def test_an_admin_lifts_every_suppression_of_a_number_but_an_opt_out(call, token_of):
    suppress("+79031112233", SuppressionReason.BLOCK)
    suppress("+79031112233", SuppressionReason.SPAM_REPORT)
    token = token_of("admin")

    response = call("POST", "/suppressions/89031112233/lift", token, json={"reason": "Signed consent form no. 12"})
    assert response.status_code == 200
    assert response.json["phone"] == "+79031112233"
    lifted = response.json["lifted"]
    assert [(entry["reason"], entry["lift_reason"]) for entry in lifted] == [
        ("block", "Signed consent form no. 12"), ("spam_report", "Signed consent form no. 12")]
    assert all(entry["lifted_at"] and entry["lifted_by"].endswith("@example.com") for entry in lifted)
    assert call("GET", "/suppressions/+79031112233", token).json["suppressed"] is False
    assert [event.object_id for event in events("suppression.lifted")] == [str(entry["id"]) for entry in lifted]

    problem(call("POST", "/suppressions/+79031112233/lift", token, json={"reason": "again"}), 400,
            "+79031112233 is not suppressed.")
    suppress("+79031112233", SuppressionReason.OPT_OUT)
    problem(call("POST", "/suppressions/+79031112233/lift", token, json={"reason": "asked by phone"}), 400,
            "+79031112233 opted out; only the person can opt back in, by replying START.")


@pytest.mark.parametrize("role", ["marketer", "reviewer"])
def test_only_admins_lift(call, token_of, role):
    suppress("+79031112233")
    problem(call("POST", "/suppressions/+79031112233/lift", token_of(role), json={"reason": "The customer called"}),
            403, FORBIDDEN)
    assert rows()[0].is_open and events("suppression.lifted") == []


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}])
def test_lifting_without_a_reason_is_400(call, token_of, body):
    suppress("+79031112233")
    problem(call("POST", "/suppressions/+79031112233/lift", token_of("admin"), json=body), 400,
            "Write the reason for lifting the suppression.")
    assert rows()[0].is_open and events("suppression.lifted") == []


def test_lifting_an_invalid_number_is_404(call, token_of):
    problem(call("POST", "/suppressions/hello/lift", token_of("admin"), json={"reason": "x"}), 404,
            "“hello” is not a phone number.")


# --- the content check ----------------------------------------------------------------------------

def test_lint_returns_the_documented_report(call, token_of):
    text = "Наш Instagram: instagram.com/shop"
    response = call("POST", "/lint", token_of("reviewer"), json={"text": text})
    assert response.status_code == 200
    report = response.json
    assert set(report) == LINT_KEYS
    assert (report["text"], report["language"], report["outcome"]) == (text, "ru", "block")
    assert report["mentions"] == [{"platform": "instagram", "match": "Instagram", "start": 4, "end": 13}]
    assert report["links"] == [{"platform": "instagram", "url": "instagram.com/shop", "start": 15, "end": 33}]
    assert report["tagged"].startswith("Наш Instagram*: instagram.com/shop\n\n*Meta Platforms Inc. признана")
    assert [(verdict["rule"], verdict["outcome"]) for verdict in report["verdicts"]] == [
        ("restricted_link", "block"), ("restricted_mention", "warn"), ("spam_score", "pass")]
    assert report["verdicts"][0]["reason"] == "Links to Instagram are not allowed in Russia: instagram.com/shop."
    assert report["spam"] == {"score": 0.0, "outcome": "pass", "signals": []}


def test_lint_adds_the_disclaimer_in_the_language_asked_for(call, token_of):
    report = call("POST", "/lint", token_of(), json={"text": "Follow us on Facebook", "language": "en"}).json
    assert report["tagged"] == f"Follow us on Facebook*\n\n{DISCLAIMER_EN}"
    assert report["outcome"] == "warn"


def test_lint_scores_spam(call, token_of):
    report = call("POST", "/lint", token_of(), json={"text": "БЕСПЛАТНО!!! ТОЛЬКО СЕГОДНЯ!!! bit.ly/x"}).json
    assert report["spam"]["outcome"] == "block" and report["outcome"] == "block"
    assert {signal["name"] for signal in report["spam"]["signals"]} >= {"uppercase", "exclamations", "shorteners"}


@pytest.mark.parametrize(("body", "message"), [
    ({}, "Send the message as “text”."),
    ({"text": "   "}, "Send the message as “text”."),
    ({"text": 42}, "Send the message as “text”."),
    ({"text": "Hello", "language": "de"}, "“language” must be ru or en."),
])
def test_lint_refuses_a_bad_request(call, token_of, body, message):
    problem(call("POST", "/lint", token_of(), json=body), 400, message, "language" if "language" in body else "text")


def test_csv_import_and_export_through_the_api(call, token_of):
    token = token_of()
    body = b"phone,reason,note\n+79031112233,block,\nnot a number,,\n"
    response = call("POST", "/suppressions/import?reason=opt_out", token, data=body, content_type="text/csv")
    assert response.status_code == 200
    assert response.json == {
        "read": 2,
        "added": 1,
        "already": 0,
        "rejected": [{"row": 3, "reason": "“not a number” is not a phone number."}],
    }
    upload = {"file": (io.BytesIO("Телефон\n89035556677\n".encode("cp1251")), "list.csv")}
    assert (
        call("POST", "/suppressions/import", token, data=upload, content_type="multipart/form-data").json["added"] == 1
    )
    exported = call("GET", "/suppressions.csv", token, buffered=True).get_data(as_text=True).removeprefix("\ufeff")
    assert [row[:2] for row in csv.reader(io.StringIO(exported))] == [
        ["phone", "reason"], ["+79031112233", "block"], ["+79035556677", "manual"]]


@pytest.mark.parametrize(("data", "sentence"), [
    (b"", "The file is empty."),
    (b"%PDF-1.7 binary", "This is not a CSV file"),
    (b"phone\n+79031112233\n" + b"\x98\xff", "neither UTF-8 nor Windows-1251"),
])
def test_a_bad_csv_gets_a_sentence_and_changes_nothing(call, token_of, data, sentence):
    response = call("POST", "/suppressions/import", token_of(), data=data, content_type="text/csv")
    assert_problem(response, 400, detail=sentence)
    assert rows() == []


@pytest.mark.parametrize("before", ["²", "99999999999999999999999", "-1", "abc"])
def test_a_malformed_page_cursor_is_ignored(call, token_of, before):
    suppress("+79031112233")
    response = call("GET", f"/suppressions?before={before}", token_of())
    assert response.status_code == 200 and len(response.json["suppressions"]) == 1


def test_lint_refuses_texts_longer_than_any_message(call, token_of):
    problem(
        call("POST", "/lint", token_of(), json={"text": "a" * 4097}), 400, "The text is longer than 4096 characters."
    )
