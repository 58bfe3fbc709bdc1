"""Every /api/v1 error is an RFC 9457 problem in the caller's language; refusals are one DomainError type."""

from __future__ import annotations

import pytest
from flask import abort
from werkzeug.exceptions import TooManyRequests

from accounts import tokens
from audience.models import Segment
from campaigns import campaign_specs, lifecycle
from campaigns.models import Campaign, CampaignStatus
from compliance.models import Suppression
from domain_errors import DomainError, FieldErrors
from extensions import csrf, db
from tests.campaign_world import make_world
from tests.conftest import build_app
from tests.helpers import assert_problem, isolated_client
from tests.records import suppress


def bearer(user) -> dict[str, str]:
    _row, plaintext = tokens.create_token(user, "script")
    db.session.commit()
    return {"Authorization": f"Bearer {plaintext}"}


def test_a_validation_problem_names_its_fields(call_as):
    response = call_as("POST", "/lint", json={"text": " ", "language": "de"})
    body = assert_problem(response, 400, field="text")
    assert body == {"type": "/problems/validation", "title": "The request is not valid", "status": 400,
                    "detail": "Send the message as “text”.",
                    "errors": [{"field": "text", "message": "Send the message as “text”."}]}


def test_a_refusal_about_no_one_field_says_so_with_null(call_as):
    response = call_as("POST", "/suppressions", json={"phone": "+79031234567"})  # manual needs a note
    assert assert_problem(response, 400)["errors"] == [
        {"field": None, "message": "Write a note saying why this number is suppressed."}]


# --- malformed bodies ---------------------------------------------------------------------------------

def _endpoints(world) -> list[tuple[str, str]]:
    segment = db.session.query(Segment).one()
    return [
        ("POST", "/suppressions"), ("POST", "/suppressions/+79031112233/lift"), ("POST", "/lint"),
        ("POST", "/segments"), ("PUT", f"/segments/{segment.id}"), ("POST", "/segments/preview"),
        ("POST", "/campaigns"), ("POST", "/senders"), ("PUT", "/rate-card"),
        ("POST", "/templates"), ("PUT", f"/templates/{world.template.id}"),
        ("POST", f"/templates/{world.template.id}/status"), ("POST", "/templates/preview"),
    ]


@pytest.mark.parametrize(("body", "detail"), [
    ("{\"name\": ", "The body is not valid JSON."),
    ("name=VIP", "The body is not valid JSON."),
    (b"\xff\xfe\x00", "The body is not valid JSON."),
    ("[1, 2]", "The body must be a JSON object."),
    ("\"text\"", "The body must be a JSON object."),
])
def test_every_endpoint_refuses_a_body_that_is_not_a_json_object_alike(client, make_user, body, detail):
    world = make_world(make_user)
    suppress("+79031112233")
    headers = bearer(make_user("admin"))
    for method, path in _endpoints(world):
        response = client.open(f"/api/v1{path}", method=method, data=body, headers=headers,
                               content_type="application/json")
        problem = assert_problem(response, 400, "invalid-json", detail=detail)
        assert problem["title"] == "The body is not valid JSON" and "errors" not in problem, path
    db.session.expire_all()
    assert db.session.query(Campaign).count() == 0 and db.session.query(Segment).count() == 1
    assert db.session.query(Suppression).one().lifted_at is None


def test_an_empty_body_is_an_empty_object_not_malformed_json(call_as):
    response = call_as("POST", "/lint", data="", content_type="application/json")
    assert assert_problem(response, 400, field="text")["detail"] == "Send the message as “text”."


# --- HTTP errors ----------------------------------------------------------------------------------------

def test_an_unknown_path_and_a_wrong_method_are_problems_without_a_token(client):
    assert_problem(client.get("/api/v1/nope"), 404, detail="There is nothing at this address.")
    response = client.delete("/api/v1/lint")
    assert_problem(response, 405)
    assert "POST" in response.headers["Allow"]


def test_a_missing_or_wrong_token_is_a_401_problem_asking_for_bearer(client):
    for headers in ({}, {"Authorization": "Bearer vst_made-up"}):
        response = client.post("/api/v1/lint", json={"text": "x"}, headers=headers)
        assert_problem(response, 401, detail="Authorization: Bearer")
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="vestnik"'


def test_a_role_that_may_not_is_a_403_problem(call_as):
    assert_problem(call_as("GET", "/users", "marketer"), 403, detail="Your role does not allow this.")


def test_a_step_the_status_does_not_allow_is_a_409_conflict(client, make_user):
    world = make_world(make_user)
    author = bearer(world.marketer)
    template_id = world.template.id
    response = client.post(f"/api/v1/templates/{template_id}/submit", headers=bearer(make_user("admin")))
    body = assert_problem(response, 409, detail="The template is already “Approved” in every business account")
    assert body["title"] == "Conflict with the current state"
    campaign_id = client.post("/api/v1/campaigns", json=world.spec(), headers=author).json["id"]
    assert_problem(client.post(f"/api/v1/campaigns/{campaign_id}/schedule", headers=author), 409,
                   detail="Only an approved campaign can be scheduled")


def test_a_lost_compare_and_set_is_a_409_conflict_and_changes_nothing(database_url, redis_url, make_user):
    world = make_world(make_user)
    campaign_id = campaign_specs.create_campaign(world.spec(), world.marketer).id
    db.session.commit()
    racing = build_app(database_url, redis_url)

    def submit_after_someone_else_cancelled(campaign_id: int):
        campaign = db.session.get(Campaign, campaign_id)  # this request read a draft …
        db.session.execute(Campaign.__table__.update().values(status="cancelled"))  # … someone cancelled it since
        lifecycle.transition(campaign, CampaignStatus.IN_REVIEW)

    racing.add_url_rule("/api/v1/race/<int:campaign_id>", methods=["POST"],
                        view_func=csrf.exempt(submit_after_someone_else_cancelled))
    response = racing.test_client().post(f"/api/v1/race/{campaign_id}")
    assert_problem(response, 409, detail="Someone else changed this campaign a moment ago")
    db.session.expire_all()
    assert db.session.get(Campaign, campaign_id).status is CampaignStatus.DRAFT  # the request was rolled back


def test_an_upload_too_large_is_a_413_problem(database_url, redis_url, token_of):
    small = build_app(database_url, redis_url, MAX_CONTENT_LENGTH=1024)
    response = small.test_client().post("/api/v1/lint", json={"text": "a" * 4000},
                                        headers={"Authorization": f"Bearer {token_of()}"})
    assert_problem(response, 413, detail="The upload is too large.")


def test_other_http_errors_keep_their_headers_and_the_shape(database_url, redis_url):
    # The API has no throttle of its own yet (sign-in slow-down is for the pages); a 429 from anywhere
    # under /api/v1 still answers as a problem and keeps Retry-After.
    throttled = build_app(database_url, redis_url)

    def busy():
        raise TooManyRequests(retry_after=30)

    def teapot():
        abort(418)

    throttled.add_url_rule("/api/v1/busy", view_func=busy)
    throttled.add_url_rule("/api/v1/teapot", view_func=teapot)
    client = throttled.test_client()
    response = client.get("/api/v1/busy")
    assert assert_problem(response, 429)["detail"] == "Too many requests. Wait a moment and try again."
    assert response.headers["Retry-After"] == "30"
    teapot_response = client.get("/api/v1/teapot")
    assert teapot_response.content_type == "application/problem+json"
    assert teapot_response.json == {"type": "about:blank", "title": "I'm a teapot", "status": 418,
                                    "detail": "The request could not be understood."}


def test_a_crash_is_a_500_problem_with_the_traceback_only_in_the_log(database_url, redis_url, caplog):
    crashing = build_app(database_url, redis_url)

    def explode():
        raise RuntimeError("secret-internal-detail")

    crashing.add_url_rule("/api/v1/explode", view_func=explode)
    response = crashing.test_client().get("/api/v1/explode")
    body = assert_problem(response, 500, detail="Something went wrong on our side.")
    assert body["title"] == "Internal server error" and "secret-internal-detail" not in response.get_data(as_text=True)
    assert "secret-internal-detail" in caplog.text and "Traceback" in caplog.text


# --- the caller's language ------------------------------------------------------------------------------

def test_a_russian_user_reads_the_problem_in_russian(client, make_user):
    headers = bearer(make_user("marketer", language="ru"))
    response = client.post("/api/v1/lint", json={"text": "Привет", "language": "de"}, headers=headers)
    assert assert_problem(response, 400, field="language") == {
        "type": "/problems/validation", "title": "Запрос заполнен неверно", "status": 400,
        "detail": "«language» должно быть ru или en.",
        "errors": [{"field": "language", "message": "«language» должно быть ru или en."}]}
    malformed = client.post("/api/v1/lint", data="{", content_type="application/json", headers=headers)
    assert assert_problem(malformed, 400, "invalid-json")["detail"] == "Тело запроса — некорректный JSON."
    assert assert_problem(client.get("/api/v1/users", headers=headers), 403)["title"] == "Доступ запрещён"


def test_an_anonymous_caller_is_answered_in_the_language_it_accepts(client):
    response = isolated_client(client.application).get("/api/v1/me", headers={"Accept-Language": "ru"})
    body = assert_problem(response, 401)
    assert (body["title"], body["detail"]) == (
        "Нужна аутентификация", "Передайте действующий API-токен в заголовке «Authorization: Bearer …».")
    missing = client.get("/api/v1/nope", headers={"Accept-Language": "ru-RU,ru;q=0.9"})
    assert (missing.json["title"], missing.json["detail"]) == ("Не найдено", "По этому адресу ничего нет.")


# --- one type for every refusal ---------------------------------------------------------------------------

def test_a_refusal_no_page_catches_is_shown_as_a_page_with_its_status(database_url, redis_url):
    refusing = build_app(database_url, redis_url)

    def refuse():
        raise DomainError("Someone else changed this a moment ago.", status=409)

    refusing.add_url_rule("/refuse", view_func=refuse)
    refusing.add_url_rule("/api/v1/refuse", endpoint="api_refuse", view_func=refuse)
    client = refusing.test_client()
    page = client.get("/refuse")
    assert page.status_code == 409 and page.content_type.startswith("text/html")
    assert "Someone else changed this a moment ago." in page.get_data(as_text=True)
    assert_problem(client.get("/api/v1/refuse"), 409, detail="Someone else changed this a moment ago.")


def test_every_refusal_of_the_services_is_a_domain_error():
    from accounts.users import AccountError
    from audience.columns import MappingError
    from audience.import_pipeline import ImportRefusedError
    from audience.segments import DuplicateSegmentError, SegmentError
    from campaigns.campaign_specs import CampaignError
    from campaigns.launch import LaunchError
    from campaigns.lifecycle import TransitionError
    from campaigns.materialise import MaterialiseError
    from campaigns.message_templates import DuplicateTemplateError, TemplateError
    from campaigns.pricing import RateCardError
    from campaigns.review import ReviewError
    from compliance.models import SuppressionError
    from compliance.numbers import InvalidNumberError
    from spreadsheets import UnreadableFileError

    statuses = {error: error.status for error in (
        AccountError, MappingError, ImportRefusedError, SegmentError, DuplicateSegmentError, CampaignError,
        LaunchError, TransitionError, MaterialiseError, TemplateError, DuplicateTemplateError, RateCardError,
        SuppressionError, InvalidNumberError, UnreadableFileError) if issubclass(error, DomainError)}
    assert len(statuses) == 15
    assert {error for error, status in statuses.items() if status == 409} == {
        DuplicateSegmentError, LaunchError, TransitionError, MaterialiseError, DuplicateTemplateError}
    blocked = ReviewError(["Blocked."], {"blocking": ["Blocked."]})
    assert issubclass(ReviewError, DomainError) and (blocked.status, ReviewError(["No."]).status) == (422, 400)
    assert blocked.problem_members() == {"report": {"blocking": ["Blocked."]}}


def test_a_domain_error_carries_sentences_and_fields():
    error = DomainError(["First.", "Second."])
    assert (str(error), error.errors, error.status) == ("First. Second.", ["First.", "Second."], 400)
    assert error.about("name").field_errors == [("name", "First."), ("name", "Second.")]
    mixed = DomainError("About the body.", errors=[("name", "Too long."), (None, "Unknown key.")], status=409)
    assert mixed.field_errors == [(None, "About the body."), ("name", "Too long."), (None, "Unknown key.")]
    assert mixed.about("phone").field_errors[0] == ("phone", "About the body.") and mixed.status == 409
    collected = FieldErrors()
    collected.append("About nothing in particular.")
    collected.field = "send_at"
    collected.append("In the past.")
    assert DomainError(errors=collected).field_errors == [
        (None, "About nothing in particular."),
        ("send_at", "In the past."),
    ]
