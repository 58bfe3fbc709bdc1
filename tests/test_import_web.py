"""Import pages: upload with its sentences, the mapping preview, the queued job's progress, and the
outcome page with its error report — as a marketer's browser sees them, in English and Russian."""

from __future__ import annotations

import csv
import html
import io
import re

import openpyxl
import pytest

from audience.import_jobs import import_file, job_id_for
from audience.models import Contact, Import, ImportStatus
from extensions import db, redis_queues
from tests.helpers import csrf_token, signed_in_client

CP1251_FILE = (
    "Телефон;ФИО;Город;Согласие;Заметка\n"
    "8 (903) 123-45-67;Иванов Иван;Москва;да;=HYPERLINK(\"http://evil\")\n"
    "7.90312E+10;Петров Пётр;Казань;да;\n"
    "+7 903 765-43-21;Сидорова Анна;Новосибирск;нет;\n"
).encode("cp1251")


@pytest.fixture
def marketer(app, make_user):
    return signed_in_client(app, make_user("marketer").email)


def page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def upload(browser, name: str, content: bytes):
    token = csrf_token(browser.get("/audience/imports").get_data(as_text=True))
    return browser.post("/audience/imports", data={"csrf_token": token, "file": (io.BytesIO(content), name)},
                        content_type="multipart/form-data")


def uploaded_import_id(response) -> int:
    assert response.status_code == 302, page(response)
    return int(re.search(r"/audience/imports/(\d+)/mapping$", response.headers["Location"]).group(1))


def confirm(browser, import_id: int, **changes):
    """Post the mapping page as shown (the guessed columns), with ``changes`` on top."""
    shown = browser.get(f"/audience/imports/{import_id}/mapping").get_data(as_text=True)
    fields = dict(
        re.findall(r'<select[^>]*name="(\w+)"[^>]*>(?:(?!</select>).)*?<option selected value="([^"]*)"', shown, re.S)
    )
    return browser.post(f"/audience/imports/{import_id}/mapping",
                        data={"csrf_token": csrf_token(shown), **fields, **changes})


def test_the_upload_page_lists_nothing_yet_and_explains_the_rules(marketer):
    shown = page(marketer.get("/audience/imports"))
    assert "Only people who opted in" in shown
    assert "No imports yet." in shown


@pytest.mark.parametrize(("name", "content", "sentence"), [
    ("empty.csv", b"", "empty"),
    ("report.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "This is not a CSV file"),
    ("header.csv", "Телефон;Имя\n".encode("cp1251"), "no contacts under it"),
])
def test_a_bad_file_gets_a_sentence_and_no_import(marketer, name, content, sentence):
    response = upload(marketer, name, content)
    assert response.status_code == 400
    assert sentence in page(response)
    assert db.session.query(Import).count() == 0


def test_a_file_above_the_size_limit_is_refused(app, marketer):
    app.config["MAX_UPLOAD_MB"] = 1
    response = upload(marketer, "big.csv", b"phone\n" + b"+79031234567\n" * 90_000)
    assert response.status_code == 400
    assert "larger than 1 MB" in page(response)
    assert db.session.query(Import).count() == 0


def test_the_mapping_page_previews_the_rows_and_guesses_the_columns(marketer):
    import_id = uploaded_import_id(upload(marketer, "crm.csv", CP1251_FILE))
    shown = page(marketer.get(f"/audience/imports/{import_id}/mapping"))
    assert "Иванов Иван" in shown and "Новосибирск" in shown  # cp1251 decoded for the preview
    selected = dict(re.findall(r'name="map_(\w+)"(?:(?!</select>).)*?<option selected value="([^"]*)"', shown, re.S))
    assert selected["phone"] == "Телефон"
    assert selected["name"] == "ФИО"
    assert selected["city"] == "Город"
    assert selected["consent"] == "Согласие"
    assert "Заметка" not in selected.values()  # another column: an attribute


def test_without_a_consent_column_the_import_needs_an_attestation(marketer):
    content = b"Phone,Name\n+79031234567,Ivan\n"
    import_id = uploaded_import_id(upload(marketer, "site.csv", content))
    refused = confirm(marketer, import_id)
    assert refused.status_code == 400
    assert "tick the box and say how these people opted in" in page(refused)
    assert db.session.get(Import, import_id).status is ImportStatus.UPLOADED
    started = confirm(marketer, import_id, attest="y", consent_source="website form, checkbox v3")
    assert started.status_code == 302
    record = db.session.get(Import, import_id)
    db.session.refresh(record)
    assert record.status is ImportStatus.QUEUED
    assert record.options["consent_source"] == "website form, checkbox v3"
    assert redis_queues.connection.exists(f"rq:job:{job_id_for(import_id)}")


def test_a_column_chosen_twice_is_refused_with_a_sentence(marketer):
    import_id = uploaded_import_id(upload(marketer, "crm.csv", CP1251_FILE))
    response = confirm(marketer, import_id, map_name="Телефон")
    assert response.status_code == 400
    assert "Телефон" in page(response) and db.session.get(Import, import_id).status is ImportStatus.UPLOADED


def test_the_workbook_sheet_can_be_chosen_before_the_import(marketer):
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["Just notes"])
    book.active.append(["nothing to import"])
    clients = book.create_sheet("Clients")
    clients.append(["Mobile", "Name", "Opt-in"])
    clients.append(["+79031234567", "Ivan", "yes"])
    content = io.BytesIO()
    book.save(content)
    import_id = uploaded_import_id(upload(marketer, "book.xlsx", content.getvalue()))
    first = marketer.get(f"/audience/imports/{import_id}/mapping")
    token = csrf_token(first.get_data(as_text=True))
    switched = marketer.post(f"/audience/imports/{import_id}/mapping",
                             data={"csrf_token": token, "sheet": "Clients", "show_sheet": "1"})
    assert switched.status_code == 200
    assert "Ivan" in page(switched)
    assert re.search(r'name="map_phone"(?:(?!</select>).)*?<option selected value="Mobile"', page(switched), re.S)
    assert db.session.get(Import, import_id).status is ImportStatus.UPLOADED


def test_the_finished_import_shows_its_summary_reasons_and_report(app, marketer):
    import_id = uploaded_import_id(upload(marketer, "crm.csv", CP1251_FILE))
    assert confirm(marketer, import_id).status_code == 302
    queued = page(marketer.get(f"/audience/imports/{import_id}"))
    assert "import_progress.js" in queued and "Waiting for a worker" in queued
    assert marketer.get(f"/audience/imports/{import_id}/progress").get_json()["status"] == "queued"

    import_file(import_id)  # what the worker runs; a real worker runs it in test_import_cli_job

    assert marketer.get(f"/audience/imports/{import_id}/progress").get_json()["status"] == "succeeded"
    shown = page(marketer.get(f"/audience/imports/{import_id}"))
    assert "import_progress.js" not in shown
    assert re.search(r"Contacts created</th><td>1<", shown)
    assert re.search(r"Rows rejected</th><td>2<", shown)
    assert "Excel damaged this number" in shown and "No opt-in" in shown
    assert [contact.phone for contact in db.session.query(Contact)] == ["+79031234567"]

    report = marketer.get(f"/audience/imports/{import_id}/report.csv", buffered=True)
    assert report.headers["Content-Disposition"].endswith(f'filename="import-{import_id}-report.csv"')
    rows = report_rows(report, "cp1251", ";")
    assert rows[0] == ["Row", "Outcome", "Reason", "Detail", "Телефон", "ФИО", "Город", "Согласие", "Заметка"]
    assert [row[0] for row in rows[1:]] == ["3", "4"]
    assert rows[1][4:] == ["7.90312E+10", "Петров Пётр", "Казань", "да", ""]


def report_rows(response, encoding: str, delimiter: str) -> list[list[str]]:
    """The downloaded report's bytes read as ``encoding`` with ``delimiter``, as Excel would read them."""
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(response.get_data().decode(encoding)), delimiter=delimiter))


def import_through_the_pages(browser, name: str, content: bytes) -> int:
    import_id = uploaded_import_id(upload(browser, name, content))
    assert confirm(browser, import_id).status_code == 302
    import_file(import_id)  # what the worker runs
    return import_id


def test_the_report_of_a_cp1251_semicolon_file_comes_back_so_with_a_column_per_column_and_in_russian(app, marketer):
    content = ("Телефон;Имя;Город;Согласие;Комментарий\r\n"
               "12;;Москва;да;перезвонить\r\n"  # the name is empty: the city must stay under «Город»
               "+7 903 765-43-21;Анна;;нет;\r\n"
               "+79031234501;Иван;Шмуравль;да;\r\n").encode("cp1251")
    token = csrf_token(marketer.get("/audience/imports").get_data(as_text=True))
    marketer.post("/language", data={"csrf_token": token, "language": "ru"})
    import_id = import_through_the_pages(marketer, "клиенты.csv", content)

    report = marketer.get(f"/audience/imports/{import_id}/report.csv", buffered=True)
    assert report.headers["Content-Type"] == "text/csv; charset=windows-1251"
    assert not report.get_data().startswith(b"\xef\xbb\xbf")
    rows = report_rows(report, "cp1251", ";")
    # The report's own columns in the reader's language, then the file's columns under the file's headers.
    assert rows[0] == ["Строка", "Результат", "Причина", "Подробности", "Телефон", "Имя", "Город", "Согласие",
                       "Комментарий"]
    assert [row[:2] for row in rows[1:]] == [["2", "отклонена"], ["3", "отклонена"], ["4", "предупреждение"]]
    assert [row[4:] for row in rows[1:]] == [["12", "", "Москва", "да", "перезвонить"],
                                            ["'+7 903 765-43-21", "Анна", "", "нет", ""],
                                            ["'+79031234501", "Иван", "Шмуравль", "да", ""]]
    # The page shows the same columns: an empty cell is an empty cell, not a shift.
    shown = page(marketer.get(f"/audience/imports/{import_id}"))
    table = re.search(r'<table id="import-issues">(.*?)</table>', shown, re.S).group(1)
    first = re.findall(r"<td[^>]*>(.*?)</td>", re.search(r"<tbody>\s*<tr[^>]*>(.*?)</tr>", table, re.S).group(1), re.S)
    assert first[3:] == ["12", "", "Москва", "да", "перезвонить"]

    # The marketer fixes the number in the report and imports the report: its notes become no attributes.
    rows[1][4] = "+79031234512"
    fixed = io.StringIO()
    csv.writer(fixed, delimiter=";").writerows(rows)
    again = import_through_the_pages(marketer, "отчёт.csv", fixed.getvalue().encode("cp1251"))
    assert db.session.get(Import, again).summary["created"] == 1
    contact = db.session.query(Contact).filter_by(phone="+79031234512").one()
    assert (contact.city, contact.attributes) == ("Москва", {"Комментарий": "перезвонить"})


def test_the_report_of_a_utf8_comma_file_is_utf8_with_a_byte_order_mark_and_commas(app, marketer):
    content = b"Phone,Name,Opt-in\n12,Ivan,yes\n"
    import_id = import_through_the_pages(marketer, "site.csv", content)
    report = marketer.get(f"/audience/imports/{import_id}/report.csv", buffered=True)
    assert report.get_data().startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 only with it
    rows = report_rows(report, "utf-8-sig", ",")
    assert rows == [["Row", "Outcome", "Reason", "Detail", "Phone", "Name", "Opt-in"],
                    ["2", "rejected", "The number is too short.", "", "12", "Ivan", "yes"]]


def test_the_report_lists_merged_rows_on_the_page_in_the_csv_and_in_the_api(app, marketer, call_as):
    content = ("Телефон;Имя;Согласие\r\n+79031234501;Иван;да\r\n+79031234502;Мария;да\r\n"
               "8 903 123-45-01;Иван Петров;да\r\n").encode("cp1251")
    import_id = import_through_the_pages(marketer, "клиенты.csv", content)

    shown = page(marketer.get(f"/audience/imports/{import_id}"))
    merged = re.search(r'<table id="import-merges">(.*?)</table>', shown, re.S).group(1)
    assert re.findall(r"<td>(.*?)</td>", merged) == ["2", "4", "…4501"]
    rows = report_rows(marketer.get(f"/audience/imports/{import_id}/report.csv", buffered=True), "cp1251", ";")
    assert rows[1:] == [["2", "merged", "Same number (…4501) as row 4; merged into that row, whose values and "
                         "consent proof stand.", "", "", "", ""]]

    token = csrf_token(marketer.get("/audience/imports").get_data(as_text=True))
    marketer.post("/language", data={"csrf_token": token, "language": "ru"})
    assert "Объединённые строки" in page(marketer.get(f"/audience/imports/{import_id}"))
    rows = report_rows(marketer.get(f"/audience/imports/{import_id}/report.csv", buffered=True), "cp1251", ";")
    assert rows[1][:3] == ["2", "объединена", "Тот же номер (…4501), что в строке 4; объединена с ней, действуют её "
                           "значения и подтверждение согласия."]

    body = call_as("get", f"/imports/{import_id}").get_json()
    assert body["merged_rows"] == [{"row": 2, "into_row": 4, "number_end": "4501"}]
    assert (body["status"], body["summary"]["duplicates"], body["issues"]) == ("succeeded", 1, [])


def test_the_error_report_neutralises_formulas(app, marketer):
    content = "Телефон;Согласие;Заметка\n12;да;=HYPERLINK(\"http://evil\")\n".encode("cp1251")
    import_id = uploaded_import_id(upload(marketer, "evil.csv", content))
    assert confirm(marketer, import_id).status_code == 302
    import_file(import_id)
    rows = report_rows(marketer.get(f"/audience/imports/{import_id}/report.csv", buffered=True), "cp1251", ";")
    assert rows[1][4:] == ["12", "да", "'=HYPERLINK(\"http://evil\")"]


def test_a_failed_import_shows_its_sentence(app, marketer):
    content = b"Phone,Name\n+79031234567,Ivan\n"
    import_id = uploaded_import_id(upload(marketer, "site.csv", content))
    assert confirm(marketer, import_id, attest="y", consent_source="shop").status_code == 302
    record = db.session.get(Import, import_id)
    record.options = {**record.options, "mapping": {"phone": "Телефон"}}  # a header the file lacks
    db.session.commit()
    import_file(import_id)
    shown = page(marketer.get(f"/audience/imports/{import_id}"))
    assert "Failed" in shown and "Телефон" in shown
    assert db.session.query(Contact).count() == 0


def test_the_pages_speak_russian(app, marketer):
    import_id = uploaded_import_id(upload(marketer, "crm.csv", CP1251_FILE))
    token = csrf_token(marketer.get("/audience/imports").get_data(as_text=True))
    marketer.post("/language", data={"csrf_token": token, "language": "ru"})
    assert "Импорт" in page(marketer.get("/audience/imports"))
    assert "Первые строки файла" in page(marketer.get(f"/audience/imports/{import_id}/mapping"))


def test_reviewers_cannot_import(app, make_user):
    reviewer = signed_in_client(app, make_user("reviewer").email)
    assert reviewer.get("/audience/imports").status_code == 403
