"""Templates from the outside: the pages (list, editor with its live preview, template page) in
English and Russian, the JSON API and the CLI."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from campaigns import message_templates as templates
from campaigns import senders, template_approvals
from campaigns.models import Template, TemplateStatus
from extensions import db
from tests.helpers import assert_problem, csrf_token, post_form, problem_messages, signed_in_client
from tests.records import audit_events
from tests.test_message_templates import STOP, make, rows, spec

OPT_OUT_MISSING = ("Buttons: a marketing template must offer an opt-out quick reply in its language, "
                   "such as “Stop promotions”.")


@pytest.fixture
def sender(app):
    """A sender (on the sandbox's default account, not called here): an account to record statuses in."""
    made = senders.create_sender("Main", "+74951234567")
    db.session.commit()
    return made


@pytest.fixture
def browser_as(app, make_user):
    return lambda role, **fields: signed_in_client(app, make_user(role, **fields).email)


def page_of(response) -> str:
    return response.get_data(as_text=True)


def errors(response) -> list[str]:
    return [html.unescape(text).strip() for text in re.findall(r'<p class="error"[^>]*>([^<]*)</p>', page_of(response))]


def violations(response) -> list[str]:
    return [html.unescape(text).strip() for text in re.findall(r'<li class="error">([^<]*)</li>', page_of(response))]


def flashes(response) -> list[str]:
    return [html.unescape(text) for text in re.findall(r'<p class="flash[^"]*"[^>]*>([^<]*)</p>', page_of(response))]


def editor(**fields) -> dict:
    """The editor's fields as a browser posts them: four button rows, empty unless given."""
    data = {"name": "", "language": "en", "category": "marketing", "header": "", "body": "", "footer": "", "tags": ""}
    for index in range(4):
        data.update({f"buttons-{index}-type": "", f"buttons-{index}-text": "", f"buttons-{index}-value": ""})
    data.update(fields)
    return data


GOOD_FORM = editor(name="autumn_sale", header="Autumn sale", body="Hi {{1}}, the sale starts on {{2}}. See you!",
                   footer="Shop Example", tags="promo, autumn", **{
                       "buttons-0-type": "quick_reply", "buttons-0-text": "Stop promotions",
                       "buttons-1-type": "url", "buttons-1-text": "Open the shop", "buttons-1-value": "https://shop.example.com",
                       "example-1": "Anna", "example-2": "Monday"})


# --- the pages ----------------------------------------------------------------------------------------

def test_the_list_searches_filters_sorts_and_pages(browser_as):
    make()
    make(
        name="welcome",
        category="utility",
        buttons=[],
        body="Здравствуйте, {{1}}! Добро пожаловать.",
        examples={"1": "Анна"},
        language="ru",
        tags="service",
    )
    reviewer = browser_as("reviewer")
    page = page_of(reviewer.get("/templates"))
    assert "autumn_sale" in page and "welcome" in page and "Templates found: 2" in page
    assert 'href="/templates/new"' not in page and 'href="/templates"' in page  # the nav link
    assert 'href="/static/templates.css"' in page and "<script>" not in page
    assert 'href="/templates?tag=service"' in page
    assert "welcome" not in page_of(reviewer.get("/templates?search=SALE"))
    found = page_of(reviewer.get("/templates?search=добро"))
    assert "welcome" in found and "autumn_sale" not in found
    assert "autumn_sale" not in page_of(
        reviewer.get("/templates?category=utility&language=ru&tag=service&status=draft")
    )
    assert "No template matches." in page_of(reviewer.get("/templates?status=approved"))
    by_name = page_of(reviewer.get("/templates?sort=name"))
    assert by_name.index("autumn_sale") < by_name.index("welcome")
    assert 'href="/templates/new"' in page_of(browser_as("marketer").get("/templates"))


def test_the_list_pages_through_hundreds(browser_as):
    assert browser_as("reviewer").get(f"/templates?offset={2**62}").status_code == 200

    db.session.add_all(
        Template(name=f"t_{n:03d}", language="en", category="utility", body="Hello there.", buttons=[], examples={})
        for n in range(120)
    )
    db.session.commit()
    browser = browser_as("reviewer")
    first = page_of(browser.get("/templates?sort=name"))
    assert "t_000" in first and "t_050" not in first and 'href="/templates?sort=name&amp;offset=50"' in first
    second = page_of(browser.get("/templates?sort=name&offset=50"))
    assert "t_050" in second and "t_000" not in second and 'href="/templates?sort=name"' in second


def test_archived_templates_have_their_own_list(browser_as):
    template = make()
    templates.set_archived(template, True)
    db.session.commit()
    browser = browser_as("marketer")
    assert "autumn_sale" not in page_of(browser.get("/templates"))
    assert "autumn_sale" in page_of(browser.get("/templates?archived=1"))


@pytest.mark.parametrize(
    ("language", "suggestion", "marker"), [("en", "Stop promotions", "New template"), ("ru", "Отписаться", None)]
)
def test_the_editor_offers_the_opt_out_quick_reply_in_the_users_language(browser_as, language, suggestion, marker):
    page = page_of(browser_as("marketer", language=language).get("/templates/new"))
    assert f'<html lang="{language}">' in page
    assert f'name="buttons-0-text" type="text" value="{suggestion}"' in page
    assert '<option selected value="quick_reply">' in page and '<option selected value="marketing">' in page
    assert 'src="/static/template_preview.js"' in page and 'data-preview-url="/templates/preview"' in page
    assert "<script>" not in page
    if marker:
        assert marker in page


def test_a_marketer_previews_then_saves_a_template(browser_as):
    browser = browser_as("marketer")
    preview = post_form(browser, "/templates/new", {**GOOD_FORM, "action": "preview", "example-2": "",
                                                     "body": "Hi {{1}}, the sale starts on {{2}} at {{3}}. See you!"})
    assert preview.status_code == 200 and rows() == []
    page = page_of(preview)
    # One example field per variable, the typed ones kept.
    assert 'name="example-1" value="Anna"' in page and 'name="example-3" value=""' in page
    assert violations(preview) == [
        "Examples: give an example value for {{2}}.",
        "Examples: give an example value for {{3}}.",
    ]
    assert '<p class="wa-body" id="tpl-body">Hi Anna, the sale starts on {{2}} at {{3}}. See you!</p>' in page

    response = post_form(browser, "/templates/new", {**GOOD_FORM, "action": "save"})
    [saved] = rows()
    assert response.status_code == 302 and response.headers["Location"] == f"/templates/{saved.id}"
    assert saved.buttons == [STOP, {"type": "url", "text": "Open the shop", "url": "https://shop.example.com"}]
    assert saved.examples == {"1": "Anna", "2": "Monday"} and saved.tags == "|promo|autumn|"
    detail = browser.get(response.headers["Location"])
    assert "The template “autumn_sale” is saved." in flashes(detail)
    assert '<li class="wa-button wa-quick_reply">Stop promotions</li>' in page_of(detail)
    assert audit_events("template.created")[0].actor_label.endswith("@example.com")


def test_every_violation_is_shown_and_nothing_is_saved(browser_as):
    browser = browser_as("marketer")
    response = post_form(
        browser, "/templates/new", {**editor(name="Bad name", body="{{1}} hi", footer="x" * 61), "action": "save"}
    )
    assert response.status_code == 400 and rows() == []
    assert errors(response) == [
        "Name: use only lowercase Latin letters, digits and underscores, such as autumn_sale_2025.",
        "Body: the text cannot start with a variable; put some words before it.",
        "Footer: the footer is 61 characters long; WhatsApp allows 60.",
        OPT_OUT_MISSING,
        "Examples: give an example value for {{1}}.",
    ]


def test_the_live_preview_answers_json(browser_as):
    browser = browser_as("reviewer")  # reviewers may preview, though not save
    token = csrf_token(page_of(browser.get("/templates")))
    fields = {**GOOD_FORM, "body": "Hi {{1}}, follow our Instagram! Sale on {{2}}.", "csrf_token": token}
    response = browser.post("/templates/preview", data=fields)
    assert response.status_code == 200
    shown = response.json["preview"]
    assert shown["body"] == "Hi Anna, follow our Instagram! Sale on Monday."
    assert shown["sent_body"].startswith("Hi Anna, follow our Instagram*! Sale on Monday.\n\n")
    assert {"text": "Instagram", "mark": "mention"} in shown["pieces"]
    assert [v["rule"] for v in shown["verdicts"]] == ["restricted_mention", "spam_score"]
    assert response.json["violations"] == []
    assert shown["buttons"][0] == STOP
    assert browser.post("/templates/preview", data=GOOD_FORM).status_code == 400  # no CSRF token


def test_editing_an_approved_template_makes_a_version_and_the_page_lists_them(browser_as, sender):
    template = make()
    template_approvals.set_status(template, "approved")
    db.session.commit()
    browser = browser_as("marketer")
    edit = page_of(browser.get(f"/templates/{template.id}/edit"))
    assert 'value="autumn_sale"' in edit and "saving a change makes version 2" in edit
    assert 'name="example-2" value="Monday"' in edit
    form = {**GOOD_FORM, "body": "Hello {{1}}, the sale starts on {{2}}. See you!", "action": "save"}
    response = post_form(browser, f"/templates/{template.id}/edit", form)
    old, new = rows()
    assert response.headers["Location"] == f"/templates/{new.id}" and (new.version, new.status) == (
        2,
        TemplateStatus.DRAFT,
    )
    page = browser.get(response.headers["Location"])
    assert (
        "The provider had already reviewed “autumn_sale”, so your changes are saved as version 2, a draft to submit."
        in flashes(page)
    )
    assert f'href="/templates/{old.id}">v1</a>' in page_of(page) and f'href="/templates/{new.id}">v2</a>' in page_of(
        page
    )
    old_page = page_of(browser.get(f"/templates/{old.id}"))
    assert "This is an old version" in old_page and "/edit" not in old_page


def test_submitting_to_the_sandbox(browser_as, sandbox_sender):
    clean = make()
    blocked = make(name="blocked", body="Hi {{1}}, see instagram.com/shop on {{2}}. Bye!")
    browser = browser_as("marketer")
    page = page_of(browser.get(f"/templates/{clean.id}"))
    assert f'action="/templates/{clean.id}/submit"' in page and "Not submitted" in page
    response = post_form(browser, f"/templates/{clean.id}/submit", {}, page=f"/templates/{clean.id}")
    assert response.status_code == 302
    page = browser.get(f"/templates/{clean.id}")
    assert "The provider approved the template; campaigns can use it now." in flashes(page)
    assert re.search(r"Sandbox <span class=\"kv\">\+74950000001</span></td>\s*<td><span class=\"status "
                     r"status-approved\">Approved</span>", page_of(page))
    post_form(browser, f"/templates/{blocked.id}/submit", {}, page=f"/templates/{blocked.id}")
    page = browser.get(f"/templates/{blocked.id}")
    rejection = ("The provider found the content abusive or against its policies (a link to a restricted platform "
                 "counts); remove it and submit again.")
    assert flashes(page) == [f"The provider rejected the template: {rejection}"]
    assert rejection in page_of(page)
    assert [t.status for t in rows()] == [TemplateStatus.APPROVED, TemplateStatus.REJECTED]
    assert f'action="/templates/{clean.id}/submit"' not in page_of(browser.get(f"/templates/{clean.id}"))
    again = post_form(browser, f"/templates/{clean.id}/submit", {}, page=f"/templates/{clean.id}")
    assert flashes(browser.get(again.headers["Location"])) == [
        "The template is already “Approved” in every business account it could be submitted to; only a new or a "
        "rejected one is submitted."]


def test_archive_and_restore_from_the_page(browser_as):
    template = make()
    browser = browser_as("marketer")
    post_form(browser, f"/templates/{template.id}/archive", {"archived": "1"}, page=f"/templates/{template.id}")
    assert rows()[0].archived_at is not None
    assert "Restore" in page_of(browser.get(f"/templates/{template.id}"))
    post_form(browser, f"/templates/{template.id}/archive", {"archived": "0"}, page=f"/templates/{template.id}")
    assert rows()[0].archived_at is None


def test_only_admins_set_the_provider_status(browser_as, sender):
    template = make()
    marketer, admin = browser_as("marketer"), browser_as("admin")
    assert f'action="/templates/{template.id}/status"' not in page_of(marketer.get(f"/templates/{template.id}"))
    assert (
        post_form(marketer, f"/templates/{template.id}/status", {"status": "approved"}, page="/templates").status_code
        == 403
    )
    path = f"/templates/{template.id}/status"
    refused = post_form(admin, path, {"status": "rejected", "reason": ""}, page=f"/templates/{template.id}")
    assert flashes(admin.get(refused.headers["Location"])) == [
        "Reason: say why, so that the template's author knows what to change."
    ]
    post_form(admin, path, {"status": "rejected", "reason": "Misleading offer."}, page=f"/templates/{template.id}")
    page = admin.get(f"/templates/{template.id}")
    assert "The provider status is now “Rejected”." in flashes(page) and "Misleading offer." in page_of(page)
    assert (rows()[0].status, rows()[0].rejection_reason) == (TemplateStatus.REJECTED, "Misleading offer.")


def test_reviewers_read_but_do_not_write(browser_as):
    template = make()
    reviewer = browser_as("reviewer")
    page = page_of(reviewer.get(f"/templates/{template.id}"))
    assert "autumn_sale" in page and "/edit" not in page and "/submit" not in page and "/archive" not in page
    assert reviewer.get("/templates/new").status_code == 403
    assert reviewer.get(f"/templates/{template.id}/edit").status_code == 403
    for path in ("/templates/new", f"/templates/{template.id}/edit", f"/templates/{template.id}/submit",
                 f"/templates/{template.id}/archive"):
        assert post_form(reviewer, path, GOOD_FORM, page="/templates").status_code == 403
    assert rows()[0].status is TemplateStatus.DRAFT


def test_unknown_templates_are_404(browser_as):
    browser = browser_as("admin")
    assert browser.get("/templates/999").status_code == 404
    assert browser.get("/templates/999/edit").status_code == 404
    assert post_form(browser, "/templates/999/submit", {}, page="/templates").status_code == 404


def test_the_pages_in_russian(browser_as):
    template = make(
        language="ru",
        buttons=[{"type": "quick_reply", "text": "Отписаться"}],
        body="Привет, {{1}}! Скидки с {{2}}.",
        examples={"1": "Анна", "2": "понедельника"},
    )
    browser = browser_as("admin", language="ru")
    for path in ("/templates", "/templates/new", f"/templates/{template.id}", f"/templates/{template.id}/edit"):
        response = browser.get(path)
        assert response.status_code == 200 and '<html lang="ru">' in page_of(response), path
    page = page_of(browser.get(f"/templates/{template.id}"))
    assert "Привет, Анна! Скидки с понедельника." in page and "Отписаться" in page


# --- the API ------------------------------------------------------------------------------------------

def test_the_api_creates_reads_lists_updates_and_submits(call_as, sandbox_sender):
    created = call_as("POST", "/templates", json=spec(tags="promo"))
    assert created.status_code == 201
    body = created.json
    assert {key: body[key] for key in ("name", "language", "version", "status", "variables", "tags")} == {
        "name": "autumn_sale",
        "language": "en",
        "version": 1,
        "status": "draft",
        "variables": ["1", "2"],
        "tags": ["promo"],
    }
    path = f"/templates/{body['id']}"
    read = call_as("GET", path, "reviewer").json
    assert read["versions"] == [
        {"id": body["id"], "version": 1, "status": "draft", "is_current": True, "updated_at": body["updated_at"]}]
    assert read["approvals"] == [{"sender_id": sandbox_sender.id, "sender": "Sandbox", "status": "draft"}]
    listed = call_as("GET", "/templates?search=autumn&status=draft&sort=name", "reviewer").json
    assert (
        [t["name"] for t in listed["templates"]] == ["autumn_sale"]
        and listed["total"] == 1
        and listed["next_offset"] is None
    )
    assert call_as("GET", "/templates?tag=nothing", "reviewer").json["total"] == 0
    junk = call_as("GET", "/templates?offset=99999999999999999999999&limit=-1", "reviewer")
    assert junk.status_code == 200 and (junk.json["offset"], junk.json["total"]) == (0, 1)
    assert call_as("GET", "/templates?offset=999999999999", "reviewer").json["templates"] == []

    submitted = call_as("POST", f"{path}/submit")
    assert submitted.status_code == 200 and submitted.json["status"] == "approved" and submitted.json["failures"] == []
    [approval] = submitted.json["approvals"]
    assert (approval["status"], approval["account_id"], approval["source"]) == ("approved", "200000000000001",
                                                                                 "provider")
    assert approval["provider_template_id"] and approval["category"] == "marketing"
    updated = call_as("PUT", path, json={"footer": "Example Ltd", "tags": ["promo", "autumn"]})
    assert updated.status_code == 200
    assert (updated.json["version"], updated.json["status"], updated.json["footer"]) == (2, "draft", "Example Ltd")
    assert updated.json["id"] != body["id"] and [v["version"] for v in updated.json["versions"]] == [2, 1]
    archived = call_as("PUT", f"/templates/{updated.json['id']}", json={"archived": True})
    assert archived.json["archived"] is True
    assert call_as("GET", "/templates", "reviewer").json["total"] == 0
    assert call_as("GET", "/templates?archived=1", "reviewer").json["total"] == 1


def test_the_api_status_is_for_admins(call_as, sender):
    template_id = call_as("POST", "/templates", json=spec()).json["id"]
    assert_problem(call_as("POST", f"/templates/{template_id}/status", "marketer", json={"status": "approved"}), 403)
    refused = call_as("POST", f"/templates/{template_id}/status", "admin", json={"status": "paused"})
    assert assert_problem(refused, 400, field="reason")["errors"] == [
        {"field": "reason", "message": "Reason: say why, so that the template's author knows what to change."}]
    done = call_as("POST", f"/templates/{template_id}/status", "admin", json={"status": "rejected", "reason": "Spam."})
    assert done.status_code == 200 and (done.json["status"], done.json["rejection_reason"]) == ("rejected", "Spam.")
    wrong = call_as("POST", f"/templates/{template_id}/status", "admin", json={"status": 3})
    assert assert_problem(wrong, 400, field="status")["detail"] == (
        "Status: choose pending, approved, rejected, paused or disabled.")


def test_the_api_preview(call_as):
    response = call_as(
        "POST",
        "/templates/preview",
        "reviewer",
        json={**spec(body="Hi {{1}}, buy now!! FREE!! Only today!"), "values": {"1": "Борис"}},
    )
    assert response.status_code == 200
    shown = response.json["preview"]
    assert shown["body"] == "Hi Борис, buy now!! FREE!! Only today!" and shown["values"] == {"1": "Борис"}
    assert shown["spam"]["score"] >= 3 and shown["outcome"] == "warn"
    assert response.json["violations"] == []
    junk = call_as(
        "POST", "/templates/preview", "reviewer", json={"body": 5, "buttons": "x", "examples": [1], "values": "y"}
    )
    assert junk.status_code == 200 and "Body: write the message text." in junk.json["violations"]
    assert_problem(call_as("POST", "/templates/preview", "reviewer", data="not json"), 400, "invalid-json")


def test_api_errors_are_sentences_with_the_right_status(call_as):
    bad = call_as("POST", "/templates", json=spec(buttons=[], name="x y"))
    assert_problem(bad, 400)
    assert problem_messages(bad) == [
        "Name: use only lowercase Latin letters, digits and underscores, such as autumn_sale_2025.", OPT_OUT_MISSING]
    call_as("POST", "/templates", json=spec())
    duplicate = call_as("POST", "/templates", json=spec())
    assert_problem(duplicate, 409,
                   detail="Name: a template named “autumn_sale” in en already exists; edit it or choose another name.")
    for method, path in (("GET", "/templates/999"), ("PUT", "/templates/999"), ("POST", "/templates/999/submit")):
        assert_problem(call_as(method, path, json={}), 404, detail="There is no template with this id.")
    assert_problem(call_as("POST", "/templates", "reviewer", json=spec(name="other")), 403)
    assert_problem(call_as("GET", "/templates", None), 401)
    junk = call_as("POST", "/templates", data="junk")
    assert_problem(junk, 400, "invalid-json", detail="The body is not valid JSON.")
    assert problem_messages(call_as("POST", "/templates", json={}))[0] == "Name: give the template a name."


# --- the CLI ------------------------------------------------------------------------------------------

def cli(app, *args):
    return app.test_cli_runner().invoke(args=["campaigns", "template", *args])


def test_the_cli_creates_lists_shows_submits_and_sets_status(app, tmp_path, sandbox_sender):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec(tags="promo")), encoding="utf-8")
    result = cli(app, "create", "--file", str(path))
    assert result.exit_code == 0, result.output
    [template] = rows()
    assert result.output == f"Created template “autumn_sale” (en, id {template.id}) as a draft.\n"
    listed = cli(app, "list", "--status", "draft")
    assert listed.exit_code == 0 and listed.output.startswith(f"{template.id}\tautumn_sale\ten\tv1\tmarketing\tdraft\t")
    assert listed.output.rstrip().endswith("\tpromo")
    assert cli(app, "list", "--search", "nothing").output == ""
    shown = json.loads(cli(app, "show", "autumn_sale").output)
    assert shown["body"] == spec()["body"] and shown["versions"][0]["version"] == 1
    submitted = cli(app, "submit", "autumn_sale", "--language", "en")
    assert submitted.exit_code == 0, submitted.output
    assert submitted.output == "Submitted “autumn_sale” (en) to account 200000000000001: approved.\n"
    paused = cli(app, "set-status", str(template.id), "paused", "--reason", "Quality rating dropped.")
    assert paused.exit_code == 0 and paused.output == (
        "Template “autumn_sale” (en, version 1) is now paused for every sender.\n")
    assert (rows()[0].status, rows()[0].rejection_reason) == (TemplateStatus.PAUSED, "Quality rating dropped.")
    [event] = [e for e in audit_events("template.status_changed") if e.details["source"] == "admin"]
    assert event.actor_label.startswith("cli:")


def test_the_cli_refuses_bad_input_with_a_sentence(app, tmp_path):
    missing = cli(app, "create", "--file", str(tmp_path / "nope.json"))
    assert missing.exit_code == 1 and "Cannot read" in missing.output
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    assert "is not valid JSON" in cli(app, "create", "--file", str(broken)).output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec(name="Bad", buttons=[])), encoding="utf-8")
    result = cli(app, "create", "--file", str(bad))
    assert result.exit_code == 1 and "Name: use only lowercase" in result.output and OPT_OUT_MISSING in result.output
    assert rows() == []
    assert "There is no template “ghost”" in cli(app, "show", "ghost").output
    make()
    assert "is required to" not in cli(app, "set-status", "autumn_sale", "rejected").output
    assert "Reason: say why" in cli(app, "set-status", "autumn_sale", "rejected").output


RU_WITH_EN_OPT_OUT = ("Button 1: the opt-out reply “Stop promotions” is not written in the template's language (ru), "
                      "so its recipients may not recognise it; write it as “Отписаться”, for example.")


def warnings_shown(response) -> list[str]:
    return [html.unescape(text).strip() for text in re.findall(r'<li class="warning">([^<]*)</li>', page_of(response))]


def test_an_opt_out_reply_in_another_language_is_warned_about_in_the_editor_and_on_the_page(browser_as):
    browser = browser_as("marketer")
    editor_page = page_of(browser.get("/templates/new"))
    suggestions = json.loads(html.unescape(re.search(r'data-opt-out-suggestions="([^"]*)"', editor_page).group(1)))
    assert (suggestions["ru"], suggestions["en_GB"], suggestions["uk"], suggestions["de"]) == (
        "Отписаться", "Stop promotions", "СТОП", "STOP")
    fields = {**GOOD_FORM, "language": "ru"}  # the language changed, the suggested English label kept
    live = browser.post("/templates/preview", data={**fields, "csrf_token": csrf_token(editor_page)})
    assert live.json["warnings"] == [RU_WITH_EN_OPT_OUT] and live.json["violations"] == []
    preview = post_form(browser, "/templates/new", {**fields, "action": "preview"})
    assert warnings_shown(preview) == [RU_WITH_EN_OPT_OUT] and violations(preview) == []
    saved = post_form(browser, "/templates/new", {**fields, "action": "save"})
    assert saved.status_code == 302  # a warning does not stop the save
    assert warnings_shown(browser.get(saved.headers["Location"])) == [RU_WITH_EN_OPT_OUT]
    fine = post_form(browser, "/templates/new", {**fields, "buttons-0-text": "Отписаться", "action": "preview"})
    assert warnings_shown(fine) == [] and 'id="tpl-warnings" hidden' in page_of(fine)


# The editor's script, run by node against a small stand-in for the page (no browser on this machine).
FOLLOW_LANGUAGE = r"""
const fs = require("fs");
const [suggestions, buttons, script] = process.argv.slice(1);
function el(props) {
  const listeners = {};
  return Object.assign({
    dataset: {}, value: "", hidden: false, replaceChildren() {}, appendChild() {},
    querySelectorAll() { return []; }, querySelector() { return null; },
    addEventListener(type, fn) { (listeners[type] = listeners[type] || []).push(fn); },
    fire(type) { (listeners[type] || []).forEach((fn) => fn({ target: this })); },
  }, props);
}
const rows = JSON.parse(buttons).map(([kind, label]) => {
  const type = el({ value: kind }), text = el({ value: label });
  return el({ querySelector: (selector) => (selector.includes("-type") ? type : text), text });
});
const language = el({ value: "en" });
const form = el({
  dataset: { previewUrl: "/templates/preview", optOutSuggestions: suggestions },
  elements: { namedItem: (name) => (name === "language" ? language : null) },
  querySelectorAll: (selector) => (selector === ".button-row" ? rows : []),
});
global.document = { getElementById: (id) => (id === "template-form" ? form : el({})), createElement: () => el({}) };
global.window = { Vestnik: { livePreview() {} } };
eval(fs.readFileSync(script, "utf8"));
const seen = [];
for (const code of ["ru", "de", "uk", "en_US"]) {
  language.value = code;
  language.fire("change");
  seen.push(rows.map((row) => row.text.value));
}
console.log(JSON.stringify(seen));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_editor_script_changes_a_suggested_opt_out_label_with_the_language(app):
    from campaigns.template_rules import opt_out_suggestions

    rows = [["quick_reply", "Stop promotions"], ["quick_reply", "Not for me"], ["url", "Stop promotions"], ["", ""]]
    script = Path(app.root_path) / "static" / "template_preview.js"
    result = subprocess.run(["node", "-e", FOLLOW_LANGUAGE, "--", json.dumps(opt_out_suggestions()), json.dumps(rows),
                             str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["Отписаться", "Not for me", "Stop promotions", ""],  # a typed label and a link's label are left alone
        ["STOP", "Not for me", "Stop promotions", ""],
        ["СТОП", "Not for me", "Stop promotions", ""],
        ["Stop promotions", "Not for me", "Stop promotions", ""],
    ]
