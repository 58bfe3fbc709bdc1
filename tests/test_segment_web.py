"""Segments from the outside: the builder pages (with and without JavaScript), the JSON API and the CLI."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from audience import segments
from audience.models import Segment
from compliance.models import SuppressionReason
from extensions import db
from tests.helpers import assert_problem, csrf_token, post_form, signed_in_client
from tests.records import audit_events as events
from tests.records import suppress
from tests.test_segments import add_contact

FORBIDDEN = "Your role does not allow this. Ask an administrator if you need access."
BAD_ZONE = "Time zones: “Mars” is not a time zone; write a name such as Europe/Moscow."


@pytest.fixture
def people(app):
    """Three Muscovites (one opted out, one a VIP) and a Kazakh customer."""
    add_contact("+79030000001", country="RU", city="Москва", name="Анна", timezone="Europe/Moscow", tags=("vip",))
    add_contact("+79030000002", country="RU", city="Москва", name="Борис", timezone="Europe/Moscow")
    add_contact("+79030000003", country="RU", city="Москва", name="Вера", timezone="Europe/Moscow",
                attributes={"Покупок": "много"})
    add_contact("+77010000004", country="KZ", city="Алматы", name="Дана", timezone="Asia/Almaty", tags=("vip",))
    suppress("+79030000002", SuppressionReason.OPT_OUT)


@pytest.fixture
def browser_as(app, make_user):
    return lambda role: signed_in_client(app, make_user(role).email)


def page_of(response) -> str:
    return response.get_data(as_text=True)


def errors(response) -> list[str]:
    return [html.unescape(text).strip() for text in re.findall(r'<p class="error"[^>]*>([^<]*)</p>', page_of(response))]


def shown_count(response) -> str:
    return re.search(r'<strong id="segment-count">([^<]*)</strong>', page_of(response)).group(1)


def sample_phones(response) -> list[str]:
    body = re.search(r'<tbody id="segment-sample">(.*?)</tbody>', page_of(response), re.S).group(1)
    return re.findall(r"<tr><td>(\+\d+)</td>", body)


def builder(**fields) -> dict:
    """The builder's fields as a browser posts them (three empty attribute rows unless given)."""
    data = {"name": "", "description": "", "countries": "", "regions": "", "cities": "", "near_city": "",
            "near_latitude": "", "near_longitude": "", "near_km": "", "timezones": "", "tags": ""}
    for index in range(3):
        data.update(
            {f"attributes-{index}-name": "", f"attributes-{index}-op": "equals", f"attributes-{index}-value": ""}
        )
    data.update(fields)
    return data


def saved() -> list[Segment]:
    db.session.expire_all()
    return list(db.session.scalars(select(Segment).order_by(Segment.id)))


# --- the pages ----------------------------------------------------------------------------------------

def test_the_list_shows_segments_with_lazy_counts(browser_as, people):
    segments.create_segment("VIP", {"tags": ["vip"]}, "Best customers")
    db.session.commit()
    page = page_of(browser_as("reviewer").get("/audience/segments"))
    [segment] = saved()
    assert "VIP" in page and "Best customers" in page
    assert f'data-count-url="/audience/segments/{segment.id}/count"' in page
    assert 'src="/static/segment_builder.js"' in page and "<script>" not in page
    assert "/audience/segments/new" not in page
    assert 'href="/audience/segments/new"' in page_of(browser_as("marketer").get("/audience/segments"))
    assert browser_as("reviewer").get(f"/audience/segments/{segment.id}/count").json == {"count": 2}


def test_a_marketer_builds_previews_and_saves_a_segment(browser_as, make_user, people):
    browser = browser_as("marketer")
    empty = browser.get("/audience/segments/new")
    assert empty.status_code == 200 and shown_count(empty) == "4"  # nothing chosen: everybody

    fields = builder(name="Москва VIP", countries="Россия", cities="Москва", tags="VIP", status=["subscribed"])
    preview = post_form(browser, "/audience/segments/new", {**fields, "action": "preview"})
    assert preview.status_code == 200 and shown_count(preview) == "1" and sample_phones(preview) == ["+79030000001"]
    assert saved() == []

    response = post_form(browser, "/audience/segments/new", {**fields, "action": "save"})
    [segment] = saved()
    assert response.status_code == 302 and response.headers["Location"] == f"/audience/segments/{segment.id}"
    assert segment.definition == {"countries": ["RU"], "cities": ["Москва"], "tags": ["vip"], "status": ["subscribed"]}
    page = browser.get(response.headers["Location"])
    assert "The segment “Москва VIP” is saved." in page_of(page)
    assert shown_count(page) == "1" and 'value="Россия"' not in page_of(page) and 'value="RU"' in page_of(page)
    [event] = events("segment.created")
    assert event.actor_label.endswith("@example.com") and event.object_id == str(segment.id)


def test_editing_changes_the_segment_and_records_it(browser_as, people):
    segment = segments.create_segment("VIP", {"tags": ["vip"]})
    db.session.commit()
    browser = browser_as("marketer")
    path = f"/audience/segments/{segment.id}"
    form = builder(name="VIP KZ", tags="vip", countries="KZ", **{
        "attributes-0-name": "Покупок", "attributes-0-op": "gt", "attributes-0-value": "3"})
    assert shown_count(post_form(browser, path, {**form, "action": "preview"})) == "0"
    response = post_form(browser, path, {**builder(name="VIP KZ", tags="vip", countries="KZ"), "action": "save"})
    assert response.status_code == 302
    [segment] = saved()
    assert (segment.name, segment.definition) == ("VIP KZ", {"countries": ["KZ"], "tags": ["vip"]})
    assert events("segment.updated")[0].details["changed"]["name"] == {"from": "VIP", "to": "VIP KZ"}
    page = page_of(browser.get(path))
    assert 'name="countries" type="text" value="KZ"' in page


def test_mistakes_are_shown_as_sentences_and_nothing_is_saved(browser_as, people):
    segments.create_segment("VIP", {"tags": ["vip"]})
    db.session.commit()
    browser = browser_as("marketer")
    response = post_form(browser, "/audience/segments/new", {**builder(
        name="New", timezones="Mars", near_city="Нигдеград", near_km="10",
        **{"attributes-1-name": "Покупок", "attributes-1-op": "gt", "attributes-1-value": "три"}), "action": "save"})
    assert response.status_code == 400
    assert errors(response) == ["Near: we could not find the city “Нигдеград”.", BAD_ZONE,
                                "Attributes: “Покупок” is compared as a number, so “три” must be a number."]
    assert 'value="Нигдеград"' in page_of(response)  # what was typed is kept
    duplicate = post_form(browser, "/audience/segments/new", {**builder(name="VIP"), "action": "save"})
    assert duplicate.status_code == 400 and errors(duplicate) == [
        "A segment named “VIP” already exists; choose another name."
    ]
    nameless = post_form(browser, "/audience/segments/new", {**builder(), "action": "save"})
    assert nameless.status_code == 400 and errors(nameless) == ["Give the segment a name."]
    assert [s.name for s in saved()] == ["VIP"] and len(events("segment.created")) == 1


@pytest.mark.parametrize(
    "junk", ["", " ", "'; DROP TABLE contacts; --", "%", "_", "\\", '"', "9" * 40, "−5", "١٢٣", "\x00", "1e999"]
)
def test_no_input_causes_a_server_error(browser_as, people, junk):
    browser = browser_as("marketer")
    fields = {name: junk for name in builder() if not name.endswith("-op")}
    fields.update(
        {"attributes-0-op": "gt", "attributes-1-op": "after", "attributes-2-op": junk or "zz", "status": [junk]}
    )
    for action in ("preview", "save"):
        response = post_form(browser, "/audience/segments/new", {**fields, "action": action})
        assert response.status_code in (200, 400), page_of(response)
    live = browser.post(
        "/audience/segments/preview",
        data={**fields, "csrf_token": csrf_token(page_of(browser.get("/audience/segments/new")))},
    )
    assert live.status_code in (200, 400) and ("count" in live.json or live.json["errors"])


@pytest.mark.parametrize("junk", ["a\x00b", "%", "_", "\\", "'", '"', "ё" * 200, "1e999", "NaN"])
def test_junk_in_each_valid_looking_place_is_refused_or_matches_nothing(browser_as, people, junk):
    browser = browser_as("marketer")
    token = csrf_token(page_of(browser.get("/audience/segments/new")))
    for fields in ({"tags": junk}, {"cities": junk}, {"regions": junk}, {"near_city": junk, "near_km": junk},
                   {"attributes-0-name": junk, "attributes-0-value": junk},
                   {"attributes-0-name": "Покупок", "attributes-0-op": "lte", "attributes-0-value": junk},
                   {"attributes-0-name": "Покупок", "attributes-0-op": "contains", "attributes-0-value": junk}):
        response = browser.post("/audience/segments/preview", data={**builder(**fields), "csrf_token": token})
        assert response.status_code in (200, 400) and response.json.get("count", 0) == 0, (fields, response.json)
        saving = post_form(
            browser, "/audience/segments/new", {**builder(name=junk, description=junk, **fields), "action": "save"}
        )
        assert saving.status_code in (302, 400)
    db.session.rollback()


def test_the_live_preview_answers_json(browser_as, people):
    browser = browser_as("reviewer")  # anybody signed in may count
    token = csrf_token(page_of(browser.get("/audience/segments")))
    response = browser.post(
        "/audience/segments/preview", data={**builder(cities="Москва, Алматы", tags="vip"), "csrf_token": token}
    )
    assert response.status_code == 200
    assert response.json == {
        "count": 2,
        "sample": [
            {
                "id": response.json["sample"][0]["id"],
                "phone": "+77010000004",
                "name": "Дана",
                "city": "Алматы",
                "timezone": "Asia/Almaty",
            },
            {
                "id": response.json["sample"][1]["id"],
                "phone": "+79030000001",
                "name": "Анна",
                "city": "Москва",
                "timezone": "Europe/Moscow",
            },
        ],
    }
    wrong = browser.post("/audience/segments/preview", data={**builder(timezones="Mars"), "csrf_token": token})
    assert wrong.status_code == 400 and wrong.json == {"error": BAD_ZONE, "errors": [BAD_ZONE]}
    assert browser.post("/audience/segments/preview", data=builder(tags="vip")).status_code == 400  # no CSRF token


def test_reviewers_look_but_cannot_create_or_edit(browser_as, people):
    segment = segments.create_segment("VIP", {"tags": ["vip"]})
    db.session.commit()
    browser = browser_as("reviewer")
    page = browser.get(f"/audience/segments/{segment.id}")
    assert page.status_code == 200 and shown_count(page) == "2"
    assert "<fieldset disabled>" in page_of(page) and 'value="save"' not in page_of(page)
    assert browser.get("/audience/segments/new").status_code == 403
    for path in ("/audience/segments/new", f"/audience/segments/{segment.id}"):
        response = post_form(
            browser, path, {**builder(name="Mine", tags="x"), "action": "save"}, page="/audience/segments"
        )
        assert response.status_code == 403 and FORBIDDEN in page_of(response)
    assert [(s.name, s.definition) for s in saved()] == [("VIP", {"tags": ["vip"]})]


def test_unknown_segments_are_404(browser_as):
    browser = browser_as("marketer")
    assert browser.get("/audience/segments/999").status_code == 404
    assert browser.get("/audience/segments/999/count").status_code == 404
    assert post_form(browser, "/audience/segments/999", builder(name="x"), page="/audience/segments").status_code == 404


# --- the API ------------------------------------------------------------------------------------------

def test_the_api_creates_reads_counts_and_updates(call_as, people):
    created = call_as("POST", "/segments", json={"name": "VIP", "description": "Best", "definition": {"tags": ["VIP"]}})
    assert created.status_code == 201
    body = created.json
    assert {key: body[key] for key in ("name", "description", "definition", "count")} == {
        "name": "VIP", "description": "Best", "definition": {"tags": ["vip"]}, "count": 2}
    path = f"/segments/{body['id']}"
    assert call_as("GET", path, "reviewer").json["count"] == 2
    assert call_as("GET", f"{path}/count", "reviewer").json == {"count": 2}
    assert [s["name"] for s in call_as("GET", "/segments", "reviewer").json["segments"]] == ["VIP"]

    updated = call_as("PUT", path, json={"definition": {"tags": ["vip"], "countries": ["RU"]}})
    assert updated.status_code == 200 and updated.json["count"] == 1 and updated.json["description"] == "Best"
    assert len(events("segment.created")) == 1 and len(events("segment.updated")) == 1


def test_the_api_preview(call_as, people):
    response = call_as(
        "POST", "/segments/preview", "reviewer", json={"definition": {"countries": ["RU"], "status": ["opted_out"]}}
    )
    assert response.status_code == 200
    assert response.json["count"] == 1 and [c["phone"] for c in response.json["sample"]] == ["+79030000002"]


def test_api_errors_are_sentences_with_the_right_status(call_as, people):
    call_as("POST", "/segments", json={"name": "VIP", "definition": {}})
    bad = call_as("POST", "/segments", json={"name": "Other", "definition": {"timezones": ["Mars"]}})
    assert assert_problem(bad, 400)["errors"] == [{"field": "definition.timezones", "message": BAD_ZONE}]
    duplicate = call_as("POST", "/segments", json={"name": "VIP", "definition": {}})
    assert_problem(duplicate, 409, detail="A segment named “VIP” already exists; choose another name.")
    nameless = call_as("POST", "/segments", json={"definition": {"colour": "red"}})
    assert [(error["field"], error["message"][:24]) for error in assert_problem(nameless, 400)["errors"]] == [
        ("name", "Give the segment a name."), ("definition", "“colour” is not a part o")]
    assert_problem(call_as("POST", "/segments", data="not json", content_type="text/plain"), 400, "invalid-json")
    assert_problem(call_as("POST", "/segments/preview", json={"definition": "RU"}), 400)
    assert_problem(call_as("GET", "/segments/999"), 404, detail="There is no segment with this id.")
    assert_problem(call_as("PUT", "/segments/999", json={"name": "x"}), 404)
    assert_problem(call_as("GET", "/segments/999/count"), 404)
    assert_problem(call_as("POST", "/segments", "reviewer", json={"name": "Mine", "definition": {}}), 403)
    assert_problem(call_as("GET", "/segments", None), 401)
    [segment] = saved()
    other = call_as("POST", "/segments", json={"name": "Other", "definition": {}}).json
    assert_problem(call_as("PUT", f"/segments/{other['id']}", json={"name": "VIP"}), 409)
    assert_problem(call_as("PUT", f"/segments/{segment.id}", "reviewer", json={"name": "x"}), 403)
    assert [s.name for s in saved()] == ["VIP", "Other"]


# --- the CLI ------------------------------------------------------------------------------------------

def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["audience", "segment", *args])


def fails_with(result, sentence: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.output == f"Error: {sentence}\n"


def test_the_cli_creates_lists_shows_and_counts(app, people, tmp_path):
    created = run(app, "create", "VIP", "--definition", '{"tags": ["vip"]}', "--description", "Best")
    assert created.exit_code == 0, created.output
    [segment] = saved()
    assert created.output == f"Created segment “VIP” (id {segment.id}); it matches 2 contacts now.\n"
    assert events("segment.created")[0].actor_label.startswith("cli:")
    definition = tmp_path / "moscow.json"
    definition.write_text(
        json.dumps({"cities": ["Москва"], "status": ["subscribed"]}, ensure_ascii=False), encoding="utf-8"
    )
    assert run(app, "create", "Москва", "--definition", f"@{definition}").exit_code == 0

    assert run(app, "count", "VIP").output == "2\n"
    assert run(app, "count", "Москва").output == "2\n"
    assert run(app, "count", str(segment.id)).output == "2\n"
    listed = run(app, "list").output.splitlines()
    assert [line.split("\t")[1] for line in listed] == ["VIP", "Москва"]
    shown = json.loads(run(app, "show", "Москва").output)
    assert {key: shown[key] for key in ("name", "definition", "count")} == {
        "name": "Москва", "definition": {"cities": ["Москва"], "status": ["subscribed"]}, "count": 2}


def test_the_cli_refuses_bad_input_with_a_sentence(app, tmp_path):
    fails_with(
        run(app, "count", "Нет такого"),
        "There is no segment named “Нет такого”; `flask audience segment list` shows them.",
    )
    fails_with(run(app, "create", "X", "--definition", '{"timezones": ["Mars"]}'), BAD_ZONE)
    fails_with(
        run(app, "create", "X", "--definition", "{tags"),
        "The definition is not valid JSON (Expecting property name enclosed in double quotes at line 1, column 2).",
    )
    fails_with(run(app, "create", "X", "--definition", f"@{tmp_path / 'missing.json'}"),
               f"Cannot read {tmp_path / 'missing.json'}: No such file or directory.")
    assert run(app, "create", "X", "--definition", "{}").exit_code == 0
    fails_with(
        run(app, "create", "X", "--definition", "{}"), "A segment named “X” already exists; choose another name."
    )
    assert [s.name for s in saved()] == ["X"]
