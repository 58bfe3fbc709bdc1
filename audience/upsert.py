"""Checked contacts into the database, set-wise: one select, one insert and one update per chunk.

Existing contacts are updated, never duplicated, and only where the file says something new: an
empty cell erases nothing, tags and attributes are added to, and the consent proof of an earlier
import stands. A number this import created and meets again in a later chunk takes that chunk's
proof, as a repeat inside one chunk does (``rows._merge``): the proof names the number's last row.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update

from audience.models import Contact, ImportIssue, ImportMerge
from compliance.suppression import suppressed_reasons
from dbtypes import utcnow
from extensions import db

_CHUNK = 2_000
# Written from the file whenever it has a value for them.
_PLAIN = ("name", "name_key", "first_name", "patronymic", "last_name", "country", "region", "city", "city_key",
          "place_id", "latitude", "longitude", "timezone", "language")
_PROOF = ("consent_source", "consent_at", "consent_import_id", "consent_row")
_TAGS_LENGTH = Contact.__table__.c.tags.type.length
_READ = (Contact.id, Contact.phone, Contact.tags, Contact.attributes, Contact.updated_at, Contact.consent_row,
         *(getattr(Contact, name) for name in _PLAIN))


@dataclass
class Origin:
    """A number that existed before this import, as it was: to count it once, by how it ends."""

    state: int  # _state() of the contact before the import
    updated_at: datetime
    row: int  # the row of this import that stands for it so far (its proof is the earlier import's)
    counted: str = ""  # "updated" or "unchanged": how the summary counts it so far


# Number → its Origin, or None for a number this import created.
Seen = dict[str, "Origin | None"]
# (number, the row of this import that stood for it, the row of this chunk that stands now)
Repeat = tuple[str, int, int]


def upsert_contacts(contacts: list[dict[str, Any]], seen: Seen, repeats: list[Repeat]) -> dict[str, int]:
    """Insert or update ``contacts`` (dicts of column values, one per number); flush only.

    Returns how many were created, updated, unchanged and are suppressed (they stay suppressed
    whatever the file says). ``seen`` holds the numbers this import saved already and is kept up
    to date: a number in several chunks is counted once, by how it ends. If a later chunk brings it
    back to what it was before the import (the same file imported again), it is unchanged, and
    keeps its ``updated_at``; so the counts of one chunk may be negative. Each number of an earlier
    chunk met again is appended to ``repeats``, for the report's list of merged rows.
    """
    counts = dict.fromkeys(("created", "updated", "unchanged", "suppressed"), 0)
    now = utcnow()
    for start in range(0, len(contacts), _CHUNK):
        chunk = contacts[start:start + _CHUNK]
        phones = [contact["phone"] for contact in chunk]
        existing = {row.phone: row for row in db.session.execute(select(*_READ).where(Contact.phone.in_(phones)))}
        counts["suppressed"] += len(suppressed_reasons(phone for phone in phones if phone not in seen))
        new_rows, changed_rows = [], []
        for contact in chunk:
            phone = contact["phone"]
            old = existing.get(phone)
            if old is None:
                new_rows.append(_new_row(contact, now))
                counts["created"] += 1
                seen[phone] = None
                continue
            changes = _changes(old, contact)
            if phone in seen and seen[phone] is None:  # created by this import: a repeat, merged in
                repeats.append((phone, old.consent_row, contact["consent_row"]))
                proof = {name: contact[name] for name in _PROOF}
                changed_rows.append((changes or {"id": old.id}) | proof | {"updated_at": now})
                continue
            origin = seen.get(phone)
            if origin is None:  # the first time this import meets a number that existed before
                origin = seen[phone] = Origin(_state(old), old.updated_at, contact["consent_row"])
                ends_as_before = changes is None
            else:
                repeats.append((phone, origin.row, contact["consent_row"]))
                origin.row = contact["consent_row"]
                ends_as_before = _state(changes or old) == origin.state
            outcome = "unchanged" if ends_as_before else "updated"
            if outcome != origin.counted:
                if origin.counted:
                    counts[origin.counted] -= 1
                counts[outcome] += 1
                origin.counted = outcome
            if changes is not None:
                changed_rows.append(changes | {"updated_at": now if outcome == "updated" else origin.updated_at})
        if new_rows:
            insert_rows(Contact.__table__, new_rows)
        if changed_rows:
            db.session.execute(update(Contact), changed_rows)
    return counts


def _state(values: Any) -> int:
    """A fingerprint of what an import can change on a contact (a row read back, or a new row)."""
    get = values.get if isinstance(values, dict) else functools.partial(getattr, values)
    return hash((tuple(get(name) for name in _PLAIN), get("tags") or "",
                 json.dumps(get("attributes") or {}, sort_keys=True, ensure_ascii=False)))


def insert_rows(table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) through the driver, past the ORM and Core.

    Values go through each column type's own bind processing, so they are stored exactly as the
    ORM would store them; PostgreSQL gets them by COPY, SQLite by one executemany.
    """
    names = list(rows[0])
    connection = db.session.connection()
    dialect = connection.dialect
    # The dialect's own type (not the generic one): PostgreSQL's JSON wraps dicts for the driver.
    types = [table.c[name].type.dialect_impl(dialect) for name in names]
    processors = [(position, processor) for position, kind in enumerate(types)
                  if (processor := kind.bind_processor(dialect)) is not None]
    values = [[row[name] for name in names] for row in rows]
    for position, processor in processors:
        # Many rows share one value object (the import's time, its id): process each object once.
        done: dict[int, Any] = {}
        for value in values:
            raw = value[position]
            key = id(raw)
            if key not in done:
                done[key] = processor(raw)
            value[position] = done[key]
    column_list = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    cursor = connection.connection.driver_connection.cursor()
    try:
        if dialect.name == "postgresql":
            with cursor.copy(f"COPY {table.name} ({column_list}) FROM STDIN") as copy:
                for value in values:
                    copy.write_row(value)
        else:
            marks = ", ".join("?" for _ in names)
            cursor.executemany(f"INSERT INTO {table.name} ({column_list}) VALUES ({marks})", values)
    finally:
        cursor.close()


def _tags_text(tags: Iterable[str]) -> str:
    text = ""
    for tag in tags:
        # Tags past the column's length are dropped: PostgreSQL would refuse the whole import.
        if len(text or "|") + len(tag) + 1 > _TAGS_LENGTH:
            break
        text = f"{text or '|'}{tag}|"
    return text


def _new_row(contact: dict[str, Any], now) -> dict[str, Any]:
    row = {name: contact[name] for name in ("phone", *_PLAIN, *_PROOF)}
    row.update(tags=_tags_text(contact["tags"]), attributes=contact["attributes"], created_at=now, updated_at=now)
    return row


def _changes(old, contact: dict[str, Any]) -> dict[str, Any] | None:
    """The full new row of an existing contact (one shape for every update), or None if it is the same."""
    row = {name: contact[name] if contact[name] not in (None, "") else getattr(old, name) for name in _PLAIN}
    old_tags = [tag for tag in (old.tags or "").split("|") if tag]
    row["tags"] = _tags_text(dict.fromkeys([*old_tags, *contact["tags"]]))
    row["attributes"] = {**(old.attributes or {}), **contact["attributes"]}
    same = (all(row[name] == getattr(old, name) for name in _PLAIN)
            and row["tags"] == (old.tags or "") and row["attributes"] == (old.attributes or {}))
    return None if same else row | {"id": old.id}


@contextlib.contextmanager
def bulk_settings() -> Iterator[None]:
    """Database settings for the length of one import; the previous ones afterwards.

    SQLite: a page cache of 256 MB instead of 2 MB, which holds a fraction of the contacts' indexes,
    so that a large import does not spill pages to the write-ahead log over and over.
    PostgreSQL: no sequential scans. The contacts table grows inside the import's transaction while
    its statistics still describe it as it was, so the planner would scan the whole table for each
    chunk's numbers (quadratic in the file's length) rather than use the index on ``phone``.
    """
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # ends with the transaction
    if connection.dialect.name != "sqlite":
        yield
        return
    previous = connection.exec_driver_sql("PRAGMA cache_size").scalar()
    connection.exec_driver_sql("PRAGMA cache_size = -262144")  # negative: KiB
    try:
        yield
    finally:
        connection.exec_driver_sql(f"PRAGMA cache_size = {int(previous)}")


def write_report(issues: list[dict[str, Any]], merges: list[dict[str, Any]]) -> None:
    """Store the rejected rows, the warnings and the merged rows of an import, for its report; flush only."""
    for table, rows in ((ImportIssue.__table__, issues), (ImportMerge.__table__, merges)):
        for start in range(0, len(rows), 5_000):
            insert_rows(table, rows[start:start + 5_000])
