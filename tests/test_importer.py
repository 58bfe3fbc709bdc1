"""The importer end to end against the database (SQLite, and PostgreSQL where COPY does the writing):
mapping, phones, consent and its proof, duplicates, updates, idempotent re-import, the suppression
list, geolocation, attributes, and all-or-nothing on a crash."""

from __future__ import annotations

import csv
import io
import os
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from audience import import_pipeline, import_records
from audience.columns import MappingError
from audience.contacts import contact_detail
from audience.import_pipeline import ImportRefusedError, run_import
from audience.models import Contact, ImportIssue
from audience.status import ContactStatus
from compliance.models import SuppressionReason
from extensions import db
from tests import audience_files as files
from tests.audience_files import (
    contact_of,
    contacts_by_phone,
    contacts_table,
    import_content,
    issues_of,
    phone,
    start_import,
)
from tests.records import suppress, suppression_rows

CHUNK = import_pipeline._CHUNK


def counts(summary) -> dict[str, int]:
    """The counters of a summary, without the per-reason breakdowns."""
    return {key: value for key, value in summary.as_dict().items() if isinstance(value, int)}


def contact_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Contact))


# --- mapping and attributes -----------------------------------------------------------------------

def test_russian_headers_map_to_contact_fields_and_the_other_columns_become_attributes(app):
    header = ("Мобильный телефон", "ФИО", "Город", "Регион", "Страна", "Согласие на рассылку", "Дата согласия",
              "Источник", "Теги", "Язык", "Тариф", "Дата рождения", "Баланс", "Комментарий")
    row = ("+79031234501", "  Иван   Петров ", "Москва", "", "Россия", "Да", "15.02.2024", "форма на сайте",
           "VIP, Москва; опт", "Русский", "gold", "01.05.1990", "1234,50", "")
    _record, summary = import_content(files.csv_bytes([row], header, delimiter=";", encoding="cp1251"))

    assert counts(summary) == {"read": 1, "created": 1, "updated": 0, "unchanged": 0, "duplicates": 0, "rejected": 0,
                                   "suppressed": 0}
    ivan = contacts_by_phone()["+79031234501"]
    assert (ivan.name, ivan.name_key, ivan.city, ivan.country) == ("Иван Петров", "иван петров", "Москва", "RU")
    assert (ivan.consent_source, ivan.consent_at) == ("форма на сайте", datetime(2024, 2, 15, tzinfo=UTC))
    assert (ivan.tags, ivan.tag_list, ivan.language) == ("|vip|москва|опт|", ["vip", "москва", "опт"], "ru")
    # Dates and decimal commas are written one way so segments can compare them; empty cells are not kept.
    assert ivan.attributes == {"Тариф": "gold", "Дата рождения": "1990-05-01", "Баланс": "1234.50"}


def test_english_headers_map_to_the_same_fields(app):
    header = ("Mobile", "Full name", "City", "Opt-in", "Consent date", "Consent source", "Tags", "Language", "lat",
              "lon", "Plan")
    row = ("+79031234501", "Ivan Petrov", "Yekaterinburg", "yes", "2024-03-01T10:15:00Z", "checkout", "vip",
           "English", "56.8389", "60.6057", "gold")
    import_content(files.utf8_csv([row], header))

    ivan = contacts_by_phone()["+79031234501"]
    assert (ivan.name, ivan.city, ivan.language, ivan.tags) == ("Ivan Petrov", "Yekaterinburg", "en", "|vip|")
    assert (ivan.consent_source, ivan.consent_at) == ("checkout", datetime(2024, 3, 1, 10, 15, tzinfo=UTC))
    assert (ivan.latitude, ivan.longitude, ivan.timezone) == (56.8389, 60.6057, "Asia/Yekaterinburg")
    assert ivan.attributes == {"Plan": "gold"}


def test_a_bitrix24_export_keeps_first_name_patronymic_and_last_name_as_fields(app):
    header = ("Имя", "Отчество", "Фамилия", "Рабочий телефон", "Мобильный телефон", "Компания", "Согласие")
    rows = [("Анна", "Сергеевна", "Петрова", "", "+79031234501", "ООО Ромашка", "да"),
            ("Олег", "", "Кузнецов", "", "+79031234502", "", "да")]
    import_content(files.csv_bytes(rows, header, delimiter=";", encoding="cp1251"))

    anna, oleg = (contacts_by_phone()[number] for number in ("+79031234501", "+79031234502"))
    assert (anna.first_name, anna.patronymic, anna.last_name) == ("Анна", "Сергеевна", "Петрова")
    # The display name is composed as Russian lists write it, and a search by surname finds its start.
    assert (anna.name, anna.name_key) == ("Петрова Анна Сергеевна", "петрова анна сергеевна")
    assert (oleg.first_name, oleg.patronymic, oleg.last_name, oleg.name) == ("Олег", None, "Кузнецов", "Кузнецов Олег")
    # No loose attributes for the parts of the name; the other columns still become attributes.
    assert anna.attributes == {"Компания": "ООО Ромашка"}
    assert oleg.attributes == {}


def test_english_name_headers_map_to_the_same_fields(app):
    header = ("Phone", "First name", "Middle name", "Last name", "Consent")
    import_content(files.utf8_csv([("+79031234501", "Anna", "Sergeevna", "Petrova", "yes")], header))
    anna = contacts_by_phone()["+79031234501"]
    assert (anna.first_name, anna.patronymic, anna.last_name, anna.name) == ("Anna", "Sergeevna", "Petrova",
                                                                            "Petrova Anna Sergeevna")
    assert anna.attributes == {}


def test_a_full_name_column_is_split_into_its_parts_and_shown_as_written(app):
    rows = [("+79031234501", "Петрова  Анна Сергеевна", "да"),  # ФИО order
            ("+79031234502", "Анна Сергеевна Петрова", "да"),  # the patronymic says which word is the surname
            ("+79031234503", "Петрова Анна", "да"),
            ("+79031234504", "Ирина Петрова", "да"),  # a surname's ending outranks a first name's
            ("+79031234505", "Анна Сергеевна", "да"),  # no surname at all
            ("+79031234506", "Anna Petrova", "да"),  # Latin: First Last
            ("+79031234507", "Анна", "да"),
            ("+79031234508", "Алиев Рашид Мамед оглы", "да"),
            ("+79031234509", "Клиент 0009", "да")]  # no person's name: no parts are made up
    import_content(files.csv_bytes(rows, ("Телефон", "ФИО", "Согласие"), delimiter=";", encoding="cp1251"))
    found = contacts_by_phone()
    parts = {number[-1]: (found[number].first_name, found[number].patronymic, found[number].last_name)
             for number in found}
    assert parts == {
        "1": ("Анна", "Сергеевна", "Петрова"),
        "2": ("Анна", "Сергеевна", "Петрова"),
        "3": ("Анна", None, "Петрова"),
        "4": ("Ирина", None, "Петрова"),
        "5": ("Анна", "Сергеевна", None),
        "6": ("Anna", None, "Petrova"),
        "7": ("Анна", None, None),
        "8": ("Рашид", "Мамед оглы", "Алиев"),
        "9": (None, None, None),
    }
    assert found["+79031234501"].name == "Петрова Анна Сергеевна"
    assert found["+79031234502"].name == "Анна Сергеевна Петрова"  # as written, not reordered
    assert all(contact.attributes == {} for contact in found.values())


def test_a_lone_first_name_column_is_the_whole_name_split_too(app):
    import_content(files.cp1251_csv([("+79031234501", "Иван Петров", "Москва", "да")]))  # Телефон;Имя;Город
    ivan = contacts_by_phone()["+79031234501"]
    assert (ivan.name, ivan.first_name, ivan.last_name, ivan.patronymic) == ("Иван Петров", "Иван", "Петров", None)


def test_a_later_import_with_the_parts_updates_them_and_an_empty_cell_erases_none(app):
    header = ("Телефон", "Имя", "Отчество", "Фамилия", "Согласие")
    import_content(files.utf8_csv([("+79031234501", "Анна", "Сергеевна", "Петрова", "да")], header))
    _record, summary = import_content(files.utf8_csv([("+79031234501", "Анна", "", "Иванова", "да")], header))
    assert summary.updated == 1
    anna = contacts_by_phone()["+79031234501"]
    assert (anna.first_name, anna.patronymic, anna.last_name) == ("Анна", "Сергеевна", "Иванова")


def test_a_map_override_takes_a_field_from_another_column_or_leaves_it_unmapped(app):
    header = ("Телефон", "Рабочий", "Город", "Согласие")
    rows = [("+79031234501", "+79031234601", "Казань", "да"), ("+79031234502", "8 903 123-46-02", "Омск", "да")]
    import_content(files.cp1251_csv(rows, header), mapping={"phone": "Рабочий", "city": ""})

    found = contacts_by_phone()
    assert sorted(found) == ["+79031234601", "+79031234602"]
    first = found["+79031234601"]
    # The columns no field uses any more are attributes, under their headers.
    assert first.city is None
    assert first.attributes == {"Телефон": "+79031234501", "Город": "Казань"}


@pytest.mark.parametrize("mapping, sentence", [
    ({"phone": "Мобильный"}, "The file has no column “Мобильный”; its columns are: Телефон, Имя, Город, Согласие."),
    ({"name": "Город"}, "The column “Город” is mapped to two fields; map it to one."),
    ({"email": "Имя"}, "There is no contact field called “email”; the fields are: phone, name, first_name, "
                       "patronymic, last_name, city, region, country, latitude, longitude, consent, consent_date, "
                       "source, tags, language."),
    ({"phone": ""}, "No column holds the phone numbers; name it Телефон or Phone, or choose it in the mapping. "
                    "The columns are: Телефон, Имя, Город, Согласие."),
])
def test_a_mapping_that_cannot_work_is_refused_with_a_sentence(app, mapping, sentence):
    with pytest.raises(MappingError) as caught:
        start_import(files.cp1251_csv(), mapping=mapping)
    assert str(caught.value) == sentence


@pytest.mark.parametrize("kind", [*files.CSV_KINDS, "xlsx"])
def test_every_file_format_imports_the_same_contacts(app, kind):
    content = files.xlsx_file() if kind == "xlsx" else files.CSV_KINDS[kind]()
    _record, summary = import_content(content, "клиенты.xlsx" if kind == "xlsx" else "клиенты.csv")
    assert (summary.read, summary.created, summary.rejected) == (3, 3, 0)
    found = contacts_by_phone()
    assert sorted((contact.phone, contact.name, contact.city) for contact in found.values()) == [
        (number, name, city) for number, name, city, _consent in files.PEOPLE
    ]


def test_the_chosen_sheet_of_a_workbook_is_the_one_imported(app):
    record, _summary = import_content(files.xlsx_two_sheets(), "crm.xlsx", sheet="Март")
    assert record.options["sheet"] == "Март"
    found = contacts_by_phone()
    assert sorted(found) == ["+79031234592", "+79031234593"]  # nothing from the archive sheet
    assert found["+79031234592"].name == "Anna"
    assert found["+79031234592"].attributes == {"Tariff": "gold"}


def test_numbers_a_workbook_stores_as_numbers_are_imported(app):
    rows = [
        (79031234501, "Иван", "Москва", "да"),
        (79031234502.0, "Мария", "Казань", 1),
        (9031234503, "Пётр", "", "да"),
    ]
    _record, summary = import_content(files.xlsx_file(rows), "клиенты.xlsx")
    assert (summary.created, summary.rejected) == (3, 0)
    assert sorted(contacts_by_phone()) == ["+79031234501", "+79031234502", "+79031234503"]


# --- phones ---------------------------------------------------------------------------------------

def test_excel_artefacts_are_repaired_and_wrong_numbers_rejected_with_the_reason(app):
    record, summary = import_content(files.excel_artefacts_csv())

    expected_numbers = sorted(outcome for _cell, outcome in files.PHONE_CELLS if outcome.startswith("+"))
    assert sorted(contacts_by_phone()) == expected_numbers
    rejected = [(row, "rejected", outcome) for row, (_cell, outcome) in enumerate(files.PHONE_CELLS, 2)
                if not outcome.startswith("+")]
    extension_row = next(row for row, (cell, _o) in enumerate(files.PHONE_CELLS, 2) if "доб." in cell)
    assert issues_of(record) == sorted([*rejected, (extension_row, "warning", "extension_dropped")])
    assert summary.read == len(files.PHONE_CELLS)
    assert (summary.created, summary.rejected) == (len(expected_numbers), len(rejected))
    assert summary.rejected_by_reason == {outcome: 1 for _row, _kind, outcome in rejected}
    assert summary.warnings_by_reason == {"extension_dropped": 1}
    assert import_records.reason_text("phone_excel_damaged") == (
        "Excel damaged this number (it shows it in scientific notation and lost digits); export the column as text."
    )


def test_numbers_without_a_country_code_are_read_as_the_default_regions(app):
    content = files.utf8_csv([("044 123 4567", "Олена", "", "да"), ("+79031234501", "Иван", "", "да")])
    import_content(content, default_region="UA")
    found = contacts_by_phone()
    assert sorted(found) == ["+380441234567", "+79031234501"]
    assert (found["+380441234567"].country, found["+79031234501"].country) == ("UA", "RU")

    # Read as Russian, the same digits are no valid number.
    record, _summary = import_content(content)
    assert issues_of(record) == [(2, "rejected", "phone_invalid")]


def test_the_report_keeps_each_rejected_row_with_its_cells_and_neutralises_formulas(app):
    rows = [("+79031234501", "Иван", "Москва", "да"),
            ("7.90312E+10", "=HYPERLINK(\"http://evil.example\",\"click\")", "Казань", "да"),
            ("+79031234503", "@SUM(A1)", "Омск", "нет")]
    record, _summary = import_content(files.cp1251_csv(rows))
    stored = import_records.issues(record)
    assert [(issue.row, issue.reason) for issue in stored] == [(3, "phone_excel_damaged"), (4, "no_opt_in")]
    assert stored[0].raw == {"Телефон": "7.90312E+10", "Имя": "=HYPERLINK(\"http://evil.example\",\"click\")",
                             "Город": "Казань", "Согласие": "да"}
    report = list(csv.reader(io.StringIO("".join(import_records.report_lines(record))), delimiter=";"))  # as uploaded
    assert report == [
        ["Row", "Outcome", "Reason", "Detail", "Телефон", "Имя", "Город", "Согласие"],
        ["3", "rejected", import_records.reason_text("phone_excel_damaged"), "", "7.90312E+10",
         "'=HYPERLINK(\"http://evil.example\",\"click\")", "Казань", "да"],
        # Cells are shown as uploaded, but none can run as a formula: not even a "+7…".
        ["4", "rejected", "No opt-in: the consent cell is empty or says no.", "", "'+79031234503", "'@SUM(A1)", "Омск",
         "нет"],
    ]


# --- consent --------------------------------------------------------------------------------------

YES = ("да", "Да", "ДА", "yes", "Y", "1", "true", "TRUE", "+", "✓", "согласен", "Подписан", "opt in", "да.")
NO = ("нет", "Нет", "no", "N", "0", "false", "-", "отказ", "отписан", "")


def test_yes_like_consent_imports_a_row_and_no_like_empty_or_unclear_rejects_it(app):
    answers = [*YES, *NO, "может быть", "позже"]
    rows = [(phone(index), f"Клиент {index}", "", answer) for index, answer in enumerate(answers, 1)]
    record, summary = import_content(files.utf8_bom_csv(rows))

    assert sorted(contacts_by_phone()) == [phone(index) for index in range(1, len(YES) + 1)]
    first_no = len(YES) + 2
    expected = [(row, "rejected", "no_opt_in") for row in range(first_no, first_no + len(NO))]
    expected += [
        (first_no + len(NO), "rejected", "consent_unclear"),
        (first_no + len(NO) + 1, "rejected", "consent_unclear"),
    ]
    assert issues_of(record) == expected
    assert summary.rejected_by_reason == {"no_opt_in": len(NO), "consent_unclear": 2}


def test_a_file_without_a_consent_column_is_refused_unless_someone_attests_the_opt_in(app):
    content = files.csv_bytes([("+79031234501", "Иван")], ("Телефон", "Имя"))
    # The mapping step refuses it …
    with pytest.raises(MappingError) as caught:
        start_import(content)
    assert "The file has no consent column; confirm that everyone in it opted in and say how" in str(caught.value)
    db.session.rollback()
    # … and so does the importer itself, whatever options the record was given.
    record = import_records.create_import("клиенты.csv", content, actor=None)
    record.options = {"mapping": {}, "default_region": "RU", "consent_source": "   "}
    with pytest.raises(ImportRefusedError) as refused:
        run_import(record, content)
    assert str(refused.value) == (
        "The file has no consent column. Add one (Согласие: да/нет), or confirm that everyone in the file opted in "
        "and say how (for example “website form, checkbox text v3”)."
    )
    assert contact_count() == 0
    assert db.session.scalar(select(func.count()).select_from(ImportIssue)) == 0


def test_an_attestation_is_every_contacts_consent_source(app):
    content = files.csv_bytes([("+79031234501", "Иван"), ("+79031234502", "Мария")], ("Телефон", "Имя"))
    _record, summary = import_content(content, consent_source="  website form, checkbox text v3 ")
    assert summary.created == 2
    assert {contact.consent_source for contact in contacts_by_phone().values()} == {"website form, checkbox text v3"}


def test_a_consent_column_outranks_an_attestation(app):
    rows = [("+79031234501", "Иван", "", "да"), ("+79031234502", "Мария", "", "нет")]
    record, _summary = import_content(files.cp1251_csv(rows), consent_source="website form")
    assert sorted(contacts_by_phone()) == ["+79031234501"]
    assert issues_of(record) == [(3, "rejected", "no_opt_in")]


def test_the_consent_proof_of_each_contact_names_source_time_uploader_file_and_row(app, make_user):
    anna = make_user("marketer", email="anna@example.com")
    header = ("Телефон", "Имя", "Согласие", "Дата согласия", "Источник")
    rows = [("+79031234501", "Иван", "да", "15.02.2024 10:30", "касса №3"),
            ("+79031234502", "Мария", "нет", "", ""),
            ("+79031234503", "Пётр", "да", "", "")]
    content = files.csv_bytes(rows, header, delimiter=";", encoding="cp1251")
    record, _summary = import_content(content, "клиенты-март.csv", actor=anna)

    found = contacts_by_phone()
    ivan, petr = contact_detail(found["+79031234501"]).consent, contact_detail(found["+79031234503"]).consent
    assert (ivan.source, ivan.consented_at, ivan.row) == ("касса №3", datetime(2024, 2, 15, 10, 30, tzinfo=UTC), 2)
    assert (ivan.import_id, ivan.file_name, ivan.uploaded_by) == (record.id, "клиенты-март.csv", "anna@example.com")
    assert ivan.file_sha256 == import_pipeline.file_sha256(content)
    # Without a date or a source of its own, a row's proof is the upload: its time and file.
    assert (petr.source, petr.consented_at, petr.row) == ("Import of клиенты-март.csv", record.uploaded_at, 4)
    assert petr.uploaded_at == record.uploaded_at
    assert record.uploaded_by_id == anna.id


def test_a_consent_date_that_is_not_a_past_date_gives_a_warning_and_the_upload_time(app):
    header = ("Телефон", "Согласие", "Дата согласия")
    rows = [
        ("+79031234501", "да", "31.02.2024"),
        ("+79031234502", "да", "01.01.2999"),
        ("+79031234503", "да", "01.01.2024"),
    ]
    record, summary = import_content(files.utf8_csv(rows, header))
    found = contacts_by_phone()
    assert [found[number].consent_at for number in sorted(found)] == [
        record.uploaded_at, record.uploaded_at, datetime(2024, 1, 1, tzinfo=UTC)]
    assert issues_of(record) == [(2, "warning", "bad_consent_date"), (3, "warning", "bad_consent_date")]
    assert (summary.created, summary.rejected, summary.warnings_by_reason) == (3, 0, {"bad_consent_date": 2})


# --- duplicates, updates, re-import ---------------------------------------------------------------

def test_duplicates_in_the_file_are_merged_and_counted(app):
    header = ("Телефон", "Имя", "Город", "Согласие", "Теги", "Тариф", "Карта")
    rows = [("+7 903 123-45-01", "Иван", "", "да", "vip", "gold", ""),
            ("+79031234502", "Мария", "Казань", "да", "", "", ""),
            ("8 (903) 123-45-01", "", "Москва", "да", "опт", "", "1234"),
            ("'79031234501.0", "Иван Петров", "", "yes", "vip", "silver", "")]
    record, summary = import_content(files.cp1251_csv(rows, header))

    assert counts(summary) == {"read": 4, "created": 2, "updated": 0, "unchanged": 0, "duplicates": 2, "rejected": 0,
                                   "suppressed": 0}
    ivan = contacts_by_phone()["+79031234501"]
    # A later row fills in and overrides; an empty cell erases nothing; tags and attributes add up.
    assert (ivan.name, ivan.city, ivan.tags) == ("Иван Петров", "Москва", "|vip|опт|")
    assert ivan.attributes == {"Тариф": "silver", "Карта": "1234"}
    # The consent proof names the number's last row, whose values stand; the report names the rows merged into it.
    assert (ivan.consent_import_id, ivan.consent_row) == (record.id, 5)
    assert files.merges_of(record) == [(2, 5, "4501"), (4, 5, "4501")]
    assert contact_count() == 2


def test_the_consent_proof_of_a_merged_number_is_its_last_row_whole(app):
    header = ("Телефон", "Имя", "Согласие", "Дата согласия", "Источник")
    rows = [("+79031234501", "Иван", "да", "01.02.2023", "форма на сайте"),
            ("+79031234502", "Мария", "да", "", ""),
            ("+79031234501", "Иван Петров", "да", "15.03.2024", "акция в магазине"),
            ("+79031234502", "Мария Иванова", "да", "", "звонок")]
    record, summary = import_content(files.cp1251_csv(rows, header))

    found = contacts_by_phone()
    ivan, maria = found["+79031234501"], found["+79031234502"]
    assert (ivan.name, ivan.consent_row, ivan.consent_source, ivan.consent_at) == (
        "Иван Петров", 4, "акция в магазине", datetime(2024, 3, 15, tzinfo=UTC))
    # Row 5 gives no date: its proof is dated by the upload, not by a date row 3 never gave either.
    assert (maria.name, maria.consent_row, maria.consent_source, maria.consent_at) == (
        "Мария Иванова", 5, "звонок", record.uploaded_at)
    assert files.merges_of(record) == [(2, 4, "4501"), (3, 5, "4502")]
    assert summary.duplicates == 2


def test_a_number_repeated_in_later_chunks_is_a_duplicate_not_an_update(app):
    rows = CHUNK + 500
    record, summary = import_content(files.large_csv(rows, duplicate_every=5000))  # repeats at rows 5002, 10002
    assert counts(summary) == {"read": rows, "created": rows - 2, "updated": 0, "unchanged": 0, "duplicates": 2,
                                   "rejected": 0, "suppressed": 0}
    assert contact_count() == rows - 2
    # Rows 2 and 5002 (chunk one) and 10002 (chunk two): the proof and the list of merges agree across chunks.
    assert (contact_of(phone(1)).consent_row, contact_of(phone(1)).name) == (10_002, "Клиент 10000")
    assert files.merges_of(record) == [(2, 10_002, "0001"), (5002, 10_002, "0001")]


def test_merged_rows_are_listed_right_however_the_chunks_fall(app, monkeypatch):
    # Chunks of 3 rows: rows 2-4, 5-7, 8-10, 11-12. Number A is on rows 2, 3 (one chunk) and 9 (a later
    # one); B on rows 4 and 5 (adjacent chunks); C on rows 6, 11 and 12; D once; E on row 7 only
    # with a rejected repeat on row 10, which merges nothing.
    monkeypatch.setattr(import_pipeline, "_CHUNK", 3)
    a, b, c, d, e = (f"+7903123450{digit}" for digit in range(1, 6))
    rows = [(a, "A1", "да"), (a, "A2", "да"), (b, "B1", "да"), (b, "B2", "да"), (c, "C1", "да"), (e, "E1", "да"),
            (d, "D1", "да"), (a, "A3", "да"), (e, "E2", "нет"), (c, "C2", "да"), (c, "C3", "да")]
    record, summary = import_content(files.cp1251_csv(rows, ("Телефон", "Имя", "Согласие")))

    assert files.merges_of(record) == [(2, 9, "4501"), (3, 9, "4501"), (4, 5, "4502"), (6, 12, "4503"),
                                       (11, 12, "4503")]
    found = contacts_by_phone()
    assert [(found[number].name, found[number].consent_row) for number in (a, b, c, d, e)] == [
        ("A3", 9), ("B2", 5), ("C3", 12), ("D1", 8), ("E1", 7)]
    assert (summary.created, summary.duplicates, summary.rejected) == (5, 5, 1)

    # Imported again the contacts exist: the first import's proof stands, and the merges are listed the same.
    again, repeated = import_content(files.cp1251_csv(rows, ("Телефон", "Имя", "Согласие")))
    assert files.merges_of(again) == files.merges_of(record)
    assert {number: contact.consent_import_id for number, contact in contacts_by_phone().items()} == dict.fromkeys(
        (a, b, c, d, e), record.id)
    assert (repeated.unchanged, repeated.duplicates) == (5, 5)


def test_a_later_chunk_repeating_an_existing_and_a_new_number_updates_both_keeping_the_earlier_proof(app, monkeypatch):
    existing, new = "+79031234501", "+79031234502"
    earlier, _summary = import_content(files.cp1251_csv([(existing, "Старое имя", "", "да")]))
    monkeypatch.setattr(import_pipeline, "_CHUNK", 2)  # rows 2-3, then rows 4-5
    rows = [(existing, "A1", "", "да"), (new, "B1", "", "да"), (existing, "A2", "", "да"), (new, "B2", "", "да")]
    record, summary = import_content(files.cp1251_csv(rows))

    found = contacts_by_phone()
    assert (found[existing].name, found[existing].consent_import_id, found[existing].consent_row) == (
        "A2",
        earlier.id,
        2,
    )
    assert (found[new].name, found[new].consent_import_id, found[new].consent_row) == ("B2", record.id, 5)
    assert files.merges_of(record) == [(2, 4, "4501"), (3, 5, "4502")]
    assert (summary.created, summary.updated, summary.duplicates) == (1, 1, 2)


@pytest.mark.slow
def test_a_big_file_is_parsed_by_worker_processes_with_the_same_outcome(app, monkeypatch):
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one CPU: the importer parses in this process")
    started = []

    class CountedPool(ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(kwargs["max_workers"])

    monkeypatch.setattr(import_pipeline, "ProcessPoolExecutor", CountedPool)
    rows = import_pipeline.PARALLEL_FROM
    suppress(phone(7))
    record, summary = import_content(files.large_csv(rows, duplicate_every=4000))  # repeats in every chunk

    assert started == [2]
    assert counts(summary) == {"read": rows, "created": rows - 4, "updated": 0, "unchanged": 0, "duplicates": 4,
                                   "rejected": 0, "suppressed": 1}
    assert contact_count() == rows - 4
    last = contact_of(phone(rows))
    assert (last.name, last.city, last.consent_row) == (f"Клиент {rows - 1}", "Москва", rows + 1)
    assert files.merges_of(record) == [(row, 16_002, "0001") for row in (2, 4002, 8002, 12_002)]
    assert contact_of(phone(1)).consent_row == 16_002


def test_tags_beyond_what_a_contact_holds_are_dropped_not_failing_the_import(app):
    many = ", ".join(f"тег номер {index}" for index in range(150))
    _record, summary = import_content(
        files.utf8_csv([("+79031234501", "Иван", many, "да")], ("Телефон", "Имя", "Теги", "Согласие"))
    )
    tags = contact_of("+79031234501").tag_list
    assert summary.created == 1
    assert tags == [f"тег номер {index}" for index in range(len(tags))]
    assert 50 < len(tags) < 150
    assert len("|" + "|".join(tags) + "|") <= Contact.tags.type.length


def test_existing_contacts_are_updated_never_duplicated(app):
    header = ("Телефон", "Имя", "Город", "Согласие", "Теги", "Тариф")
    first, _summary = import_content(files.cp1251_csv([
        ("+79031234501", "Иван", "Москва", "да", "vip", "gold"),
        ("+79031234502", "Мария", "Казань", "да", "", ""),
        ("+79031234503", "Пётр", "Омск", "да", "", ""),
    ], header), "январь.csv")
    before = {number: (contact.id, contact.updated_at) for number, contact in contacts_by_phone().items()}

    second, summary = import_content(files.utf8_csv([
        ("8 903 123-45-01", "Иван Петров", "", "да", "опт", ""),  # new name and tag; the empty city erases nothing
        ("+79031234502", "Мария", "Казань", "да", "", ""),  # the same again
        ("+79031234504", "Анна", "Тверь", "да", "", ""),
    ], header), "февраль.csv")

    assert counts(summary) == {"read": 3, "created": 1, "updated": 1, "unchanged": 1, "duplicates": 0, "rejected": 0,
                                   "suppressed": 0}
    after = contacts_by_phone()
    assert len(after) == 4
    ivan = after["+79031234501"]
    assert ivan.id == before["+79031234501"][0]
    assert (ivan.name, ivan.city, ivan.tags, ivan.attributes) == (
        "Иван Петров",
        "Москва",
        "|vip|опт|",
        {"Тариф": "gold"},
    )
    assert ivan.updated_at > before["+79031234501"][1]
    # The consent proof is the first one: the person opted in then.
    assert (ivan.consent_import_id, ivan.consent_row, ivan.consent_source) == (first.id, 2, "Import of январь.csv")
    assert (after["+79031234502"].id, after["+79031234502"].updated_at) == before["+79031234502"]
    assert after["+79031234504"].consent_import_id == second.id


def test_reimporting_the_same_file_changes_nothing(app):
    content = files.excel_artefacts_csv(
        [
            ("+79031234501", "Иван", "Москва", "да"),
            ("8 903 123-45-01", "", "Шмуравль", "да"),
            ("+79031234502", "Мария", "", "нет"),
        ]
    )
    _first, summary = import_content(content)
    table = contacts_table()

    _again, repeated = import_content(content)

    assert contacts_table() == table
    assert repeated.created == repeated.updated == 0
    assert repeated.unchanged == summary.created == len(table)
    assert (repeated.read, repeated.duplicates, repeated.rejected) == (
        summary.read,
        summary.duplicates,
        summary.rejected,
    )
    assert repeated.rejected_by_reason == summary.rejected_by_reason
    assert summary.duplicates == 1


def test_reimporting_a_file_whose_number_repeats_across_chunks_with_other_values_changes_nothing(app):
    # Row 2 and the repeats at rows 5002 and 10002 share a number under three names: the first
    # import ends with the last name, and the second must not count it as updated on the way.
    content = files.large_csv(CHUNK + 500, duplicate_every=5000)
    _first, summary = import_content(content)
    table = contacts_table()

    _again, repeated = import_content(content)

    assert contacts_table() == table  # updated_at included
    assert (repeated.created, repeated.updated, repeated.unchanged) == (0, 0, summary.created)
    assert repeated.duplicates == summary.duplicates == 2


def test_a_number_unchanged_in_one_chunk_and_changed_in_a_later_one_is_counted_updated(app):
    import_content(files.cp1251_csv([(phone(1), "Клиент 0", "Москва", "да")]))
    before = contact_of(phone(1)).updated_at
    # The file's first row says the same; its repeat in the second chunk brings a new name.
    content = files.large_csv(CHUNK + 500, duplicate_every=CHUNK + 1)

    _record, summary = import_content(content)

    assert (summary.updated, summary.unchanged, summary.duplicates) == (1, 0, 1)
    assert contact_of(phone(1)).name == f"Клиент {CHUNK + 1}" and contact_of(phone(1)).updated_at > before


# --- the suppression list -------------------------------------------------------------------------

def test_suppressed_numbers_stay_suppressed_and_are_counted(app):
    suppress("+79031234501", SuppressionReason.OPT_OUT)
    suppress("+79031234502", SuppressionReason.BLOCK)
    suppress("+79031234503", SuppressionReason.SPAM_REPORT)
    entries = [(entry.id, entry.reason, entry.lifted_at) for entry in suppression_rows()]
    rows = [("+79031234501", "Иван", "", "да"), ("+79031234502", "Мария", "", "да"),
            ("+79031234503", "Пётр", "", "да"), ("8 903 123-45-01", "Иван", "", "да"),
            ("+79031234504", "Анна", "", "да")]
    content = files.cp1251_csv(rows)

    _record, summary = import_content(content)

    assert (summary.created, summary.duplicates, summary.suppressed) == (4, 1, 3)
    found = contacts_by_phone()
    assert [contact_detail(found[number]).status for number in sorted(found)] == [
        ContactStatus.OPTED_OUT, ContactStatus.BLOCKED, ContactStatus.BLOCKED, ContactStatus.SUBSCRIBED]
    # Nothing was lifted or added: "да" in a file is no opt-in from the person.
    assert [(entry.id, entry.reason, entry.lifted_at) for entry in suppression_rows()] == entries

    _again, repeated = import_content(content)
    assert (repeated.unchanged, repeated.suppressed) == (4, 3)
    assert contact_detail(contacts_by_phone()["+79031234501"]).status is ContactStatus.OPTED_OUT


# --- geolocation ----------------------------------------------------------------------------------

def geo(contact: Contact) -> tuple:
    return (contact.country, contact.region, contact.city, contact.latitude, contact.longitude, contact.timezone)


def test_moscow_with_a_russian_number_is_moscow_russia(app):
    rows = [("+79031234501", "Иван", "Москва", "да"), ("+79031234502", "Мария", "г. Москва", "да"),
            ("+79031234503", "Пётр", "МОСКВА", "да")]
    record, _summary = import_content(files.cp1251_csv(rows))
    found = contacts_by_phone()
    for contact in found.values():
        assert contact.country == "RU"
        assert contact.region == "Москва"
        assert (round(contact.latitude, 2), round(contact.longitude, 2)) == (55.75, 37.62)
        assert contact.timezone == "Europe/Moscow"
        assert (contact.place_id, contact.city_key) == (524901, "москва")
    assert found["+79031234502"].city == "г. Москва"  # kept as written
    assert issues_of(record) == []


def test_a_city_name_is_looked_up_in_the_country_of_the_number(app):
    rows = [("+79031234501", "Ivan", "Moscow", "yes"), ("+12088827000", "John", "Moscow", "yes")]
    import_content(files.utf8_csv(rows, files.HEADER_EN))
    found = contacts_by_phone()
    assert found["+79031234501"].timezone == "Europe/Moscow"
    idaho = found["+12088827000"]
    assert (idaho.country, idaho.timezone, round(idaho.latitude), round(idaho.longitude)) == (
        "US", "America/Los_Angeles", 47, -117)


def test_an_unknown_city_is_kept_as_written_with_a_warning(app):
    rows = [("+79031234501", "Иван", "Шмуравль-на-Дону", "да"), ("+79031234502", "Мария", "Казань", "да")]
    record, summary = import_content(files.cp1251_csv(rows))
    assert (summary.created, summary.rejected) == (2, 0)
    unknown = contacts_by_phone()["+79031234501"]
    assert geo(unknown) == ("RU", None, "Шмуравль-на-Дону", None, None, None)  # a Russian mobile spans 11 zones
    assert unknown.city_key == "шмуравль на дону"
    assert issues_of(record) == [(2, "warning", "unknown_city")]
    assert summary.warnings_by_reason == {"unknown_city": 1}
    assert import_records.issues(record)[0].detail == "Шмуравль-на-Дону"


def test_coordinates_in_the_file_place_the_contact_and_bad_ones_are_ignored_with_a_warning(app):
    header = ("Телефон", "Город", "Согласие", "Широта", "Долгота")
    rows = [("+79031234501", "", "да", "56,8389", "60,6057"),
            ("+79031234502", "Москва", "да", "55.0084", "82.9357"),  # the coordinates outrank the city
            ("+79031234503", "Казань", "да", "95", "49.1"),
            ("+79031234504", "", "да", "широта", "")]
    record, summary = import_content(files.cp1251_csv(rows, header))
    found = contacts_by_phone()
    assert geo(found["+79031234501"])[3:] == (56.8389, 60.6057, "Asia/Yekaterinburg")
    assert geo(found["+79031234502"])[3:] == (55.0084, 82.9357, "Asia/Novosibirsk")
    kazan = found["+79031234503"]
    assert (round(kazan.latitude, 1), round(kazan.longitude, 1), kazan.timezone) == (55.8, 49.1, "Europe/Moscow")
    assert geo(found["+79031234504"])[3:] == (None, None, None)
    assert issues_of(record) == [(4, "warning", "bad_coordinates"), (5, "warning", "bad_coordinates")]
    assert summary.rejected == 0


def test_a_landline_gives_its_region_and_time_zone(app):
    rows = [("+7 (343) 212-34-56", "Уралмаш", "", "да"), ("+7 812 312-34-56", "Эрмитаж", "", "да"),
            ("+79031234501", "Иван", "", "да")]
    import_content(files.cp1251_csv(rows))
    found = contacts_by_phone()
    assert geo(found["+73432123456"]) == ("RU", "Свердловская область", None, None, None, "Asia/Yekaterinburg")
    assert geo(found["+78123123456"]) == ("RU", "Санкт-Петербург", None, None, None, "Europe/Moscow")
    assert geo(found["+79031234501"]) == ("RU", None, None, None, None, None)


def test_a_region_column_is_written_one_way_and_places_a_mobile_number(app):
    header = ("Телефон", "Регион", "Согласие")
    rows = [("+79031234501", "Свердл. обл.", "да"), ("+79031234502", "Заречный край", "да")]
    import_content(files.cp1251_csv(rows, header))
    found = contacts_by_phone()
    assert (found["+79031234501"].region, found["+79031234501"].timezone) == (
        "Свердловская область",
        "Asia/Yekaterinburg",
    )
    assert (found["+79031234502"].region, found["+79031234502"].timezone) == ("Заречный край", None)


# --- all or nothing -------------------------------------------------------------------------------

def test_a_crash_after_the_first_chunk_leaves_no_contact_behind(app, monkeypatch):
    content = files.large_csv(CHUNK + 10)
    record = start_import(content)
    db.session.commit()  # the upload is committed; the import runs in a transaction of its own
    saved = import_pipeline.upsert_contacts
    written_before_the_crash = []

    def crash():
        written_before_the_crash.append(contact_count())
        raise RuntimeError("the worker lost its database connection")

    monkeypatch.setattr(import_pipeline, "upsert_contacts", files.upsert_faulting_after_the_first_chunk(crash))
    with pytest.raises(RuntimeError, match="lost its database connection"):
        run_import(record, content)
    db.session.rollback()

    assert written_before_the_crash == [CHUNK]  # the first chunk had been written …
    assert contact_count() == 0  # … and is gone with the transaction
    assert db.session.scalar(select(func.count()).select_from(ImportIssue)) == 0

    # Once the cause is gone, the same import runs through.
    monkeypatch.setattr(import_pipeline, "upsert_contacts", saved)
    summary = run_import(record, content)
    db.session.commit()
    assert (summary.created, contact_count()) == (CHUNK + 10, CHUNK + 10)


def test_progress_is_reported_up_to_the_last_row(app):
    content = files.large_csv(25)
    record = start_import(content)
    seen = []
    run_import(record, content, progress=lambda stage, done, total: seen.append((stage, done, total)))
    assert seen == [("checking", 0, 25), ("checking", 25, 25), ("report", 0, 0)]
