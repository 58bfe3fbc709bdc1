"""Reading contacts: the searchable list, one contact with its consent proof, and the CSV export.

Built for a million contacts. Pages are keyset pages (``id < before``), never OFFSET, and nothing
counts the whole table. A search is a prefix match that an index can answer: a number's leading
digits (the unique index on ``phone``) or the beginning of a name (the index on ``name_key``).

There is deliberately no "name contains" search. ``LIKE '%петр%'`` cannot use a B-tree index: the
database reads contacts newest first until it has found a page of matches, which is quick for a
common word and a scan of all one million rows (about a second on PostgreSQL, several on SQLite)
for a rare one or a typo, on every page. A trigram index (PostgreSQL ``pg_trgm``) would make it
affordable; until then people search a name by its beginning, as they type it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

import phonenumbers
from flask import current_app
from sqlalchemy import JSON, ColumnElement, and_, cast, column, func, select, table, text, true

from audience import addresses, cells, search
from audience.models import Contact, ContactAddress, Import, ImportMerge
from audience.status import ContactStatus, is_status, status_of
from compliance import suppression
from compliance.models import Suppression, SuppressionScope
from compliance.numbers import InvalidNumberError, to_e164
from dbtypes import keyset_page, parse_id
from extensions import db
from spreadsheets import csv_lines

PAGE_SIZE = 50
EXPORT_BATCH = 5000
EXPORT_HEADER = ["phone", "name", "first_name", "patronymic", "last_name", "country", "region", "city", "latitude",
                 "longitude", "timezone", "language", "consent_source", "consent_at", "status"]
# Validated data that may start with "+" or "-" (E.164 numbers, negative coordinates): kept as is.
_TRUSTED = [EXPORT_HEADER.index(name) for name in ("phone", "latitude", "longitude", "consent_at", "status")]
_NUMBER_LIKE = re.compile(r"[\d\s+()\-]*\d[\d\s+()\-]*")
_COUNTRY = re.compile(r"[A-Z]{2}")
# Engine URL → whether its text comparison is by code point (see _starts_with).
_CODE_POINT_ORDER: dict[str, bool] = {}


@dataclass(frozen=True)
class ContactFilters:
    query: str = ""
    country: str | None = None
    status: ContactStatus | None = None
    tag: str | None = None


@dataclass(frozen=True)
class ContactRow:
    contact: Contact
    status: ContactStatus

    @property
    def id(self) -> int:
        return self.contact.id


@dataclass(frozen=True)
class ContactPage:
    rows: list[ContactRow]
    filters: ContactFilters
    next_before: int | None


@dataclass(frozen=True)
class ConsentProof:
    source: str
    consented_at: datetime
    import_id: int | None
    row: int | None
    file_name: str | None
    file_sha256: str | None
    uploaded_by: str | None
    uploaded_at: datetime | None
    merged_rows: list[int]  # earlier rows of the same number in that file, merged into ``row``


@dataclass(frozen=True)
class ContactDetail:
    contact: Contact
    status: ContactStatus
    consent: ConsentProof
    suppressions: list[Suppression]  # the whole history of the number and of every address key, newest first
    addresses: list[ContactAddress]  # the bot addresses, by channel and bot
    bots: dict[int, str]  # sender id → the bot's name, for the addresses



def filters_from_query(args: Mapping[str, str]) -> ContactFilters:
    """The filters asked for by query-string arguments (``q``, ``country``, ``status``, ``tag``);
    nonsense is ignored."""
    country = (args.get("country") or "").strip().upper()
    try:
        status = ContactStatus(args.get("status") or "")
    except ValueError:
        status = None
    return ContactFilters(
        query=(args.get("q") or "").strip()[:64], country=country if _COUNTRY.fullmatch(country) else None,
        status=status, tag=(args.get("tag") or "").strip().lower()[:60] or None,
    )


def page_from_query(args: Mapping[str, str], region: str | None = None) -> ContactPage:
    """One page of contacts as asked for by query-string arguments (filters and ``before``)."""
    filters = filters_from_query(args)
    return browse(filters.query, country=filters.country, status=filters.status, tag=filters.tag,
                  before_id=parse_id(args.get("before")), region=region)


def browse(
    query: str = "", country: str | None = None, status: ContactStatus | None = None, tag: str | None = None,
    before_id: int | None = None, limit: int = PAGE_SIZE, *, region: str | None = None,
) -> ContactPage:
    """Contacts newest first, ``limit`` at a time below ``before_id``, each with its status now.

    ``query`` is a number (as typed: a full number matches exactly, fewer digits match as the
    beginning of the number) or words of a name or an attribute, in any letter case: the best matches
    first (``audience.search``), one page of them. ``region`` reads numbers typed without a country code
    (default: the DEFAULT_REGION setting).
    """
    query = (query or "").strip()[:64]
    region = region or current_app.config["DEFAULT_REGION"]
    statement = select(Contact).order_by(Contact.id.desc()).limit(limit + 1)
    ranking = None if not query or _NUMBER_LIKE.fullmatch(query) else search.ranked(
        query, db.session.get_bind().dialect.name)
    if ranking is not None:
        found = ranking.subquery("found")
        statement = (select(Contact).join(found, found.c.id == Contact.id)
                     .order_by(found.c.rank, Contact.id.desc()).limit(limit))
        before_id = None  # ranked: the best page, not a walk through time
    elif query:
        statement = statement.where(
            _phone_condition(query, region) if _NUMBER_LIKE.fullmatch(query) else _name_condition(query)
        )
    if country:
        statement = statement.where(Contact.country == country.upper())
    if status is not None:
        statement = statement.where(is_status(status))
    tag = (tag or "").replace("|", "").strip().lower() or None  # "|" separates the stored tags
    if tag:
        statement = statement.where(Contact.tags.contains(f"|{tag}|", autoescape=True))
    if before_id is not None:
        statement = statement.where(Contact.id < before_id)
    if ranking is not None:
        page, next_before = list(db.session.scalars(statement)), None
    else:
        page, next_before = keyset_page(list(db.session.scalars(statement)), limit)
    return ContactPage(_with_statuses(page), ContactFilters(query, country, status, tag), next_before)


def _with_statuses(page: list[Contact]) -> list[ContactRow]:
    # Asked for the page's contacts afterwards rather than as a column of the page's query: as a
    # column, PostgreSQL reads the whole suppression list into a hash for every page it serves.
    reasons = addresses.person_suppressed(contact.id for contact in page)
    return [ContactRow(contact, status_of(reasons.get(contact.id, ()))) for contact in page]


def _phone_condition(query: str, region: str) -> ColumnElement[bool]:
    try:
        number = to_e164(query, region)
    except InvalidNumberError:
        number = None
    # "Possible" is not enough here: "7903111" is a possible local number in Russia, yet whoever
    # types it means the beginning of +7 903 111….
    if number and phonenumbers.is_valid_number(phonenumbers.parse(number)):
        return Contact.phone == number
    return _starts_with(Contact.phone, _typed_prefix(query, region))


def _typed_prefix(query: str, region: str) -> str:
    """The E.164 beginning of a partly typed number: "+7 903", "7903" and (in Russia) "8 903" are "+7903"."""
    digits = re.sub(r"\D", "", query)
    if query.lstrip().startswith("+"):
        return "+" + digits
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
    trunk, code = (
        (metadata.national_prefix or "") if metadata else "",
        str(phonenumbers.country_code_for_region(region)),
    )
    if trunk and digits.startswith(trunk) and not digits.startswith(code):
        return "+" + code + digits[len(trunk):]
    return "+" + digits


def _name_condition(query: str) -> ColumnElement[bool]:
    return _starts_with(Contact.name_key, cells.name_key(query) or "")


def _starts_with(column, prefix: str) -> ColumnElement[bool]:
    """``column LIKE 'prefix%'``, plus a range an ordinary index can answer where the database allows.

    PostgreSQL uses a B-tree index for LIKE only under the "C" collation (not even C.UTF-8), and
    SQLite only with case-sensitive LIKE, so where text sorts by code point (SQLite, PostgreSQL's
    C and C.UTF-8) the prefix is asked as the range ``prefix <= column < successor``, which is the
    same set and an index range scan. Under a linguistic collation that range could leave out real
    matches, so there the LIKE is used (correct, but a scan).
    """
    if not prefix or ord(prefix[-1]) >= 0x10FFFF or not _sorts_by_code_point():
        return column.startswith(prefix, autoescape=True)
    return and_(column >= prefix, column < prefix[:-1] + chr(ord(prefix[-1]) + 1))


def _sorts_by_code_point() -> bool:
    engine = db.session.get_bind()
    key = str(engine.url)
    if key not in _CODE_POINT_ORDER:
        probe = text("SELECT 'B' < 'a' AND 'a-c' < 'ab' AND 'я' < 'ѐ'")
        _CODE_POINT_ORDER[key] = bool(db.session.scalar(probe))
    return _CODE_POINT_ORDER[key]


def contact_detail(contact: Contact) -> ContactDetail:
    """Everything known about ``contact``: status now, consent proof, the bot addresses with their own opt-in
    evidence, and the suppression history of the number and of every address key."""
    bot_addresses = addresses.addresses_of(contact.id)
    keys = [contact.phone] if contact.phone else []
    history = suppression.histories([*keys, *(row.address_key for row in bot_addresses)])
    status = status_of(tuple(sorted({entry.reason.value for entry in history
                                     if entry.is_open and entry.scope is SuppressionScope.PERSON})))
    upload = db.session.get(Import, contact.consent_import_id) if contact.consent_import_id is not None else None
    consent = ConsentProof(
        source=contact.consent_source, consented_at=contact.consent_at, import_id=contact.consent_import_id,
        row=contact.consent_row, file_name=upload.file_name if upload else None,
        file_sha256=upload.file_sha256 if upload else None, uploaded_by=upload.uploaded_by_label if upload else None,
        uploaded_at=upload.uploaded_at if upload else None,
        merged_rows=list(db.session.scalars(
            select(ImportMerge.row).where(ImportMerge.import_id == contact.consent_import_id,
                                          ImportMerge.into_row == contact.consent_row).order_by(ImportMerge.row)
        )) if upload else [],
    )
    return ContactDetail(contact, status, consent, history, bot_addresses, _bot_names(bot_addresses))


def _bot_names(rows: list[ContactAddress]) -> dict[int, str]:
    # The senders table belongs to campaigns, which audience may not import: its names are read as a table.
    ids = sorted({row.sender_id for row in rows})
    if not ids:
        return {}
    senders = table("senders", column("id"), column("name"))
    return dict(db.session.execute(select(senders.c.id, senders.c.name).where(senders.c.id.in_(ids))).all())


def attribute_keys() -> list[str]:
    """Every attribute name used by any contact, sorted; found by the database, not by reading the rows here."""
    if db.session.get_bind().dialect.name == "postgresql":
        document = cast(Contact.attributes, JSON)
        query = select(func.json_object_keys(document)).where(func.json_typeof(document) == "object")
    else:
        each = func.json_each(Contact.attributes).table_valued("key")
        query = (
            select(each.c.key)
            .select_from(Contact)
            .join(each, true())
            .where(func.json_type(Contact.attributes) == "object")
        )
    return sorted(str(key) for key in db.session.scalars(query.distinct()))


def export_lines() -> Iterator[str]:
    """All contacts as CSV lines, oldest first: the fixed columns, then one column per attribute.

    A generator reading ``EXPORT_BATCH`` rows at a time by id, so a million contacts stream with
    bounded memory and no long-held cursor; free text is neutralised against spreadsheet formulas.
    """
    keys = attribute_keys()
    yield from csv_lines([*EXPORT_HEADER, *keys], _export_rows(keys), trusted=_TRUSTED)


def _export_rows(keys: list[str]) -> Iterator[list[object]]:
    columns = (Contact.id, Contact.phone, Contact.name, Contact.first_name, Contact.patronymic, Contact.last_name,
               Contact.country, Contact.region, Contact.city, Contact.latitude,
               Contact.longitude, Contact.timezone, Contact.language, Contact.consent_source, Contact.consent_at,
               Contact.attributes)
    last_id = 0
    while True:
        batch = db.session.execute(
            select(*columns).where(Contact.id > last_id).order_by(Contact.id).limit(EXPORT_BATCH)
        ).all()
        reasons = addresses.person_suppressed(row.id for row in batch)
        for row in batch:
            attributes = row[-1] if isinstance(row[-1], dict) else {}
            status = status_of(reasons.get(row.id, ())).value
            yield [*(_cell(value) for value in row[1:-1]), status, *(attributes.get(key) for key in keys)]
        if len(batch) < EXPORT_BATCH:
            return
        last_id = batch[-1][0]


def _cell(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    return "" if value is None else value
