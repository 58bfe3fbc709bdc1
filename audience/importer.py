"""An uploaded file to contacts with consent proof: read, check every row, merge, geocode, upsert.

``run_import`` only adds and flushes, inside the caller's transaction: a file that fails half-way
(or a worker killed half-way) leaves nothing behind, and the same file imported twice changes
nothing the second time. Rows are checked in Python (the cells need it) and written set-wise.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from typing import Any, Callable, Iterator

from flask_babel import gettext as _

from audience import cells, columns, phones
from audience.geocoding import Geocoder
from audience.models import Import, IssueKind
from audience.reading import read_table
from audience.upsert import upsert_contacts, write_issues

Progress = Callable[[str, int, int], None]  # stage, done, total

# Below this many rows starting worker processes costs more than it saves.
PARALLEL_FROM = 20_000
_CHUNK = 10_000
_RAW_CELL = 200  # characters of each cell kept for the error report


class ImportRefusedError(ValueError):
    """The whole file cannot be imported; the message is a sentence for the person importing."""


@dataclass
class Summary:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    rejected: int = 0
    suppressed: int = 0
    rejected_by_reason: Counter = field(default_factory=Counter)
    warnings_by_reason: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in self.__dict__.items() if not isinstance(value, Counter)}
        data["rejected_by_reason"] = dict(self.rejected_by_reason)
        data["warnings_by_reason"] = dict(self.warnings_by_reason)
        return data


def file_sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def run_import(record: Import, content: bytes, *, progress: Progress | None = None) -> Summary:
    """Import ``content`` as ``record`` says (mapping, default region, consent source, sheet).

    Raises ImportRefusedError (or UnreadableFileError / MappingError, both ValueErrors with a
    sentence) when the file as a whole cannot be imported; nothing is written then.
    """
    report = progress or (lambda stage, done, total: None)
    options = record.options or {}
    table = read_table(content, sheet=options.get("sheet"))
    mapping = columns.resolve(table.headers, options.get("mapping"))
    attestation = (options.get("consent_source") or "").strip()
    if "consent" not in mapping and not attestation:
        raise ImportRefusedError(_(
            "The file has no consent column. Add one (Согласие: да/нет), or confirm that everyone in "
            "the file opted in and say how (for example “website form, checkbox text v3”)."
        ))
    frame = table.frame
    total = len(frame)
    summary = Summary(read=total)
    rows = _Rows(frame, mapping, table.headers, record, attestation)
    seen: set[str] = set()  # numbers of earlier chunks: a repeat there is a duplicate, not an update
    issues: list[dict[str, Any]] = []
    with _PhoneReader(frame[mapping["phone"]].tolist(), options.get("default_region", "RU")) as numbers:
        geocoder = Geocoder()
        report("checking", 0, total)
        # While worker processes parse the phones of later chunks, this one checks and saves.
        for offset, chunk in numbers.chunks():
            merged: dict[str, dict[str, Any]] = {}
            for index, number in enumerate(chunk, offset):
                contact = _checked(rows, index, number, issues)
                if contact is None:
                    continue
                earlier = merged.get(contact["phone"])
                if earlier is None:
                    merged[contact["phone"]] = contact
                else:
                    _merge(earlier, contact)
                if earlier is not None or contact["phone"] in seen:
                    summary.duplicates += 1
            for contact in merged.values():
                issues.extend(rows.issue(contact["consent_row"] - 2, IssueKind.WARNING, code, detail)
                              for code, detail in geocoder.place(contact))
            outcome = upsert_contacts(list(merged.values()), seen)
            for name in ("created", "updated", "unchanged", "suppressed"):
                setattr(summary, name, getattr(summary, name) + outcome[name])
            seen.update(merged)
            report("checking", offset + len(chunk), total)
    for issue in issues:
        counter = summary.rejected_by_reason if issue["kind"] is IssueKind.REJECTED else summary.warnings_by_reason
        counter[issue["reason"]] += 1
    summary.rejected = sum(summary.rejected_by_reason.values())
    report("report", 0, len(issues))
    write_issues(issues)
    return summary


def _checked(rows: _Rows, index: int, number: phones.Number | str, issues: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The contact values of row ``index``, or None when the row is rejected (added to ``issues``)."""
    problem, warnings, contact = (number, [], {}) if isinstance(number, str) else rows.values(index)
    if problem:
        issues.append(rows.issue(index, IssueKind.REJECTED, problem))
        return None
    if number.had_extension:
        warnings.append(("extension_dropped", ""))
    issues.extend(rows.issue(index, IssueKind.WARNING, code, detail) for code, detail in warnings)
    contact.update(phone=number.e164, country=number.country, timezone=number.timezone, phone_region=number.region)
    return contact


class _PhoneReader:
    """Phones parsed in worker processes (both cores) for big files, in this one for small ones."""

    def __init__(self, raws: list[str], region: str):
        self.raw_chunks = [raws[start:start + _CHUNK] for start in range(0, len(raws), _CHUNK)]
        self.region = region
        self.pool: ProcessPoolExecutor | None = None
        self.futures = []

    def __enter__(self) -> _PhoneReader:
        workers = min(os.cpu_count() or 1, len(self.raw_chunks))
        if sum(map(len, self.raw_chunks)) >= PARALLEL_FROM and workers > 1:
            # spawn, not fork: this process holds a database connection no child may share.
            self.pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
            self.futures = [self.pool.submit(phones.normalise_many, chunk, self.region) for chunk in self.raw_chunks]
        return self

    def chunks(self) -> Iterator[tuple[int, list[phones.Number | str]]]:
        """(index of the first row, its numbers) for each chunk, in file order."""
        for position, chunk in enumerate(self.raw_chunks):
            numbers = self.futures[position].result() if self.pool else phones.normalise_many(chunk, self.region)
            yield position * _CHUNK, numbers

    def __exit__(self, *exc_info) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


def _merge(earlier: dict[str, Any], later: dict[str, Any]) -> None:
    """A later row of the same number fills in and overrides, but an empty cell erases nothing."""
    for key, value in later.items():
        if key == "tags":
            earlier["tags"] = tuple(dict.fromkeys(earlier["tags"] + value))
        elif key == "attributes":
            earlier["attributes"].update(value)
        elif key in _FIRST_PROOF:
            continue  # the first row's consent evidence stands
        elif value not in (None, ""):
            earlier[key] = value


_FIRST_PROOF = {"consent_source", "consent_at", "consent_row", "consent_import_id"}


class _Rows:
    """The cells of one file, turned row by row into contact values and report entries."""

    def __init__(self, frame, mapping: dict[str, str], headers: list[str], record: Import, attestation: str):
        self.columns = {name: frame[header].tolist() for name, header in mapping.items()}
        self.attributes = [(header, frame[header].tolist()) for header in columns.attribute_headers(headers, mapping)]
        self.raw_columns = [(header, frame[header].tolist()) for header in headers]
        self.record = record
        self.attestation = attestation[:300]
        self.default_source = attestation[:300] or _("Import of %(file)s", file=record.file_name)[:300]

    def cell(self, name: str, index: int) -> str:
        values = self.columns.get(name)
        return values[index].strip() if values is not None else ""

    def values(self, index: int) -> tuple[str | None, list[tuple[str, str]], dict[str, Any]]:
        """Row ``index`` apart from its phone: the rejection code if any, the warnings, the values."""
        warnings: list[tuple[str, str]] = []
        if "consent" in self.columns:
            answer = cells.consent(self.columns["consent"][index])
            if answer is not True:
                return ("no_opt_in" if answer is False else "consent_unclear"), warnings, {}
        consent_at = self.record.uploaded_at
        consent_date = self.cell("consent_date", index)
        if consent_date:
            parsed = cells.moment(consent_date)
            if parsed is None or parsed > self.record.uploaded_at:
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
        name = " ".join(self.cell("name", index).split())[:200] or None
        attributes = {}
        for header, values in self.attributes:
            value = cells.attribute(values[index])
            if value:
                attributes[header[:100]] = value[:500]
        return None, warnings, {
            "name": name,
            "name_key": name.casefold() if name else None,
            "region": self.cell("region", index)[:120] or None,
            "city": " ".join(self.cell("city", index).split())[:120] or None,
            "country_hint": self.cell("country", index),
            "latitude": latitude,
            "longitude": longitude,
            "language": cells.language(self.cell("language", index)),
            "tags": cells.tags(self.cell("tags", index)),
            "attributes": attributes,
            "consent_source": self.cell("source", index)[:300] or self.default_source,
            "consent_at": consent_at,
            "consent_import_id": self.record.id,
            "consent_row": index + 2,
        }

    def issue(self, index: int, kind: IssueKind, reason: str, detail: str = "") -> dict[str, Any]:
        raw = {header: str(values[index])[:_RAW_CELL] for header, values in self.raw_columns if values[index]}
        return {"import_id": self.record.id, "row": index + 2, "kind": kind, "reason": reason,
                "detail": detail[:300], "raw": raw}
