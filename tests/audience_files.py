"""Audience files as CRMs, shops and Excel really write them, and the import run the way the app runs it.

The files are bytes built here with the csv module and openpyxl (never checked-in fixtures), so each
test shows what it feeds the importer. The import helpers go through the same service calls as the
upload page and the CLI: ``create_import`` (the upload), ``configure`` (the mapping step), then
``run_import`` and a commit (what the job and the CLI do).
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import openpyxl
from sqlalchemy import select

from audience import import_jobs, import_pipeline, import_records
from audience.import_pipeline import Summary, run_import
from audience.models import Contact, Import, ImportIssue
from extensions import db

HEADER_RU = ("Телефон", "Имя", "Город", "Согласие")
HEADER_EN = ("Phone", "Name", "City", "Consent")
# Rows under HEADER_RU / HEADER_EN: Cyrillic everywhere, so a wrong decoding cannot go unnoticed.
PEOPLE = (
    ("+79031234501", "Иван Петров", "Москва", "да"),
    ("+79031234502", "Мария Сидорова", "Казань", "да"),
    ("+79031234503", "Пётр Ёлкин", "Екатеринбург", "да"),
)

# An Excel artefact or a wrong number as a phone cell, and what the importer makes of it: the
# number in E.164, or the rejection code. Each number is distinct so none merges with another.
PHONE_CELLS = (
    ("'+79031234511", "+79031234511"),  # a leading apostrophe: Excel's "this is text"
    ("+7\u00a0903\u00a0123\u00a045\u00a012", "+79031234512"),  # non-breaking spaces
    ("8 (903) 123-45-13 доб. 12", "+79031234513"),  # an extension, dropped with a warning
    ("79031234514.0", "+79031234514"),  # a number column read as floats
    ("9031234515", "+79031234515"),  # no country code: the default region's
    ("\u200b+7-903-123-45-16\u202f", "+79031234516"),  # zero-width and narrow no-break spaces
    ("7.90312E+10", "phone_excel_damaged"),  # scientific notation: digits are lost for good
    ("", "phone_missing"),
    ("12345", "phone_too_short"),
    ("+7903123451234567", "phone_too_long"),
    ("+99912345678", "phone_unknown_country"),
    ("позвонить вечером", "phone_invalid"),
)


def phone(number: int) -> str:
    """The ``number``-th valid Russian mobile number in E.164 (up to 9,999,999)."""
    return f"+7903{number:07d}"


# --- CSV ------------------------------------------------------------------------------------------

def csv_bytes(rows: Iterable[Sequence[Any]], header: Sequence[str] = HEADER_RU, *, delimiter: str = ",",
              encoding: str = "utf-8") -> bytes:
    """A CSV file with Windows line ends, as Excel saves it; ``encoding="utf-8-sig"`` adds the BOM."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def utf8_csv(rows: Iterable[Sequence[Any]] = PEOPLE, header: Sequence[str] = HEADER_RU) -> bytes:
    return csv_bytes(rows, header)


def utf8_bom_csv(rows: Iterable[Sequence[Any]] = PEOPLE, header: Sequence[str] = HEADER_RU) -> bytes:
    """What Excel's "CSV UTF-8" writes: a byte-order mark, then commas."""
    return csv_bytes(rows, header, encoding="utf-8-sig")


def cp1251_csv(rows: Iterable[Sequence[Any]] = PEOPLE, header: Sequence[str] = HEADER_RU) -> bytes:
    """What a Russian Excel's plain "CSV" writes: Windows-1251 with semicolons."""
    return csv_bytes(rows, header, delimiter=";", encoding="cp1251")


def tab_csv(rows: Iterable[Sequence[Any]] = PEOPLE, header: Sequence[str] = HEADER_RU) -> bytes:
    """Tab-separated text, as copied out of a spreadsheet or exported as "Unicode text"."""
    return csv_bytes(rows, header, delimiter="\t")


CSV_KINDS = {"utf-8": utf8_csv, "utf-8 with BOM": utf8_bom_csv, "cp1251 with ;": cp1251_csv, "tab-separated": tab_csv}


def excel_artefacts_csv(more_rows: Iterable[Sequence[Any]] = ()) -> bytes:
    """One row per PHONE_CELLS entry (row 2 onwards), all with consent, then ``more_rows``, as Excel's
    "CSV UTF-8" with semicolons (cp1251 has no zero-width space to write)."""
    rows = [(cell, f"Клиент {row}", "", "да") for row, (cell, _outcome) in enumerate(PHONE_CELLS, 2)]
    return csv_bytes([*rows, *more_rows], delimiter=";", encoding="utf-8-sig")


def large_csv(count: int, *, first: int = 1, duplicate_every: int = 0) -> bytes:
    """``count`` consenting rows of distinct numbers in cp1251 with ``;``, built fast for big files.

    With ``duplicate_every`` = n, every n-th row repeats the number of row ``first`` (the first
    data row), so the repeats fall into every chunk the importer works in.
    """
    lines = [";".join(HEADER_RU)]
    for index in range(count):
        number = first if duplicate_every and index and index % duplicate_every == 0 else first + index
        lines.append(f"{phone(number)};Клиент {index};Москва;да")
    return ("\r\n".join(lines) + "\r\n").encode("cp1251")


# --- XLSX -----------------------------------------------------------------------------------------

def xlsx_bytes(*sheets: tuple[str, Sequence[Sequence[Any]]]) -> bytes:
    """A workbook with the given (title, rows) sheets, first row the header; a str starting with "="
    is stored as a formula, as Excel stores one."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets:
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def xlsx_file(
    rows: Iterable[Sequence[Any]] = PEOPLE, header: Sequence[str] = HEADER_RU, title: str = "Клиенты"
) -> bytes:
    return xlsx_bytes((title, [header, *rows]))


def xlsx_with_formula() -> bytes:
    """A workbook whose name column is computed: =B3&" "&C3 at D3, as people build "ФИО"."""
    return xlsx_bytes(("Лист1", [
        ("Телефон", "Фамилия", "Имя", "ФИО", "Согласие"),
        ("+79031234501", "Петров", "Иван", "Иван Петров", "да"),
        ("+79031234502", "Сидорова", "Мария", '=C3&" "&B3', "да"),
    ]))


def xlsx_two_sheets() -> bytes:
    """An archive sheet first, this month's contacts second, with different columns."""
    return xlsx_bytes(
        ("Архив", [("Телефон", "Имя", "Согласие"), ("+79031234591", "Старый клиент", "да")]),
        ("Март", [("Phone", "Name", "Opt-in", "Tariff"),
                  ("+79031234592", "Anna", "yes", "gold"),
                  ("+79031234593", "Boris", "yes", "silver")]),
    )


# --- files that are not tables --------------------------------------------------------------------

def empty_file() -> bytes:
    return b""


def header_only() -> bytes:
    return cp1251_csv([])


def pdf_renamed_csv() -> bytes:
    """The start of a real PDF (a price list, say) saved under a .csv name."""
    return (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Length 44 /Filter /FlateDecode >>\nstream\nx\x9c\x0b\xc9\xc8,V\x00\xa2D\x85\xa2\xd4"
            b"\x00\x00\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")


def old_excel_file() -> bytes:
    """The OLE container of an .xls (or of a password-protected .xlsx)."""
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


def mixed_encodings() -> bytes:
    """Rows pasted together from two exports: the header and line 2 in cp1251, line 3 in UTF-8."""
    return b"".join((
        "Телефон;Имя;Согласие\r\n".encode("cp1251"),
        "+79031234501;Иван;да\r\n".encode("cp1251"),
        "+79031234502;Мария;да\r\n".encode(),
    ))


def nul_far_into_the_file() -> bytes:
    """A CSV that looks like text for its first kilobytes and holds a NUL byte further on."""
    rows = [(phone(index), "Клиент", "Москва", "да") for index in range(1, 301)]
    return utf8_csv([*rows, ("+79039999999", "Иван\x00Петров", "Москва", "да")])


# --- importing ------------------------------------------------------------------------------------

def start_import(
    content: bytes,
    file_name: str = "клиенты.csv",
    *,
    actor: Any = None,
    mapping: dict[str, str] | None = None,
    default_region: str = "RU",
    consent_source: str = "",
    sheet: str | None = None,
) -> Import:
    """An import uploaded and configured as the mapping page leaves it, flushed (not committed)."""
    record = import_records.create_import(file_name, content, actor=actor)
    import_records.configure(
        record, mapping=mapping or {}, default_region=default_region, consent_source=consent_source, sheet=sheet
    )
    return record


def import_content(content: bytes, file_name: str = "клиенты.csv", **options: Any) -> tuple[Import, Summary]:
    """Upload, configure, run and commit an import, as the job does; returns the record and summary."""
    record = start_import(content, file_name, **options)
    summary = run_import(record, content)
    db.session.commit()
    return record, summary


def contacts_by_phone() -> dict[str, Contact]:
    """Every contact as committed, by number."""
    db.session.expire_all()
    return {contact.phone: contact for contact in db.session.scalars(select(Contact))}


def contact_of(number: str) -> Contact | None:
    """The contact of ``number`` as committed (without loading every contact of a big import)."""
    db.session.expire_all()
    return db.session.scalar(select(Contact).where(Contact.phone == number))


def contacts_table() -> list[tuple]:
    """Every column of every contact row as committed, ordered by id: to prove nothing changed."""
    db.session.expire_all()
    table = Contact.__table__
    return [tuple(row) for row in db.session.execute(select(table).order_by(table.c.id))]


def issues_of(record: Import) -> list[tuple[int, str, str]]:
    """(row, kind, reason code) of every report entry of ``record``, in row order."""
    found = db.session.scalars(select(ImportIssue).where(ImportIssue.import_id == record.id)
                               .order_by(ImportIssue.row, ImportIssue.id))
    return [(issue.row, issue.kind.value, issue.reason) for issue in found]


def merges_of(record: Import) -> list[tuple[int, int, str]]:
    """(row, the row it was merged into, the number's last digits) of every merged row of ``record``."""
    return [(merge.row, merge.into_row, merge.number_end) for merge in import_records.merges(record)]


# --- faults injected into the import; the two jobs run in the real worker, which imports them by name

def upsert_faulting_after_the_first_chunk(fault: Callable[[], None]):
    """``import_pipeline.upsert_contacts`` that saves the first chunk, then calls ``fault`` on the next one
    (which raises, or never returns)."""
    saved = import_pipeline.upsert_contacts

    def upsert(contacts, earlier, *args):
        if earlier:  # numbers of an earlier chunk: this is the second one
            fault()
        return saved(contacts, earlier, *args)

    return upsert


def import_file_crashing_after_the_first_chunk(import_id: int):
    """The real import job, whose database write fails after the first chunk was written."""
    def crash():
        raise RuntimeError("the database connection was lost")

    import_pipeline.upsert_contacts = upsert_faulting_after_the_first_chunk(
        crash
    )  # the work horse is a fork: gone with it
    return import_jobs.import_file(import_id)


def import_file_hanging_after_the_first_chunk(import_id: int, marker: str):
    """The real import job, stopping after the first chunk was written: writes its pid to ``marker``
    and waits to be killed, as a worker killed half-way through an import."""
    def hang():
        Path(marker).write_text(str(os.getpid()))
        time.sleep(120)

    import_pipeline.upsert_contacts = upsert_faulting_after_the_first_chunk(hang)
    return import_jobs.import_file(import_id)
