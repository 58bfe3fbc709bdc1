"""One chunk of file rows to checked, merged and geocoded contacts plus report entries.

Everything here is a function of the cells alone (no database), so the importer runs it in worker
processes on big files: the phones, the cells and the places of later chunks are worked out there
while the importing process saves earlier ones.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from audience import cells, person_names, phones
from audience.geocoding import Geocoder
from audience.models import IssueKind

_RAW_CELL = 200  # characters of each cell kept for the error report
# When a number repeats, the later row's consent evidence replaces the earlier one's as a whole,
# so that the proof names the row whose values stand (the report lists the rows merged into it).
_PROOF = frozenset({"consent_source", "consent_at", "consent_row"})
_NAME_PARTS = ("first_name", "patronymic", "last_name")


@dataclass(frozen=True)
class RowRules:
    """How to read the rows of one import; small and picklable, sent to the worker processes."""

    mapping: dict[str, str]  # field → header
    attribute_headers: tuple[str, ...]
    default_region: str
    import_id: int
    uploaded_at: datetime
    default_source: str  # the attestation, or "Import of <file>" when a source column may fill it


@dataclass
class CheckedChunk:
    contacts: list[dict[str, Any]]  # one per number, rows of the same number merged
    issues: list[dict[str, Any]]  # rows for audience_import_issues
    # Number → its rows in this chunk, in file order, for each number on more than one row: all but
    # the last were merged into the last, which the contact's consent proof names.
    repeated: dict[str, list[int]]


def check_chunk(rules: RowRules, offset: int, chunk: dict[str, list[str]]) -> CheckedChunk:
    """Check the rows of ``chunk`` (header → cells), the first of which is row ``offset`` of the file."""
    rows = _Rows(rules, offset, chunk)
    numbers = phones.normalise_many(chunk[rules.mapping["phone"]], rules.default_region)
    merged: dict[str, dict[str, Any]] = {}
    repeated: dict[str, list[int]] = {}
    for index, number in enumerate(numbers):
        contact = rows.checked(index, number)
        if contact is None:
            continue
        earlier = merged.get(contact["phone"])
        if earlier is None:
            merged[contact["phone"]] = contact
        else:
            repeated.setdefault(contact["phone"], [earlier["consent_row"]]).append(contact["consent_row"])
            _merge(earlier, contact)
    geocoder = _geocoder()
    for contact in merged.values():
        rows.issues.extend(rows.issue(contact["consent_row"] - 2 - offset, IssueKind.WARNING, code, detail)
                           for code, detail in geocoder.place(contact))
    return CheckedChunk(list(merged.values()), rows.issues, repeated)


def warm_up() -> None:
    """Start a worker process: load the gazetteer now, while the importing process reads the file."""
    _geocoder()
    # The process lives for one import and makes only acyclic garbage; see without_cyclic_gc.
    gc.disable()


@contextlib.contextmanager
def without_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector.

    An import allocates millions of small dicts and tuples that are freed by reference counting;
    the collector's passes over the growing lists of contacts and issues find nothing and cost a
    tenth of the import's time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@functools.cache
def _geocoder() -> Geocoder:
    # One per process: its caches of place names serve every chunk the process checks.
    return Geocoder()


def _merge(earlier: dict[str, Any], later: dict[str, Any]) -> None:
    """A later row of the same number fills in and overrides, but an empty cell erases nothing;
    its consent proof replaces the earlier row's whole."""
    for key, value in later.items():
        if key == "tags":
            earlier["tags"] = tuple(dict.fromkeys(earlier["tags"] + value))
        elif key == "attributes":
            earlier["attributes"].update(value)
        elif key in _PROOF or value not in (None, ""):
            earlier[key] = value


class _Rows:
    """The cells of one chunk, turned row by row into contact values and report entries."""

    def __init__(self, rules: RowRules, offset: int, chunk: dict[str, list[str]]):
        self.rules = rules
        self.offset = offset
        self.columns = {name: chunk[header] for name, header in rules.mapping.items()}
        self.attributes = [(header, chunk[header]) for header in rules.attribute_headers]
        self.raw_columns = list(chunk.items())
        self.issues: list[dict[str, Any]] = []
        self.separate_parts = "patronymic" in self.columns or "last_name" in self.columns

    def cell(self, name: str, index: int) -> str:
        values = self.columns.get(name)
        return values[index].strip() if values is not None else ""

    def checked(self, index: int, number: phones.Number | str) -> dict[str, Any] | None:
        """The contact values of row ``index``, or None when the row is rejected (added to the issues)."""
        problem, warnings, contact = (number, [], {}) if isinstance(number, str) else self.values(index)
        if problem:
            self.issues.append(self.issue(index, IssueKind.REJECTED, problem))
            return None
        if number.had_extension:
            warnings.append(("extension_dropped", ""))
        self.issues.extend(self.issue(index, IssueKind.WARNING, code, detail) for code, detail in warnings)
        contact.update(phone=number.e164, country=number.country, timezone=number.timezone, phone_region=number.region)
        return contact

    def values(self, index: int) -> tuple[str | None, list[tuple[str, str]], dict[str, Any]]:
        """Row ``index`` apart from its phone: the rejection code if any, the warnings, the values."""
        rules = self.rules
        warnings: list[tuple[str, str]] = []
        if "consent" in self.columns:
            answer = cells.consent(self.columns["consent"][index])
            if answer is not True:
                return ("no_opt_in" if answer is False else "consent_unclear"), warnings, {}
        consent_at = rules.uploaded_at
        consent_date = self.cell("consent_date", index)
        if consent_date:
            parsed = cells.moment(consent_date)
            if parsed is None or parsed > rules.uploaded_at:
                warnings.append(("bad_consent_date", consent_date[:60]))
            else:
                consent_at = parsed
        latitude = longitude = None
        lat_text, lon_text = self.cell("latitude", index), self.cell("longitude", index)
        if lat_text or lon_text:
            latitude, longitude = cells.coordinate(lat_text, 90), cells.coordinate(lon_text, 180)
            if latitude is None or longitude is None:
                warnings.append(("bad_coordinates", f"{lat_text[:30]} {lon_text[:30]}"))
                latitude = longitude = None
        parts = self.person_name(index)
        # A whole name in one cell is shown as written; separate parts are composed (Фамилия Имя Отчество).
        written = self.cell("name", index) or ("" if self.separate_parts else self.cell("first_name", index))
        name = " ".join(written.split())[:200] or person_names.display_name(parts)
        attributes = {}
        for header, values in self.attributes:
            value = cells.attribute(values[index])
            if value:
                attributes[header[:100]] = value[:500]
        return None, warnings, {
            "name": name,
            "name_key": cells.name_key(name),
            "first_name": parts.first_name,
            "patronymic": parts.patronymic,
            "last_name": parts.last_name,
            "region": self.cell("region", index)[:120] or None,
            "city": " ".join(self.cell("city", index).split())[:120] or None,
            "country_hint": self.cell("country", index),
            "latitude": latitude,
            "longitude": longitude,
            "language": cells.language(self.cell("language", index)),
            "tags": cells.tags(self.cell("tags", index)),
            "attributes": attributes,
            "consent_source": self.cell("source", index)[:300] or rules.default_source,
            "consent_at": consent_at,
            "consent_import_id": rules.import_id,
            "consent_row": self.offset + index + 2,
        }

    def person_name(self, index: int) -> person_names.PersonName:
        """The row's first name, patronymic and last name: from their own columns, else split from one name."""
        first, middle, last = (" ".join(self.cell(field, index).split()) for field in _NAME_PARTS)
        if self.separate_parts:
            return person_names.PersonName(*((part[:100] or None) for part in (first, middle, last)))
        full = " ".join(self.cell("name", index).split())
        # A file whose only name column is Имя often holds the whole name in it ("Анна Петрова").
        if " " in first or not full:
            return person_names.split_full_name(first)
        split = person_names.split_full_name(full)
        return split._replace(first_name=first[:100]) if first else split

    def issue(self, index: int, kind: IssueKind, reason: str, detail: str = "") -> dict[str, Any]:
        raw = {header: str(values[index])[:_RAW_CELL] for header, values in self.raw_columns if values[index]}
        return {"import_id": self.rules.import_id, "row": self.offset + index + 2, "kind": kind, "reason": reason,
                "detail": detail[:300], "raw": raw}
