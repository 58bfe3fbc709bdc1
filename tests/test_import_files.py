"""Reading uploaded audience files: every usual encoding, delimiter and workbook to a table of strings,
and every bad file refused at upload with a sentence and nothing stored."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import func, select

from audience import import_records
from audience.columns import MappingError
from audience.models import Import, ImportFile, ImportStatus
from audience.reading import read_table
from extensions import db
from spreadsheets import UnreadableFileError
from tests import audience_files as files
from tests.conftest import build_app


@pytest.fixture(scope="module")
def reader(redis_url):
    """An app context for the pure reading tests (sentences need Flask-Babel), without a database."""
    application = build_app("sqlite://", redis_url)
    with application.app_context():
        yield application


def refusal(content: bytes) -> str:
    with pytest.raises(UnreadableFileError) as caught:
        read_table(content)
    return str(caught.value)


# --- tables that read -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", files.CSV_KINDS)
def test_every_usual_encoding_and_delimiter_reads_as_the_same_table(reader, kind):
    table = read_table(files.CSV_KINDS[kind]())
    assert table.kind == "csv"
    assert table.headers == list(files.HEADER_RU)  # no BOM glued to "Телефон"
    assert [tuple(row) for row in table.frame.values.tolist()] == list(files.PEOPLE)


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_every_cell_is_read_as_the_text_in_the_file(reader, kind):
    rows = [("+79031234501", "007", "1.50", ""), ("89031234502", "00012", "3,0", "")]
    header = ("Телефон", "Код", "Сумма", "Пусто")
    content = files.utf8_csv(rows, header) if kind == "csv" else files.xlsx_file(rows, header)
    table = read_table(content)
    # A number column read as numbers would lose "+" and leading zeros, and turn "" into NaN.
    assert [tuple(row) for row in table.frame.values.tolist()] == rows
    assert all(isinstance(cell, str) for row in table.frame.values.tolist() for cell in row)


def test_rows_ending_in_a_delimiter_the_header_lacks_stay_in_their_columns(reader):
    content = "Телефон;Имя;Город\r\n+79031234501;Иван;Москва;\r\n+79031234502;Мария;Казань;\r\n".encode("cp1251")
    table = read_table(content)
    assert table.headers == ["Телефон", "Имя", "Город"]
    assert table.frame.values.tolist() == [["+79031234501", "Иван", "Москва"], ["+79031234502", "Мария", "Казань"]]


def test_a_delimiter_inside_quoted_cells_does_not_fool_the_detection(reader):
    rows = [("+79031234501", "Петров, Иван", "Москва", "да"), ("+79031234502", "Сидорова, Мария", "Казань", "да")]
    table = read_table(files.cp1251_csv(rows))
    assert table.frame["Имя"].tolist() == ["Петров, Иван", "Сидорова, Мария"]
    semicolons = [("+79031234501", "Петров; Иван", "Москва", "да")]
    assert read_table(files.utf8_csv(semicolons)).frame["Имя"].tolist() == ["Петров; Иван"]


def test_a_file_with_only_a_phone_column_reads(reader):
    table = read_table(files.csv_bytes([("+7 903 123-45-01",), ("8(903)1234502",)], header=("Телефон",)))
    assert table.headers == ["Телефон"]
    assert table.frame["Телефон"].tolist() == ["+7 903 123-45-01", "8(903)1234502"]


def test_a_workbook_is_read_from_its_first_sheet_with_numbers_as_excel_shows_them(reader):
    content = files.xlsx_file([(79031234501, "Иван", "Москва", "да"), (79031234502.0, "Мария", "Казань", 1)])
    table = read_table(content)
    assert (table.kind, table.sheets, table.sheet) == ("xlsx", ["Клиенты"], "Клиенты")
    assert table.headers == list(files.HEADER_RU)
    assert table.frame.values.tolist() == [
        ["79031234501", "Иван", "Москва", "да"],
        ["79031234502", "Мария", "Казань", "1"],
    ]


def test_a_workbook_with_two_sheets_reads_the_first_or_the_one_chosen(reader):
    content = files.xlsx_two_sheets()
    first = read_table(content)
    assert (first.sheets, first.sheet, first.headers) == (["Архив", "Март"], "Архив", ["Телефон", "Имя", "Согласие"])
    assert first.frame.values.tolist() == [["+79031234591", "Старый клиент", "да"]]
    chosen = read_table(content, sheet="Март")
    assert (chosen.sheet, chosen.headers) == ("Март", ["Phone", "Name", "Opt-in", "Tariff"])
    assert chosen.frame["Phone"].tolist() == ["+79031234592", "+79031234593"]


def test_a_sheet_the_workbook_lacks_is_refused_naming_the_ones_it_has(reader):
    with pytest.raises(UnreadableFileError) as caught:
        read_table(files.xlsx_two_sheets(), sheet="Апрель")
    assert str(caught.value) == "The workbook has no sheet called “Апрель”; it has: Архив, Март."


def test_a_workbook_with_a_formula_is_refused_naming_the_cell(reader):
    assert refusal(files.xlsx_with_formula()) == (
        'Cell D3 holds a formula (=C3&" "&B3); copy the sheet and paste it as values, then upload it again.'
    )


def test_the_preview_reads_only_the_first_rows(reader):
    content = files.large_csv(25)
    assert len(read_table(content, max_rows=import_records.PREVIEW_ROWS).frame) == 10
    assert len(read_table(content).frame) == 25


# --- bad files: a sentence at upload, nothing stored ----------------------------------------------

BAD_FILES = {
    "empty": (files.empty_file(), "The file is empty."),
    "blank lines only": (b" \r\n\r\n \n", "The file is empty."),
    "header only": (files.header_only(), "The file has a header row but no contacts under it."),
    "header only, xlsx": (
        files.xlsx_bytes(("Лист1", [files.HEADER_RU])),
        "The file has a header row but no contacts under it.",
    ),
    "PDF renamed to .csv": (
        files.pdf_renamed_csv(),
        "This is not a CSV file; save the table as CSV (comma- or semicolon-separated) and upload it again.",
    ),
    "old .xls": (
        files.old_excel_file(),
        "This is an old Excel (.xls) or password-protected file; "
        "save it as .xlsx or CSV without a password and upload it again.",
    ),
    "zip that is no workbook": (
        b"PK\x03\x04" + b"\x14" * 200,
        "This is not an Excel workbook (.xlsx) or a CSV file; save the table as .xlsx or CSV and upload it again.",
    ),
    "mixed encodings": (
        files.mixed_encodings(),
        "The file mixes two encodings (line 3 is UTF-8, other lines are not); "
        "save it again as CSV UTF-8 and upload it again.",
    ),
    "neither UTF-8 nor cp1251": (
        b"\xd2\xe5\xeb\xe5\xf4\xee\xed\x98\r\n1\r\n",
        "The file's text is neither UTF-8 nor Windows-1251; save it as CSV UTF-8 and upload it again.",
    ),
    "NUL byte past the first 4 KB": (
        files.nul_far_into_the_file(),
        "This is not a CSV file; save the table as CSV (comma- or semicolon-separated) and upload it again.",
    ),
    "formula": (
        files.xlsx_with_formula(),
        'Cell D3 holds a formula (=C3&" "&B3); copy the sheet and paste it as values, then upload it again.',
    ),
    "empty first row": (
        b";;\r\n+79031234501;;\r\n",
        "The first row is empty; it must hold the column names (Телефон, Имя, …).",
    ),
}


def imports_stored() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Import))


@pytest.mark.parametrize("name", BAD_FILES)
def test_a_bad_file_is_refused_at_upload_with_a_sentence_and_nothing_stored(app, name):
    content, sentence = BAD_FILES[name]
    with pytest.raises(UnreadableFileError) as caught:
        import_records.create_import("клиенты.csv", content, actor=None)
    assert str(caught.value) == sentence
    assert imports_stored() == 0


def test_a_quote_left_open_is_refused_saying_where(app):
    content = 'Телефон,Имя\r\n"+79031234501,Иван\r\n+79031234502,Мария\r\n'.encode()
    with pytest.raises(UnreadableFileError) as caught:
        import_records.create_import("клиенты.csv", content, actor=None)
    assert str(caught.value).startswith("The file is not a well-formed table (")
    assert "EOF inside string starting at row 1" in str(caught.value)
    assert imports_stored() == 0


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_UPLOAD_MB", 1)
    content = files.large_csv(40_000)
    assert len(content) > 1024 * 1024
    with pytest.raises(UnreadableFileError) as caught:
        import_records.create_import("big.csv", content, actor=None)
    assert str(caught.value) == "The file is larger than 1 MB; split it into smaller files."
    assert imports_stored() == 0
    # Just under the limit it is taken.
    assert import_records.create_import("big.csv", content[:1024 * 1024 - 10], actor=None).id


def test_an_upload_stores_the_file_its_hash_and_who_uploaded_it(app, make_user):
    anna = make_user("marketer", email="anna@example.com")
    content = files.cp1251_csv()
    record = import_records.create_import("клиенты-март.csv", content, actor=anna)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Import, record.id)
    assert stored.status is ImportStatus.UPLOADED
    assert (stored.file_name, stored.file_size) == ("клиенты-март.csv", len(content))
    assert stored.file_sha256 == hashlib.sha256(content).hexdigest()
    assert (stored.uploaded_by_id, stored.uploaded_by_label) == (anna.id, "anna@example.com")
    assert db.session.get(ImportFile, record.id).content == content


def test_the_preview_shows_the_first_rows_and_the_guessed_mapping(app):
    record = import_records.create_import("clients.csv", files.large_csv(25), actor=None)
    shown = import_records.preview(import_records.file_content(record))
    assert shown.headers == list(files.HEADER_RU)
    assert len(shown.rows) == import_records.PREVIEW_ROWS
    assert shown.rows[0] == [files.phone(1), "Клиент 0", "Москва", "да"]
    assert shown.detected == {"phone": "Телефон", "name": "Имя", "city": "Город", "consent": "Согласие"}
    assert (shown.sheets, shown.sheet) == ([], None)


def test_a_file_without_a_phone_column_is_refused_at_the_mapping_step(app):
    content = files.utf8_csv([("Иван", "Москва", "да")], header=("Имя", "Город", "Согласие"))
    record = import_records.create_import("clients.csv", content, actor=None)
    with pytest.raises(MappingError) as caught:
        import_records.configure(record, mapping={}, default_region="RU")
    assert str(caught.value) == (
        "No column holds the phone numbers; name it Телефон or Phone, or choose it in the mapping. "
        "The columns are: Имя, Город, Согласие."
    )
    assert record.options in (None, {})
    assert record.status is ImportStatus.UPLOADED
