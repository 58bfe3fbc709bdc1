"""Contacts: search, filters, status from the suppression list, keyset pages, consent proof, the CSV
export and `flask audience export`, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime

import pytest

from audience import cells, contacts
from audience.contacts import EXPORT_HEADER
from audience.models import Contact, Import, ImportStatus
from audience.status import ContactStatus
from compliance import suppression
from compliance.models import SuppressionReason
from extensions import db
from tests.records import suppress

CONSENTED = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)


# --- helpers (the web tests use them too) ---------------------------------------------------------

def add_contact(phone: str, name: str | None = None, **fields) -> Contact:
    """Insert a contact as the importer would, and commit."""
    contact = Contact(
        phone=phone,
        name=name,
        name_key=cells.name_key(name),
        consent_source=fields.pop("consent_source", "website form"),
        consent_at=fields.pop("consent_at", CONSENTED),
        tags=fields.pop("tags", ""),
        attributes=fields.pop("attributes", {}),
        **fields,
    )
    db.session.add(contact)
    db.session.commit()
    return contact


def add_import(file_name: str = "клиенты-март.csv", sha256: str = "ab" * 32, by: str = "anna@example.com") -> Import:
    upload = Import(status=ImportStatus.SUCCEEDED, file_name=file_name, file_sha256=sha256, file_size=1234,
                    uploaded_by_label=by, uploaded_at=datetime(2024, 3, 2, 8, 0, tzinfo=UTC))
    db.session.add(upload)
    db.session.commit()
    return upload


def phones(page) -> list[str]:
    return [row.contact.phone for row in page.rows]


def read_csv(text: str) -> tuple[list[str], list[dict[str, str]]]:
    header, *lines = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    return header, [dict(zip(header, line, strict=True)) for line in lines]


@pytest.fixture
def people(app):
    """A small audience: numbers of three countries, Cyrillic and Latin names, tags."""
    return {
        "ivan": add_contact("+79031112233", "Иван Петров", country="RU", city="Москва", tags="|vip|moscow|"),
        "ivanova": add_contact("+79031112234", "ИВАНОВА Мария", country="RU", city="Москва", tags="|moscow|"),
        "petr": add_contact("+79161234567", "Пётр Иванов", country="RU", city="Казань", tags="|vipper|"),
        "john": add_contact("+442079460958", "John Smith", country="GB", city="London", tags="|vip|"),
        "hans": add_contact("+4930123456", "Hans Müller", country="DE", city="Berlin"),
    }


# --- search ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "typed", ["+79031112233", "+7 903 111-22-33", "8 (903) 111-22-33", "89031112233", "79031112233", "(903) 111 22 33"]
)
def test_a_full_number_in_any_usual_spelling_finds_exactly_that_contact(people, typed):
    assert phones(contacts.browse(typed)) == ["+79031112233"]


@pytest.mark.parametrize(("typed", "found"), [
    ("+7 903", ["+79031112234", "+79031112233"]),
    ("7903", ["+79031112234", "+79031112233"]),
    ("8 903", ["+79031112234", "+79031112233"]),  # the Russian trunk prefix, read as +7
    ("7903111", ["+79031112234", "+79031112233"]),  # a possible local number, but meant as a beginning
    ("+7", ["+79161234567", "+79031112234", "+79031112233"]),
    ("+44 20", ["+442079460958"]),
    ("+49", ["+4930123456"]),
    ("+7 999", []),
    ("+9", []),
])
def test_some_digits_find_the_numbers_beginning_with_them(people, typed, found):
    assert phones(contacts.browse(typed)) == found


def test_numbers_typed_without_a_country_code_are_read_as_the_default_regions(people):
    assert phones(contacts.browse("030 123456", region="DE")) == ["+4930123456"]
    assert phones(contacts.browse("030 12", region="DE")) == ["+4930123456"]
    assert phones(contacts.browse("030 12", region="RU")) == []


@pytest.mark.parametrize(("typed", "found"), [
    ("иван", ["Иван Петров", "ИВАНОВА Мария", "Пётр Иванов"]),  # every word that begins so, surnames too
    ("ИВАН", ["Иван Петров", "ИВАНОВА Мария", "Пётр Иванов"]),
    ("Иван  петров", ["Иван Петров"]),
    ("иванова", ["ИВАНОВА Мария"]),
    ("пётр", ["Иван Петров", "Пётр Иванов"]),  # "ё" and "е" are one letter here, and "Петров" begins so
    ("петр", ["Иван Петров", "Пётр Иванов"]),
    ("петров", ["Иван Петров"]),  # a surname: not the beginning of the name, yet found
    ("JOHN s", ["John Smith"]),
    ("hans mü", ["Hans Müller"]),
    ("ван", []),  # inside a word is not the beginning of one
    ("_ван", []),  # LIKE wildcards typed are matched as themselves
    ("%", []),
])
def test_a_name_is_found_by_the_beginnings_of_its_words_in_any_letter_case(people, typed, found):
    assert sorted(row.contact.name for row in contacts.browse(typed).rows) == sorted(found)


def test_an_attributes_words_find_the_contact_and_an_edit_is_found_at_once(people):
    from audience import contact_edits

    contact_edits.edit_contact(people["john"], {"attributes": {"Карта": "Золотая", "Менеджер": "Семёнова"}})
    db.session.commit()
    assert [row.contact.name for row in contacts.browse("золотая").rows] == ["John Smith"]
    assert [row.contact.name for row in contacts.browse("семенова").rows] == ["John Smith"]
    contact_edits.edit_contact(people["john"], {"name": "John Petrov", "attributes": {}})
    db.session.commit()
    assert contacts.browse("золотая").rows == [] and contacts.browse("smith").rows == []
    assert [row.contact.name for row in contacts.browse("petrov").rows] == ["John Petrov"]
    db.session.delete(db.session.get(Contact, people["hans"].id))
    db.session.commit()
    assert contacts.browse("hans").rows == []


def test_the_database_sorts_by_code_point_so_prefixes_are_index_ranges(people):
    assert contacts._sorts_by_code_point()


@pytest.mark.parametrize("typed", ["+7 903", "8 903", "иван", "JOHN", "hans mü", "_ван"])
def test_under_a_linguistic_collation_the_search_finds_the_same(people, monkeypatch, typed):
    ranged = phones(contacts.browse(typed))
    monkeypatch.setattr(contacts, "_sorts_by_code_point", lambda: False)
    assert phones(contacts.browse(typed)) == ranged


# --- filters and status ---------------------------------------------------------------------------

def test_filters_by_country_tag_and_query_combine(people):
    assert phones(contacts.browse(country="gb")) == ["+442079460958"]
    assert phones(contacts.browse(tag="VIP")) == ["+442079460958", "+79031112233"]  # not "vipper"
    assert phones(contacts.browse(tag="vip", country="RU")) == ["+79031112233"]
    assert sorted(phones(contacts.browse("иван", tag="moscow"))) == ["+79031112233", "+79031112234"]
    assert phones(contacts.browse(tag="vip|moscow")) == []
    assert phones(contacts.browse(tag="vi%")) == []


def test_the_status_comes_from_the_suppression_list(people):
    suppress("+79031112233", SuppressionReason.OPT_OUT)
    suppress("+79031112234", SuppressionReason.OPT_OUT)
    suppress("+79031112234", SuppressionReason.BLOCK)  # a block outranks an opt-out
    suppress("+442079460958", SuppressionReason.SPAM_REPORT)
    suppress("+4930123456", SuppressionReason.OPT_OUT)
    suppression.lift_opt_out("+4930123456", evidence="wamid.START")
    db.session.commit()

    statuses = {row.contact.phone: row.status for row in contacts.browse().rows}
    assert statuses == {
        "+79031112233": ContactStatus.OPTED_OUT, "+79031112234": ContactStatus.BLOCKED,
        "+79161234567": ContactStatus.SUBSCRIBED, "+442079460958": ContactStatus.BLOCKED,
        "+4930123456": ContactStatus.SUBSCRIBED,
    }
    assert phones(contacts.browse(status=ContactStatus.OPTED_OUT)) == ["+79031112233"]
    assert phones(contacts.browse(status=ContactStatus.BLOCKED)) == ["+442079460958", "+79031112234"]
    assert phones(contacts.browse(status=ContactStatus.SUBSCRIBED)) == ["+4930123456", "+79161234567"]
    assert phones(contacts.browse("иван", status=ContactStatus.BLOCKED)) == ["+79031112234"]


def test_query_arguments_are_read_leniently(people):
    filters = contacts.filters_from_query({"q": "  иван ", "country": "ru", "status": "blocked", "tag": " VIP "})
    assert filters == contacts.ContactFilters("иван", "RU", ContactStatus.BLOCKED, "vip")
    assert contacts.filters_from_query({"country": "Russia", "status": "deleted"}) == contacts.ContactFilters()


# --- keyset pages ---------------------------------------------------------------------------------

def test_pages_cover_every_contact_once_newest_first(app):
    numbers = [f"+7903000{index:04d}" for index in range(120)]
    db.session.add_all(Contact(phone=phone, name=f"Клиент {index}", name_key=f"клиент {index}", consent_source="form",
                               consent_at=CONSENTED, tags="|vip|" if index % 2 else "", attributes={})
                       for index, phone in enumerate(numbers))
    db.session.commit()

    seen, before, sizes = [], None, []
    while True:
        page = contacts.page_from_query({"q": "+7903", "before": str(before) if before else ""})
        seen += phones(page)
        sizes.append(len(page.rows))
        if page.next_before is None:
            break
        assert page.next_before == page.rows[-1].id
        before = page.next_before
    assert sizes == [50, 50, 20] and seen == numbers[::-1]

    tagged = contacts.browse(tag="vip", limit=60)
    assert len(tagged.rows) == 60 and tagged.next_before is None  # exactly a page: no link to an empty one


@pytest.mark.parametrize("cursor", ["abc", "", "0", "-5", "²", "99999999999999999999999", "1e3"])
def test_a_bad_cursor_gives_the_first_page(people, cursor):
    assert phones(contacts.page_from_query({"before": cursor})) == phones(contacts.browse())


# --- one contact ----------------------------------------------------------------------------------

def test_the_detail_has_the_consent_proof_and_the_suppression_history(people):
    upload = add_import()
    contact = add_contact("+79035550011", "Анна", consent_source="import", consent_import_id=upload.id, consent_row=17)
    suppress(contact.phone, SuppressionReason.OPT_OUT)
    suppression.lift_opt_out(contact.phone, evidence="wamid.START")
    suppress(contact.phone, SuppressionReason.MANUAL, note="Asked in the shop")

    detail = contacts.contact_detail(db.session.get(Contact, contact.id))
    assert detail.status is ContactStatus.BLOCKED
    assert detail.consent == contacts.ConsentProof(
        source="import", consented_at=CONSENTED, import_id=upload.id, row=17, file_name="клиенты-март.csv",
        file_sha256="ab" * 32, uploaded_by="anna@example.com", uploaded_at=datetime(2024, 3, 2, 8, 0, tzinfo=UTC),
        merged_rows=[])
    assert [(entry.reason, entry.is_open) for entry in detail.suppressions] == [
        (SuppressionReason.MANUAL, True), (SuppressionReason.OPT_OUT, False)]


def test_a_contact_not_from_a_file_has_no_file_proof(people):
    detail = contacts.contact_detail(people["john"])
    assert (detail.status, detail.suppressions) == (ContactStatus.SUBSCRIBED, [])
    suppress("+442079460958", SuppressionReason.OPT_OUT)
    suppression.lift_opt_out("+442079460958", evidence="wamid.START")
    db.session.commit()
    detail = contacts.contact_detail(people["john"])
    assert (detail.status, [entry.is_open for entry in detail.suppressions]) == (ContactStatus.SUBSCRIBED, [False])
    assert (detail.consent.source, detail.consent.import_id, detail.consent.file_name) == ("website form", None, None)


# --- the CSV export -------------------------------------------------------------------------------

def export() -> tuple[list[str], list[dict[str, str]]]:
    return read_csv("".join(contacts.export_lines()))


def test_the_export_has_the_fixed_columns_then_every_attribute_sorted(app):
    add_contact(
        "+79031112233",
        "Иван",
        first_name="Иван",
        patronymic="Ильич",
        last_name="Петров",
        country="RU",
        region="Москва",
        city="Москва",
        latitude=55.7558,
        longitude=37.6173,
        timezone="Europe/Moscow",
        language="ru",
        attributes={"loyalty": "gold", "city_district": "ЦАО"},
    )
    add_contact(
        "+5511912345678", "Maria", country="BR", latitude=-23.55, longitude=-46.63, attributes={"birthday": "03-14"}
    )
    add_contact("+442079460958", None)
    header, records = export()
    assert header == [*EXPORT_HEADER, "birthday", "city_district", "loyalty"]
    assert header[:15] == [
        "phone",
        "name",
        "first_name",
        "patronymic",
        "last_name",
        "country",
        "region",
        "city",
        "latitude",
        "longitude",
        "timezone",
        "language",
        "consent_source",
        "consent_at",
        "status",
    ]
    assert [record["phone"] for record in records] == ["+79031112233", "+5511912345678", "+442079460958"]
    first, second, third = records
    assert first == {
        "phone": "+79031112233",
        "name": "Иван",
        "first_name": "Иван",
        "patronymic": "Ильич",
        "last_name": "Петров",
        "country": "RU",
        "region": "Москва",
        "city": "Москва",
        "latitude": "55.7558",
        "longitude": "37.6173",
        "timezone": "Europe/Moscow",
        "language": "ru",
        "consent_source": "website form",
        "consent_at": "2024-03-01T09:30:00+00:00",
        "status": "subscribed",
        "birthday": "",
        "city_district": "ЦАО",
        "loyalty": "gold",
    }
    assert (second["latitude"], second["longitude"], second["birthday"]) == ("-23.55", "-46.63", "03-14")
    assert (third["name"], third["first_name"], third["latitude"], third["loyalty"]) == ("", "", "", "")


def test_the_export_neutralises_formulas_in_free_text_and_keeps_numbers(app):
    evil = '=HYPERLINK("http://evil.example","Click")'
    add_contact("+79031112233", evil, city="+7 Москва", region="-1", consent_source="@form",
                attributes={"note": "=1+2", "=cmd": "x"})
    suppress("+79031112233", SuppressionReason.OPT_OUT)
    header, [record] = export()
    assert "'=cmd" in header and "=cmd" not in header
    assert record["name"] == "'" + evil
    assert (record["city"], record["region"], record["consent_source"]) == ("'+7 Москва", "'-1", "'@form")
    assert (record["note"], record["'=cmd"]) == ("'=1+2", "x")
    assert (record["phone"], record["status"]) == ("+79031112233", "opted_out")


def test_the_export_gives_every_status(people):
    suppress("+79031112233", SuppressionReason.OPT_OUT)
    suppress("+442079460958", SuppressionReason.BLOCK)
    _header, records = export()
    assert {record["phone"]: record["status"] for record in records} == {
        "+79031112233": "opted_out", "+79031112234": "subscribed", "+79161234567": "subscribed",
        "+442079460958": "blocked", "+4930123456": "subscribed"}


@pytest.mark.parametrize("batch", [1, 2, 5, 6])
def test_the_export_reads_in_batches_and_loses_nothing_at_their_edges(people, monkeypatch, batch):
    monkeypatch.setattr(contacts, "EXPORT_BATCH", batch)
    _header, records = export()
    assert [record["phone"] for record in records] == [contact.phone for contact in people.values()]


def test_an_empty_export_is_the_header(app):
    assert export() == (EXPORT_HEADER, [])
    add_contact("+79031112233", attributes={})
    assert export()[0] == EXPORT_HEADER


# --- flask audience export ------------------------------------------------------------------------

def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["audience", "export", *args])


def test_the_command_writes_the_csv_to_standard_output(app, people):
    result = run(app)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("\ufeffphone,name,")
    header, records = read_csv(result.stdout)
    assert header == EXPORT_HEADER and len(records) == 5 and records[0]["phone"] == "+79031112233"
    assert result.stderr == ""


def test_the_command_writes_a_file_atomically_and_says_how_many(app, people, tmp_path):
    target = tmp_path / "exports" / "contacts.csv"
    target.parent.mkdir()
    target.write_text("an older export\n")
    result = run(app, "-o", str(target))
    assert result.exit_code == 0, result.output
    assert (result.stdout, result.stderr) == ("", f"Exported 5 contacts to {target}.\n")
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfphone,name,") and b"\r\n" in data
    assert [record["phone"] for record in read_csv(data.decode("utf-8"))[1]] == [c.phone for c in people.values()]
    assert os.listdir(target.parent) == ["contacts.csv"]  # no temporary file left behind
    assert os.stat(target).st_mode & 0o077 == 0  # personal data: the owner's alone


def test_a_failed_export_leaves_the_previous_file_untouched(app, people, tmp_path, monkeypatch):
    target = tmp_path / "exports" / "contacts.csv"
    target.parent.mkdir()
    target.write_text("an older export\n")

    def broken():
        yield "phone,name\r\n"
        raise RuntimeError("the database went away")

    monkeypatch.setattr("audience.contact_cli.export_lines", broken)
    result = run(app, "-o", str(target))
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    assert target.read_text() == "an older export\n" and os.listdir(target.parent) == ["contacts.csv"]


def test_exporting_into_a_missing_folder_is_a_sentence(app, tmp_path):
    result = run(app, "-o", str(tmp_path / "nowhere" / "contacts.csv"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Cannot write to {tmp_path / 'nowhere'}: No such file or directory")
