"""Compliance pages: the suppression list (search, add, import, export, history, lift), the content
check and the compliance settings, in English and Russian, each change with its audit entry."""

from __future__ import annotations

import copy
import csv
import hashlib
import html
import io
import json
import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from compliance import policy, suppression
from compliance.keywords import Intent, classify_reply
from compliance.models import SuppressionReason
from compliance.suppression_files import EXPORT_HEADER
from extensions import db
from tests.helpers import post_form, signed_in_client
from tests.records import audit_events as events
from tests.records import suppress
from tests.records import suppression_rows as rows

FORBIDDEN = "Your role does not allow this. Ask an administrator if you need access."
NOT_CSV = "This is not a CSV file; save the table as CSV (comma- or semicolon-separated) and upload it again."
DISCLAIMER_RU = "*Meta Platforms Inc. признана экстремистской организацией, её деятельность запрещена на территории РФ."
DISCLAIMER_EN = ("*Meta Platforms Inc. is recognised as an extremist organisation; "
                 "its activities are banned in the Russian Federation.")
CYRILLIC = re.compile("[А-Яа-яЁё]")


# --- helpers --------------------------------------------------------------------------------------



def lift(phone: str, reason_text: str = "new written consent") -> None:
    suppression.lift(phone, reason_text=reason_text, actor=None)
    db.session.commit()






def page_of(response) -> str:
    return response.get_data(as_text=True)


def errors(response) -> list[str]:
    """The error sentences a page shows (field errors and form errors)."""
    return [html.unescape(text).strip() for text in re.findall(r'<p class="error"[^>]*>([^<]*)</p>', page_of(response))]


def listed(response) -> list[str]:
    """The numbers in the table of the suppression list, top to bottom."""
    return re.findall(r'<td><a href="/suppressions/[^"]+">(\+\d+)</a></td>', page_of(response))


def older_link(response) -> str | None:
    match = re.search(r'<a href="([^"]+)">Older entries</a>', page_of(response))
    return html.unescape(match.group(1)) if match else None


def add(browser, phone: str, reason: str = "opt_out", note: str = ""):
    return post_form(browser, "/suppressions", {"phone": phone, "reason": reason, "note": note})


def upload(browser, data: bytes, filename: str = "stop-list.csv", reason: str = "manual"):
    return post_form(browser, "/suppressions/import", {"file": (io.BytesIO(data), filename), "reason": reason},
                     page="/suppressions")


def import_summary(response) -> str:
    """The import notice as plain text."""
    match = re.search(r'<section class="card notice" role="status">(.*?)</section>', page_of(response), re.S)
    assert match, "the page has no import summary"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())


def lint_page(browser, text: str, language: str = "ru"):
    response = post_form(browser, "/lint", {"text": text, "language": language})
    assert response.status_code == 200
    return page_of(response)


def export(browser, query: str = "") -> tuple[object, list[list[str]]]:
    # buffered: the test client otherwise reads a streamed body outside the context the request ran in.
    response = browser.get(f"/suppressions.csv{query}", buffered=True)
    text = page_of(response)
    assert text.startswith("\ufeff"), "Excel needs the byte-order mark to read UTF-8"
    return response, list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def save_settings(browser, section: str, **fields):
    """Post one section of the settings form."""
    return post_form(browser, f"/compliance/settings/{section}",
                     {f"{section}-{name}": value for name, value in fields.items()}, page="/compliance/settings")


def keyword_fields(**extra: list[str]) -> dict[str, str]:
    """The keyword form as shipped, with ``extra`` words added to (or, as ``-word``, removed from) a set."""
    data = policy.section_data("keywords")
    for intent, words in extra.items():
        for word in words:
            if word.startswith("-"):
                data[intent].remove(word[1:])
            else:
                data[intent].append(word)
    return {intent: "\n".join(words) for intent, words in data.items()}


SENDING_FORM = {"window": "09:00-21:00", "country_windows": "US 08:00-21:00", "cap_per_day": "1", "cap_per_week": "3"}


def is_customised(section: str) -> bool:
    db.session.expire_all()
    return policy.is_customised(section)


def assert_settings_change_recorded(action: str, section: str, admin) -> None:
    [event] = events(action)
    assert (event.actor_id, event.actor_label, event.details) == (admin.id, admin.email, {"section": section})


@pytest.fixture
def browser_as(app, make_user):
    """A browser signed in with a new account of the given role."""
    return lambda role, **fields: signed_in_client(app, make_user(role, **fields).email)


# --- the list: search and paging ------------------------------------------------------------------

def test_search_by_digits_and_the_lifted_toggle(admin_browser):
    suppress("+79031112233")
    suppress("+79035556677", SuppressionReason.MANUAL, note="asked by e-mail")
    suppress("+79031119999", SuppressionReason.BLOCK)
    lift("+79031119999")

    assert listed(admin_browser.get("/suppressions")) == ["+79035556677", "+79031112233"]
    assert listed(admin_browser.get("/suppressions?q=903 111")) == ["+79031112233"]
    assert listed(admin_browser.get("/suppressions?q=903 111&lifted=1")) == ["+79031119999", "+79031112233"]
    assert listed(admin_browser.get("/suppressions?q=e-mail")) == ["+79035556677"]
    nothing = admin_browser.get("/suppressions?q=000000")
    assert listed(nothing) == [] and "No suppressed numbers match." in page_of(nothing)


def test_more_than_a_page_links_to_older_entries(admin_browser):
    phones = [f"+7903000{number:04d}" for number in range(55)]
    for phone in phones:
        suppression.suppress(phone, SuppressionReason.OPT_OUT, source="test")
    db.session.commit()

    first = admin_browser.get("/suppressions?q=903000")
    assert listed(first) == phones[::-1][:50]
    link = older_link(first)
    assert link and parse_qs(urlsplit(link).query)["q"] == ["903000"]
    second = admin_browser.get(link)
    assert listed(second) == phones[::-1][50:]
    assert older_link(second) is None
    assert older_link(admin_browser.get("/suppressions?q=9030000001")) is None


# --- adding a number ------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["8 (903) 123-45-67", "+7 903 123-45-67", "8-903-1234567"])
def test_a_number_typed_any_usual_way_is_stored_in_e164(admin_browser, admin, typed):
    response = add(admin_browser, typed)
    assert response.status_code == 302 and response.headers["Location"] == "/suppressions"
    page = page_of(admin_browser.get("/suppressions"))
    assert "+79031234567 is suppressed." in page

    [entry] = rows()
    assert (entry.phone, entry.reason, entry.source, entry.actor_id) == (
        "+79031234567", SuppressionReason.OPT_OUT, "ui", admin.id)
    [event] = events("suppression.added")
    assert (event.actor_id, event.object_type, event.object_id) == (admin.id, "suppression", str(entry.id))
    assert event.details == {"phone": "+79031234567", "reason": "opt_out", "source": "ui", "evidence": ""}


def test_adding_a_suppressed_number_again_changes_nothing(admin_browser):
    add(admin_browser, "+79031234567")
    response = add(admin_browser, "8 903 123 45 67")
    assert response.status_code == 302
    assert "+79031234567 was already suppressed for this reason." in page_of(admin_browser.get("/suppressions"))
    assert len(rows()) == 1 and len(events("suppression.added")) == 1


@pytest.mark.parametrize(("typed", "sentence"), [
    ("hello", "“hello” is not a phone number."),
    ("8 903 12", "“8 903 12” has the wrong number of digits for a phone number."),
])
def test_an_invalid_number_is_refused_with_a_sentence(admin_browser, typed, sentence):
    response = add(admin_browser, typed)
    assert response.status_code == 400
    assert errors(response) == [sentence]
    assert rows() == [] and events("suppression.added") == []


def test_a_manual_suppression_needs_a_note(admin_browser, admin):
    response = add(admin_browser, "+79031234567", reason="manual", note="   ")
    assert response.status_code == 400
    assert errors(response) == ["Write a note saying why this number is suppressed."]
    assert rows() == []

    assert add(admin_browser, "+79031234567", reason="manual", note="Complained to the manager").status_code == 302
    [entry] = rows()
    assert (entry.reason, entry.note, entry.actor_label) == (
        SuppressionReason.MANUAL,
        "Complained to the manager",
        admin.email,
    )


# --- importing a file -----------------------------------------------------------------------------

def test_a_russian_excel_file_in_cp1251_with_semicolons_is_imported(admin_browser, admin):
    data = ("Телефон;Причина;Примечание\r\n"
            "8 (903) 111-22-33;block;\r\n"
            "+7 903 111 22 34;;просил не писать\r\n"
            "89031112235;;\r\n").encode("cp1251")
    response = upload(admin_browser, data, reason="manual")
    assert response.status_code == 200
    assert import_summary(response) == (
        "Import finished: 3 rows read, 3 suppressed, 0 already suppressed, 0 rejected.")

    evidence = f"stop-list.csv sha256:{hashlib.sha256(data).hexdigest()[:16]}"
    assert [(row.phone, row.reason, row.note, row.source, row.evidence) for row in rows()] == [
        ("+79031112233", SuppressionReason.BLOCK, "", "import", evidence),
        ("+79031112234", SuppressionReason.MANUAL, "просил не писать", "import", evidence),
        ("+79031112235", SuppressionReason.MANUAL, "Imported from stop-list.csv", "import", evidence),
    ]
    assert len(events("suppression.added")) == 3
    [imported] = events("suppression.imported")
    assert imported.actor_id == admin.id
    assert imported.details == {"file": "stop-list.csv", "sha256": hashlib.sha256(data).hexdigest(),
                                "read": 3, "added": 3, "rejected": 0}


def test_a_utf8_file_with_a_byte_order_mark_is_imported(admin_browser):
    data = "\ufeffphone,reason,note\n+79031112233,spam_report,\n+44 20 7946 0958,opt_out,London office\n".encode()
    response = upload(admin_browser, data)
    assert import_summary(response) == "Import finished: 2 rows read, 2 suppressed, 0 already suppressed, 0 rejected."
    assert [(row.phone, row.reason, row.note) for row in rows()] == [
        ("+79031112233", SuppressionReason.SPAM_REPORT, ""),
        ("+442079460958", SuppressionReason.OPT_OUT, "London office"),
    ]


def test_bad_rows_are_reported_by_row_number_and_the_rest_imported(admin_browser, admin):
    data = (b"phone,reason\n"
            b"+79031112233,opt_out\n"
            b"not a number,opt_out\n"
            b"+79031112234,block\n"
            b"+79031112235,unsubscribed\n"
            b"+79031112236,manual\n")
    assert import_summary(upload(admin_browser, data)) == (
        "Import finished: 5 rows read, 3 suppressed, 0 already suppressed, 2 rejected. "
        "Row 3: “not a number” is not a phone number. "
        "Row 5: Unknown reason “unsubscribed”; use opt_out, block, spam_report or manual.")
    assert [(row.phone, row.reason, row.note) for row in rows()] == [
        ("+79031112233", SuppressionReason.OPT_OUT, ""),
        ("+79031112234", SuppressionReason.BLOCK, ""),
        ("+79031112236", SuppressionReason.MANUAL, "Imported from stop-list.csv"),
    ]
    assert events("suppression.imported")[0].details["rejected"] == 2


def test_row_numbers_count_blank_lines(admin_browser):
    data = b"phone\n+79031112233\n\nnot a number\n"
    assert "Row 4: “not a number” is not a phone number." in import_summary(upload(admin_browser, data))


@pytest.mark.parametrize(("data", "filename"), [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "stop-list.pdf"),
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "stop-list.xlsx"),
    (bytes(range(256)) * 4, "stop-list.csv"),
])
def test_a_binary_upload_is_refused_and_nothing_is_stored(admin_browser, data, filename):
    response = upload(admin_browser, data, filename)
    assert response.status_code == 400
    assert errors(response) == [NOT_CSV]
    assert rows() == [] and events("suppression.imported") == []


def test_importing_the_same_file_again_changes_nothing(admin_browser):
    data = "\ufeffphone,reason\n+79031112233,opt_out\n+79031112234,block\n".encode()
    upload(admin_browser, data)
    before = [(row.id, row.phone, row.reason, row.created_at, row.evidence) for row in rows()]

    again = upload(admin_browser, data)
    assert import_summary(again) == "Import finished: 2 rows read, 0 suppressed, 2 already suppressed, 0 rejected."
    assert [(row.id, row.phone, row.reason, row.created_at, row.evidence) for row in rows()] == before
    assert len(events("suppression.added")) == 2 and len(events("suppression.imported")) == 2


# --- exporting ------------------------------------------------------------------------------------

def test_the_export_neutralises_formulas_and_keeps_phone_numbers(admin_browser):
    suppress("+79031112233", SuppressionReason.MANUAL, note='=HYPERLINK("http://evil.example","Click")')
    suppress("+79031112234", SuppressionReason.BLOCK)
    lift("+79031112234")

    response, table = export(admin_browser)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="suppressions.csv"'
    header, *lines = table
    assert header == EXPORT_HEADER
    assert [dict(zip(header, line, strict=True))["phone"] for line in lines] == ["+79031112233"]
    record = dict(zip(header, lines[0], strict=True))
    assert record["note"] == "'=HYPERLINK(\"http://evil.example\",\"Click\")"
    assert (record["reason"], record["source"], record["lifted_at"]) == ("manual", "test", "")


def test_the_history_export_includes_lifted_entries(admin_browser):
    suppress("+79031112233")
    suppress("+79031112234", SuppressionReason.BLOCK)
    lift("+79031112234", "Consent form signed")

    response, (header, *lines) = export(admin_browser, "?history=1")
    assert response.headers["Content-Disposition"] == 'attachment; filename="suppressions-history.csv"'
    records = [dict(zip(header, line, strict=True)) for line in lines]
    assert [(record["phone"], record["reason"]) for record in records] == [("+79031112233", "opt_out"),
                                                                           ("+79031112234", "block")]
    assert records[0]["lifted_at"] == "" and records[1]["lifted_at"] != ""
    assert (records[1]["lifted_by"], records[1]["lift_reason"]) == ("system", "Consent form signed")


# --- one number's history and lifting -------------------------------------------------------------

def test_the_history_page_shows_every_entry_of_a_number(admin_browser):
    suppress("+79031112233")
    suppression.lift_opt_out("+79031112233", evidence="wamid.START")
    suppress("+79031112233", SuppressionReason.MANUAL, note="Asked again in the shop")

    page = page_of(admin_browser.get("/suppressions/" + quote("8 (903) 111-22-33")))
    assert "<h1>+79031112233</h1>" in page
    assert "Suppressed: no message will be sent to this number." in page
    # Newest first: the manual entry, then the lifted opt-out with who lifted it and why.
    assert page.index("Suppressed manually") < page.index("Opted out")
    assert "Asked again in the shop" in page and "system · The person opted back in" in page
    assert 'action="/suppressions/+79031112233/lift"' in page


def test_the_history_page_of_a_number_never_suppressed(admin_browser):
    page = page_of(admin_browser.get("/suppressions/+79031112233"))
    assert "Not suppressed." in page and "This number has never been suppressed." in page
    assert "/lift" not in page
    assert admin_browser.get("/suppressions/not-a-number").status_code == 404


def test_an_admin_lifts_a_suppression_with_a_reason(admin_browser, admin):
    suppress("+79031112233", SuppressionReason.BLOCK)
    suppress("+79031112233", SuppressionReason.SPAM_REPORT)
    path = "/suppressions/+79031112233"

    response = post_form(admin_browser, f"{path}/lift", {"reason": "Signed consent form no. 12"}, page=path)
    assert response.status_code == 302 and response.headers["Location"] == path
    page = page_of(admin_browser.get(path))
    assert "The suppression of +79031112233 is lifted." in page and "Not suppressed." in page

    lifted = rows()
    assert [(row.lifted_by_id, row.lifted_by_label, row.lift_reason) for row in lifted] == [
        (admin.id, admin.email, "Signed consent form no. 12")] * 2
    assert [
        (event.actor_id, event.object_id, event.details["lift_reason"]) for event in events("suppression.lifted")
    ] == [(admin.id, str(row.id), "Signed consent form no. 12") for row in lifted]


def test_an_admin_cannot_lift_a_persons_own_opt_out(admin_browser):
    suppress("+79031112233", SuppressionReason.OPT_OUT)
    suppress("+79031112233", SuppressionReason.MANUAL, note="legal hold")
    path = "/suppressions/+79031112233"
    post_form(admin_browser, f"{path}/lift", {"reason": "hold ended"}, page=path)
    assert [(row.reason, row.is_open) for row in rows()] == [
        (SuppressionReason.OPT_OUT, True),
        (SuppressionReason.MANUAL, False),
    ]
    response = post_form(admin_browser, f"{path}/lift", {"reason": "customer asked by phone"}, page=path)
    assert "only the person can opt back in, by replying START" in page_of(
        admin_browser.get(response.headers["Location"])
    )
    assert rows()[0].is_open


@pytest.mark.parametrize("reason", ["", "   "])
def test_lifting_without_a_reason_is_refused(admin_browser, reason):
    suppress("+79031112233")
    path = "/suppressions/+79031112233"
    response = post_form(admin_browser, f"{path}/lift", {"reason": reason}, page=path)
    assert response.status_code == 400
    assert errors(response) == ["Write the reason for lifting the suppression."]
    assert rows()[0].is_open and events("suppression.lifted") == []


@pytest.mark.parametrize("role", ["marketer", "reviewer"])
def test_only_admins_lift(browser_as, role):
    suppress("+79031112233")
    browser = browser_as(role)
    path = "/suppressions/+79031112233"
    page = page_of(browser.get(path))
    assert "Suppressed: no message will be sent to this number." in page and "/lift" not in page

    response = post_form(browser, f"{path}/lift", {"reason": "The customer called"}, page=path)
    assert response.status_code == 403 and FORBIDDEN in page_of(response)
    assert rows()[0].is_open and events("suppression.lifted") == []


# --- the content check ----------------------------------------------------------------------------

def test_the_content_check_marks_mentions_and_blocks_profile_links(admin_browser):
    page = lint_page(admin_browser, "Подписывайтесь на наш <b>Instagram</b>: https://instagram.com/shop")
    assert ('<p class="message">Подписывайтесь на наш &lt;b&gt;<mark class="mention">Instagram</mark>&lt;/b&gt;: '
            '<mark class="link">https://instagram.com/shop</mark></p>') in page
    assert "<b>Instagram" not in page
    assert ('<li class="outcome-block"><strong>Blocked</strong> '
            "Links to Instagram are not allowed in Russia: https://instagram.com/shop.</li>") in page
    assert ('<li class="outcome-warn"><strong>Warning</strong> '
            "Mentions of Instagram are marked with * and the disclaimer is added.</li>") in page
    assert (f'<p class="message">Подписывайтесь на наш &lt;b&gt;Instagram*&lt;/b&gt;: https://instagram.com/shop\n\n'
            f"{DISCLAIMER_RU}</p>") in page


def test_the_content_check_adds_the_disclaimer_in_the_chosen_language(admin_browser):
    page = lint_page(admin_browser, "Follow us on Facebook", language="en")
    assert '<mark class="mention">Facebook</mark>' in page
    assert f"Follow us on Facebook*\n\n{DISCLAIMER_EN}" in page
    assert "outcome-block" not in page


def test_the_content_check_of_a_plain_text_passes(browser_as):
    page = lint_page(browser_as("reviewer"), "Ваш заказ {{1}} готов к выдаче.")
    assert "<mark" not in page and "Meta Platforms" not in page
    assert '<li class="outcome-pass"><strong>Pass</strong> Spam score 0 is below the warning level of 3.</li>' in page


# --- settings -------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["marketer", "reviewer"])
def test_only_admins_change_the_settings(browser_as, role):
    browser = browser_as(role)
    assert browser.get("/compliance/settings").status_code == 403
    response = save_settings(browser, "keywords", **keyword_fields(opt_out=["баста"]))
    assert response.status_code == 403
    assert post_form(browser, "/compliance/settings/keywords/reset", {}, page="/lint").status_code == 403
    assert not is_customised("keywords") and events("compliance.settings_changed") == []


def test_the_settings_page_shows_every_section(admin_browser):
    response = admin_browser.get("/compliance/settings")
    assert response.status_code == 200
    page = page_of(response)
    assert "<h1>Compliance settings</h1>" in page
    for title in ("Reply keywords", "Send windows and frequency caps", "Spam-likeness rules", "Restricted platforms"):
        assert f'{title} <span class="kv">(default)</span>' in page
    assert 'value="09:00-21:00"' in page and "US 08:00-21:00" in page
    assert re.search(r'<textarea[^>]*name="spam-[^"]+"[^>]*>\s*\{', page), "the spam rules are shown as JSON"
    assert "/reset" not in page

    save_settings(admin_browser, "keywords", **keyword_fields(opt_out=["баста"]))
    page = page_of(admin_browser.get("/compliance/settings"))
    assert "Reply keywords saved." in page and "<h2>Reply keywords</h2>" in page
    assert 'action="/compliance/settings/keywords/reset"' in page and "баста" in page


def test_a_saved_opt_out_keyword_classifies_replies(app, admin_browser, admin):
    assert classify_reply("Баста!", policy.current_policy().keywords) is Intent.NONE

    response = save_settings(admin_browser, "keywords", **keyword_fields(opt_out=["баста"]))
    assert response.status_code == 302 and response.headers["Location"] == "/compliance/settings#keywords"
    db.session.expire_all()
    assert classify_reply("Баста!", policy.current_policy().keywords) is Intent.OPT_OUT
    assert app.test_cli_runner().invoke(args=["compliance", "intent"], input="БАСТА").output == "opt_out\n"
    assert classify_reply("STOP", policy.current_policy().keywords) is Intent.OPT_OUT
    assert_settings_change_recorded("compliance.settings_changed", "keywords", admin)


def test_removing_stop_from_the_opt_out_keywords_is_refused(admin_browser):
    response = save_settings(admin_browser, "keywords", **keyword_fields(opt_out=["-stop"]))
    assert response.status_code == 400
    assert errors(response) == ["The opt-out keywords must keep STOP."]
    assert not is_customised("keywords") and events("compliance.settings_changed") == []


def test_send_windows_and_caps_are_saved(admin_browser, admin):
    response = save_settings(admin_browser, "sending", window="10:00-20:00",
                             country_windows="us 08:00-21:00\nDE 9:00 - 20:00", cap_per_day="2", cap_per_week="5")
    assert response.status_code == 302 and response.headers["Location"] == "/compliance/settings#sending"
    db.session.expire_all()
    rules = policy.current_policy().sending
    assert rules.window.as_dict() == {"start": "10:00", "end": "20:00"}
    assert {code: window.as_dict() for code, window in rules.country_windows.items()} == {
        "US": {"start": "08:00", "end": "21:00"}, "DE": {"start": "09:00", "end": "20:00"}}
    assert (rules.cap_per_day, rules.cap_per_week) == (2, 5)
    assert_settings_change_recorded("compliance.settings_changed", "sending", admin)

    assert (
        save_settings(admin_browser, "sending", **{**SENDING_FORM, "cap_per_day": "", "cap_per_week": ""}).status_code
        == 302
    )
    db.session.expire_all()
    assert (policy.current_policy().sending.cap_per_day, policy.current_policy().sending.cap_per_week) == (None, None)


@pytest.mark.parametrize(("fields", "sentence"), [
    ({"window": "from 10 to 20"}, "Write the window for all countries as two times, for example 09:00-21:00."),
    ({"window": "20:00-10:00"}, "The default send window must start before it ends."),
    ({"window": "25:00-26:00"}, "The times of the default send window must be written as HH:MM, for example 09:00."),
    ({"country_windows": "US"}, "Write the window for US as two times, for example 09:00-21:00."),
    ({"country_windows": "USA 08:00-21:00"}, "USA is not a two-letter country code (ISO 3166-1), such as US or RU."),
    ({"cap_per_day": "0"}, "The daily cap must be a whole number of at least 1, or empty for no cap."),
    ({"cap_per_day": "many"}, "The daily cap must be a whole number of at least 1, or empty for no cap."),
    ({"cap_per_day": "5", "cap_per_week": "2"}, "The weekly cap cannot be lower than the daily cap."),
])
def test_bad_send_settings_are_refused_with_a_sentence(admin_browser, fields, sentence):
    response = save_settings(admin_browser, "sending", **{**SENDING_FORM, **fields})
    assert response.status_code == 400
    assert errors(response) == [sentence]
    assert not is_customised("sending") and events("compliance.settings_changed") == []


@pytest.mark.parametrize(("section", "text", "sentence"), [
    ("spam", '{\n  "warn_at": 3,\n  "block_at": \n}', "This is not valid JSON: Expecting value at line 4, column 1."),
    ("registry", '{\n  "owners": {},\n  "platforms": [,]\n}',
     "This is not valid JSON: Expecting value at line 3, column 17."),
    ("spam", '{"warn_at": 5, "block_at": 4}', "block_at must not be below warn_at."),
    ("registry", '{"owners": {}}', "The registry needs an “owners” object and a “platforms” list."),
])
def test_bad_json_sections_are_refused_with_a_sentence(admin_browser, section, text, sentence):
    response = save_settings(admin_browser, section, content=text)
    assert response.status_code == 400
    assert errors(response) == [sentence]
    assert not is_customised(section) and events("compliance.settings_changed") == []


def test_a_registry_alias_takes_effect_on_the_content_check(admin_browser, admin):
    text = "Пишите нам в Фейсбучек"
    assert "<mark" not in lint_page(admin_browser, text)

    registry = copy.deepcopy(policy.section_data("registry"))
    next(entry for entry in registry["platforms"] if entry["id"] == "facebook")["aliases"].append("фейсбучек")
    response = save_settings(admin_browser, "registry", content=json.dumps(registry, ensure_ascii=False, indent=2))
    assert response.status_code == 302 and response.headers["Location"] == "/compliance/settings#registry"

    page = lint_page(admin_browser, text)
    assert '<mark class="mention">Фейсбучек</mark>' in page and f"Фейсбучек*\n\n{DISCLAIMER_RU}" in page
    assert_settings_change_recorded("compliance.settings_changed", "registry", admin)


def test_reset_goes_back_to_the_defaults(admin_browser, admin):
    save_settings(admin_browser, "keywords", **keyword_fields(opt_out=["баста"]))
    assert is_customised("keywords")

    response = post_form(admin_browser, "/compliance/settings/keywords/reset", {}, page="/lint")
    assert response.status_code == 302 and response.headers["Location"] == "/compliance/settings#keywords"
    assert not is_customised("keywords")
    assert classify_reply("баста", policy.current_policy().keywords) is Intent.NONE
    assert_settings_change_recorded("compliance.settings_reset", "keywords", admin)
    # Nothing to reset, nothing to record.
    post_form(admin_browser, "/compliance/settings/keywords/reset", {}, page="/lint")
    assert len(events("compliance.settings_reset")) == 1
    assert post_form(admin_browser, "/compliance/settings/nothing/reset", {}, page="/lint").status_code == 404


# --- Russian --------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/suppressions",
    "/suppressions/+79031112233",
    "/lint",
    "/compliance/settings",
])
def test_the_pages_are_in_russian_for_a_russian_speaker(browser_as, path):
    suppress("+79031112233")
    browser = browser_as("admin", language="ru")
    page = page_of(browser.get(path))
    assert '<html lang="ru">' in page
    main = page[page.index("<main>"):]
    headings = [re.sub(r"<[^>]+>", "", text) for text in re.findall(r"<h[12][^>]*>(.*?)</h[12]>", main, re.S)]
    worded = [text for text in headings if re.search(r"[^\W\d_]", text)]
    assert worded and all(CYRILLIC.search(text) for text in worded), headings


def test_sentences_on_the_pages_are_in_russian_too(browser_as):
    browser = browser_as("admin", language="ru")
    response = add(browser, "hello")
    assert response.status_code == 400
    [sentence] = errors(response)
    assert CYRILLIC.search(sentence) and "hello" in sentence
